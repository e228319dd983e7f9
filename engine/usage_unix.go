//go:build unix

package engine

import (
	"runtime"
	"syscall"
)

// haveUsage: readUsage reads the system's figures here.
const haveUsage = true

// usage is the process's own resource use, for the report's generator section.
type usage struct {
	cpu    float64 // user + system CPU seconds
	maxRSS uint64  // peak resident set, bytes
}

// readUsage reads getrusage(RUSAGE_SELF); zero when it fails. Safe for concurrent use.
func readUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	sec := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	rss := uint64(ru.Maxrss)
	if runtime.GOOS != "darwin" && runtime.GOOS != "ios" {
		rss *= 1024 // Linux and the BSDs report KiB; Darwin bytes
	}
	return usage{cpu: sec(ru.Utime) + sec(ru.Stime), maxRSS: rss}
}
