package noise

import (
	"runtime"
	"testing"
	"time"
)

// The sampler turns CPU time and /proc counters into shares: burning CPU shows as the
// generator's share; on Linux the run-queue and host figures are there and in range.
func TestSampler(t *testing.T) {
	var cpu time.Duration
	fake := func() (time.Duration, bool) { return cpu, true }
	s := Start(fake)
	// Some real work, so that the threads' schedstat counters move, and until the
	// host's /proc/stat counted busy time (its counters move in jiffies: a fast
	// machine can do the work between two ticks), bounded in time.
	busy0, all0, _, _ := readStat()
	x := 0
	for deadline := time.Now().Add(5 * time.Second); ; {
		for i := range 20_000_000 {
			x += i % 7
		}
		if busy, all, _, ok := readStat(); !ok || busy > busy0 && all > all0 || time.Now().After(deadline) {
			break
		}
	}
	_ = x
	cpu = 10 * time.Second // more than the wall time allows: shown as is, not clamped
	n := s.Interval()
	if n.WallSeconds <= 0 || n.CPUs != runtime.NumCPU() || n.GeneratorCPUShare <= 0 {
		t.Fatalf("noise %+v: want wall time, CPUs and a CPU share", n)
	}
	want := 10 / (n.WallSeconds * float64(n.CPUs))
	if d := n.GeneratorCPUShare - want; d > want*0.1 || d < -want*0.1 { // the wall time is rounded to the ms
		t.Errorf("CPU share %v, want %v (10 s over %v s x %d CPUs)", n.GeneratorCPUShare, want, n.WallSeconds, n.CPUs)
	}
	if runtime.GOOS != "linux" {
		return
	}
	for name, p := range map[string]*float64{"run-queue wait share": n.RunQueueWaitShare, "run-queue wait": n.RunQueueWaitSeconds,
		"host busy": n.HostBusyShare, "steal": n.StealShare} {
		if p == nil || *p < 0 || (name != "run-queue wait" && *p > 1) {
			t.Errorf("%s = %v: want a figure in range", name, p)
		}
	}
	if n.HostBusyShare != nil && *n.HostBusyShare == 0 {
		t.Errorf("host busy 0 while this test burned CPU")
	}
	// Total covers the intervals.
	cpu = 20 * time.Second
	if tot := s.Total(); tot.WallSeconds < n.WallSeconds {
		t.Errorf("total %v s shorter than the interval's %v s", tot.WallSeconds, n.WallSeconds)
	}
}

func TestReadStat(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/stat is Linux's")
	}
	busy, all, steal, ok := readStat()
	if !ok || all == 0 || busy > all || steal > all {
		t.Errorf("readStat = %d, %d, %d, %v", busy, all, steal, ok)
	}
	run, wait, slices, ok := readSchedstat()
	if !ok || run <= 0 || wait < 0 || slices <= 0 {
		t.Errorf("readSchedstat = %d, %d, %d, %v", run, wait, slices, ok)
	}
}
