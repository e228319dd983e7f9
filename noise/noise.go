// Package noise samples what the machine does to the generator while it measures:
// its own CPU time, the time its threads wait in the run queue for a CPU
// (/proc/self/task/*/schedstat), and the host's busy and stolen CPU (/proc/stat).
// report.Noise holds the figures; report.Saturation judges them. Where /proc is
// missing (not Linux) only the CPU share is given.
package noise

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
)

// snapshot is the counters at one moment.
type snapshot struct {
	at       time.Time
	cpu      time.Duration // process CPU
	run      int64         // ns on CPU, all threads (schedstat)
	wait     int64         // ns runnable but waiting, all threads (schedstat)
	slices   int64         // timeslices run, all threads (schedstat)
	sched    bool          // run, wait read
	hostBusy uint64        // jiffies, all CPUs
	hostAll  uint64
	steal    uint64
	host     bool
}

// Sampler computes report.Noise between snapshots. Its methods are safe for
// concurrent use.
type Sampler struct {
	cpuTime func() (time.Duration, bool)
	mu      sync.Mutex
	first   snapshot
	last    snapshot
}

// Start takes the first snapshot; cpuTime is the process's CPU time so far (as
// engine.ProcessCPU).
func Start(cpuTime func() (time.Duration, bool)) *Sampler {
	s := &Sampler{cpuTime: cpuTime}
	s.first = s.take()
	s.last = s.first
	return s
}

func (s *Sampler) take() snapshot {
	sn := snapshot{at: time.Now()}
	sn.cpu, _ = s.cpuTime()
	sn.run, sn.wait, sn.slices, sn.sched = readSchedstat()
	sn.hostBusy, sn.hostAll, sn.steal, sn.host = readStat()
	return sn
}

// Interval returns the noise since the previous Interval call (or Start) and starts
// the next interval.
func (s *Sampler) Interval() *report.Noise {
	now := s.take()
	s.mu.Lock()
	prev := s.last
	s.last = now
	s.mu.Unlock()
	return between(prev, now)
}

// Total returns the noise since Start.
func (s *Sampler) Total() *report.Noise {
	now := s.take()
	s.mu.Lock()
	first := s.first
	s.mu.Unlock()
	return between(first, now)
}

// between is the noise from a to b.
func between(a, b snapshot) *report.Noise {
	wall := b.at.Sub(a.at).Seconds()
	cpus := runtime.NumCPU()
	n := &report.Noise{WallSeconds: round(wall, 3), CPUs: cpus}
	if wall > 0 {
		n.GeneratorCPUShare = round((b.cpu-a.cpu).Seconds()/(wall*float64(cpus)), 4)
	}
	if a.sched && b.sched && b.run >= a.run && b.wait >= a.wait {
		run, wait := float64(b.run-a.run)/1e9, float64(b.wait-a.wait)/1e9
		w := round(wait, 4)
		n.RunQueueWaitSeconds = &w
		share := 0.0
		if run+wait > 0 {
			share = round(wait/(run+wait), 4)
		}
		n.RunQueueWaitShare = &share
		if sl := b.slices - a.slices; sl > 0 {
			per := round(float64(b.wait-a.wait)/float64(sl)/1e3, 1)
			n.RunQueueWaitPerSliceUS = &per
		}
	}
	if a.host && b.host && b.hostAll > a.hostAll {
		all := float64(b.hostAll - a.hostAll)
		busy := round(float64(b.hostBusy-a.hostBusy)/all, 4)
		steal := round(float64(b.steal-a.steal)/all, 4)
		n.HostBusyShare, n.StealShare = &busy, &steal
	}
	return n
}

func round(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}

// readSchedstat sums the run and wait times of the process's threads. Threads that
// exited between two reads drop out of the sum, which then goes down: between
// ignores such a pair.
func readSchedstat() (run, wait, slices int64, ok bool) {
	tasks, err := filepath.Glob("/proc/self/task/*/schedstat")
	if err != nil || len(tasks) == 0 {
		return 0, 0, 0, false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			return 0, 0, 0, false
		}
		r, err1 := strconv.ParseInt(f[0], 10, 64)
		w, err2 := strconv.ParseInt(f[1], 10, 64)
		n, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return 0, 0, 0, false
		}
		run += r
		wait += w
		slices += n
		ok = true
	}
	return run, wait, slices, ok
}

// readStat reads the aggregate "cpu" line of /proc/stat: user nice system idle iowait
// irq softirq steal (guest time is included in user).
func readStat() (busy, all, steal uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, false
	}
	var v [8]uint64
	for i := range v {
		x, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		v[i] = x
	}
	for _, x := range v {
		all += x
	}
	idle := v[3] + v[4]
	steal = v[7]
	return all - idle - steal, all, steal, true
}
