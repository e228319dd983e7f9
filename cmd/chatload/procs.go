package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/chatload/chatload/engine"
)

// Sizing GOMAXPROCS to the load (`chatload run --procs`, 0 = auto, the default).
//
// Why: with more Ps than busy goroutines, every goroutine that becomes
// runnable (a response read, a pacer tick) makes Go's scheduler wake a spare
// thread to look for more work, which finds none and sleeps again. For a load
// generator that is idle between small bursts of I/O this hand-off costs more
// CPU than the work: on the 2-vCPU VM, the message scenario at 4,000 MESSAGEs/s
// used 51 us of CPU per MESSAGE with GOMAXPROCS=2 and 33 us with 1
// (docs/performance.md). Auto starts with one P and adds Ps (doubling, up to
// the GOMAXPROCS the process started with) as soon as the process uses more
// than procsUp of the cores it has, and gives one back after procsDownAfter
// samples in a row below procsDown of one fewer: a busy run (thousands of
// users logging on, TLS, fan-out copies) gets every core within a sample
// period, a light one stops paying for idle ones. The embedded server runs in a
// process of its own (embedded.go): the CPU sampled is the generator's alone, and
// one P serves the pacer without a server's goroutines queued beside it. (In the
// in-process fallback the server's CPU counts too, and auto adds Ps for it.)
const (
	procsSample    = 250 * time.Millisecond
	procsUp        = 0.7
	procsDown      = 0.6
	procsDownAfter = 4
)

// procsMu lets one controller at a time own GOMAXPROCS (runs in one process,
// as the CLI tests do, would fight over it): a run that finds it taken leaves
// GOMAXPROCS alone.
var procsMu sync.Mutex

// procsCtl is a running controller, or a pinned setting (no goroutine).
type procsCtl struct {
	auto     bool
	owned    bool
	max      int // auto: the ceiling; pinned: the value
	restore  int
	stop     chan struct{}
	done     chan struct{}
	low, top int // auto: the range used, read after done
}

// startProcs applies --procs n: 0 sizes GOMAXPROCS to the load (see above)
// unless the environment sets GOMAXPROCS, which then stays as it is; n > 0
// pins it. stopProcs must follow.
func startProcs(n int, env func(string) string) *procsCtl {
	c := &procsCtl{restore: runtime.GOMAXPROCS(0)}
	if n == 0 && env("GOMAXPROCS") != "" {
		c.max = c.restore
		return c
	}
	if _, measurable := engine.ProcessCPU(); (n == 0 && !measurable) || !procsMu.TryLock() {
		// Auto with no CPU figures to size it by on this system, or another run
		// owns GOMAXPROCS.
		c.max = c.restore
		return c
	}
	c.owned = true
	if n > 0 {
		c.max = n
		runtime.GOMAXPROCS(n)
		return c
	}
	c.auto, c.max = true, c.restore
	c.low, c.top = 1, 1
	runtime.GOMAXPROCS(1)
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.run()
	return c
}

func (c *procsCtl) run() {
	defer close(c.done)
	t := time.NewTicker(procsSample)
	defer t.Stop()
	cur, below := 1, 0
	prevCPU, _ := engine.ProcessCPU()
	prevAt := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			cpu, _ := engine.ProcessCPU()
			util := (cpu - prevCPU).Seconds() / now.Sub(prevAt).Seconds() // cores busy
			prevCPU, prevAt = cpu, now
			var next int
			next, below = procsNext(cur, c.max, util, below)
			if next != cur {
				cur = next
				runtime.GOMAXPROCS(cur)
				c.low, c.top = min(c.low, cur), max(c.top, cur)
			}
		}
	}
}

// procsNext is the controller's decision after a sample: cur Ps in use, at
// most maxP, util cores busy over the sample, below samples in a row that
// were low enough to give a P back. It returns the Ps to use and the new
// count. It is a pure function.
func procsNext(cur, maxP int, util float64, below int) (int, int) {
	switch {
	case cur < maxP && util > procsUp*float64(cur):
		return min(maxP, 2*cur), 0
	case cur > 1 && util < procsDown*float64(cur-1):
		if below+1 >= procsDownAfter {
			return cur - 1, 0
		}
		return cur, below + 1
	}
	return cur, 0
}

// stopProcs ends the controller, restores GOMAXPROCS and describes what was
// used for the report's generator note ("" when it was left alone).
func (c *procsCtl) stopProcs() string {
	if !c.owned {
		return ""
	}
	defer procsMu.Unlock()
	defer runtime.GOMAXPROCS(c.restore)
	if !c.auto {
		return fmt.Sprintf("GOMAXPROCS %d (--procs)", c.max)
	}
	close(c.stop)
	<-c.done
	if c.low == c.top {
		return fmt.Sprintf("GOMAXPROCS %d (auto, up to %d)", c.low, c.max)
	}
	return fmt.Sprintf("GOMAXPROCS %d to %d (auto, up to %d)", c.low, c.top, c.max)
}
