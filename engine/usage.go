package engine

import "time"

// ProcessCPU returns the CPU time (user and system) this process has used so far,
// as the report's generator.cpu_seconds counts it; ok is false on systems where it
// cannot be read (the time is then zero). Safe for concurrent use.
func ProcessCPU() (cpu time.Duration, ok bool) {
	return time.Duration(readUsage().cpu * float64(time.Second)), haveUsage
}

// ProcessMaxRSS returns the peak resident set of this process in bytes, as the
// report's generator.max_rss_bytes counts it; 0 where it cannot be read. Safe for
// concurrent use.
func ProcessMaxRSS() uint64 { return readUsage().maxRSS }
