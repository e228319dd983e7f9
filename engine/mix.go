package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// Workload is one named part of a mixed run: a scenario with its own load model,
// users and rooms (Run: its users are its slice of the population, its rooms its
// own), started Start after the mixed run starts. Run's RunID, Progress,
// Interval, OnInterval and Aborted are the mix's (MixConfig). A plain value.
type Workload struct {
	Name  string
	Start time.Duration
	Run   RunConfig
}

// MixConfig is what RunMix needs besides the driver. RunMix only reads it.
type MixConfig struct {
	// RunID identifies the mixed run; each workload's is RunID-name. "" = random.
	RunID     string
	Workloads []Workload
	// Interval is the reporting interval of every workload and of the mix (0:
	// DefaultInterval). The mix's interval k covers [start + k*Interval, start +
	// (k+1)*Interval) from RunMix's start; a workload's intervals fall on that grid
	// (rounded: a workload starting Start after the mix has its own grid from then).
	Interval time.Duration
	// Progress, when set, is called about once per second with the mix's progress:
	// the workloads' counts and rates summed, their setup progress summed, the
	// worst p99, the earliest phase of the running workloads. Never concurrently
	// with itself; it must not block.
	Progress func(Progress)
	// OnInterval, when set, is called with each of the mix's intervals as it
	// closes (report.MergeWorkloadIntervals of the workloads' intervals of that
	// part of the run, once every workload that can have one closed it), in order,
	// never concurrently with itself. It may block briefly (a checkpoint's fsync).
	OnInterval func(iv report.Interval)
	// OnWorkloadInterval, when set, is called with each workload's own intervals as
	// they close (a workload's thresholds judged live), never concurrently with
	// itself nor with OnInterval.
	OnWorkloadInterval func(name string, iv report.Interval)
	// Aborted is each workload's RunConfig.Aborted (a threshold with abort stopped
	// the mix).
	Aborted func() bool
}

// RunMix runs the workloads at the same time, each as Run runs a scenario (its
// own plan, pacer, recorders and tracker; its RunID is the mix's with "-" and its
// name, so that copies of one workload's posts are never taken for another's),
// each starting Start after RunMix is called. It returns the mixed run's report
// (report.Combine: the total, and each workload's own report in Workloads, in the
// order given) and the workloads' setup errors joined, each naming its workload.
// Canceling ctx stops every workload gracefully (a workload not started yet is not
// run and not reported). Rooms must not be shared between workloads. Users may be
// (the same URI in several workloads' Users) when every workload that has them
// keeps its users logged on for the run (scenarios.Uses.Recover): each shared user
// then has one session, member of the rooms of every workload it is in (share.go).
// The workloads that start with the mix (Start 0) start their steady phases
// together, once every one of them is set up (barrier). RunMix is safe for
// concurrent use.
func RunMix(ctx context.Context, d Driver, mc MixConfig) (*report.Report, error) {
	ws := mc.Workloads
	if len(ws) == 0 {
		return nil, errors.New("mixed run: no workloads")
	}
	every := mc.Interval
	switch {
	case every == 0:
		every = DefaultInterval
	case every < MinInterval:
		return nil, fmt.Errorf("interval %v: want at least %v", every, MinInterval)
	}
	seen := map[string]bool{}
	for i, w := range ws {
		switch {
		case w.Name == "":
			return nil, fmt.Errorf("mixed run: workload %d has no name", i+1)
		case seen[w.Name]:
			return nil, fmt.Errorf("mixed run: workload %q twice", w.Name)
		case w.Start < 0:
			return nil, fmt.Errorf("mixed run: workload %q: start %v is negative", w.Name, w.Start)
		}
		seen[w.Name] = true
		c := withDefaults(w.Run.Scenario)
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("workload %s: %w", w.Name, err)
		}
	}
	shared, err := sharedWorkloads(ws)
	if err != nil {
		return nil, err
	}
	runID := bodyRunID(mc.RunID)
	start := time.Now()
	mon := newMixMonitor(mc, start, every)
	var pool *sessionPool
	if len(shared) > 0 {
		pool = newSessionPool(d)
	}
	bar := newBarrier(ws)
	reps := make([]*report.Report, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			defer bar.arrive(i) // a workload whose setup failed does not hold the others
			defer mon.ended(i)
			if w.Start > 0 {
				t := time.NewTimer(w.Start)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					return // stopped before it started
				}
			}
			cfg := w.Run
			cfg.RunID = runID + "-" + w.Name
			cfg.Interval = every
			cfg.Progress = func(p Progress) { mon.progress(i, p) }
			cfg.OnInterval = func(iv report.Interval) { mon.interval(i, iv) }
			cfg.Aborted = mc.Aborted
			if w.Start == 0 {
				cfg.BeforeSteady = func(ctx context.Context) { bar.arrive(i); bar.wait(ctx) }
			}
			drv := d
			if shared[i] {
				drv = poolDriver{pool: pool, prefix: bodyMagic + bodyRunID(cfg.RunID) + " "}
			}
			mon.started(i)
			rep, err := Run(ctx, drv, cfg)
			reps[i] = rep
			if err != nil {
				errs[i] = fmt.Errorf("workload %s: %w", w.Name, err)
			}
		})
	}
	stopTicks := mon.tick(ctx)
	wg.Wait()
	stopTicks()
	var parts []report.Workload
	for i, w := range ws {
		if reps[i] != nil {
			parts = append(parts, report.Workload{Name: w.Name, Report: reps[i]})
		}
	}
	if len(parts) == 0 {
		return nil, errors.Join(append(errs, errors.New("mixed run: no workload ran"))...)
	}
	rep, err := report.Combine(runID, parts)
	if err != nil {
		return nil, err
	}
	return rep, errors.Join(errs...)
}

// sharedWorkloads returns which workloads share users with another (by URI), and
// an error when one of those cannot share: its scenario logs users on and off
// in its operations or uses more than Join, Send and Leave on their sessions.
func sharedWorkloads(ws []Workload) (map[int]bool, error) {
	owner := map[string]int{}
	shared := map[int]bool{}
	for i, w := range ws {
		for _, u := range w.Run.Users {
			j, ok := owner[u.URI]
			switch {
			case !ok:
				owner[u.URI] = i
			case j != i:
				shared[i], shared[j] = true, true
			}
		}
	}
	for i := range shared {
		u, err := scenarios.Lookup(ws[i].Run.Scenario.Scenario)
		if err != nil {
			return nil, fmt.Errorf("workload %s: %w", ws[i].Name, err)
		}
		if !u.Uses().Recover {
			return nil, fmt.Errorf("workload %s: scenario %s cannot share its users with another workload (its users log on and off, or use more than join, post and leave): give it users of its own",
				ws[i].Name, u.Name())
		}
	}
	return shared, nil
}

// mixMonitor gathers the workloads' progress and intervals into the mix's. Its
// methods are safe for concurrent use.
type mixMonitor struct {
	mc    MixConfig
	start time.Time
	every time.Duration

	mu      sync.Mutex
	state   []wlState
	pending map[int64][]report.Interval // mix interval slot -> the workloads' intervals
	next    int64                       // the next slot to emit
	steady  time.Time                   // when the mix's phase first was steady
	steadyD time.Duration               // frozen once past steady
	past    bool
	emitMu  sync.Mutex // OnInterval and OnWorkloadInterval, in order
}

type wlState struct {
	started, done bool
	last          int64 // the highest slot of its intervals so far (-1: none)
	first         int64 // the slot of its first interval, before it started
	p             Progress
	has           bool
}

func newMixMonitor(mc MixConfig, start time.Time, every time.Duration) *mixMonitor {
	m := &mixMonitor{mc: mc, start: start, every: every, pending: map[int64][]report.Interval{}}
	m.state = make([]wlState, len(mc.Workloads))
	for i, w := range mc.Workloads {
		m.state[i] = wlState{last: -1, first: int64(math.Round(float64(w.Start) / float64(every)))}
	}
	return m
}

func (m *mixMonitor) slot(t time.Time) int64 {
	return int64(math.Round(float64(t.Sub(m.start)) / float64(m.every)))
}

func (m *mixMonitor) started(i int) {
	m.mu.Lock()
	m.state[i].started = true
	m.mu.Unlock()
}

func (m *mixMonitor) ended(i int) {
	m.mu.Lock()
	m.state[i].done = true
	m.state[i].p.AchievedRate, m.state[i].p.TargetRate, m.state[i].p.InFlight = 0, 0, 0
	m.mu.Unlock()
	m.emit()
}

func (m *mixMonitor) progress(i int, p Progress) {
	m.mu.Lock()
	m.state[i].p, m.state[i].has = p, true
	m.mu.Unlock()
}

func (m *mixMonitor) interval(i int, iv report.Interval) {
	if m.mc.OnWorkloadInterval != nil {
		m.emitMu.Lock()
		m.mc.OnWorkloadInterval(m.mc.Workloads[i].Name, iv)
		m.emitMu.Unlock()
	}
	k := m.slot(iv.Start)
	m.mu.Lock()
	m.pending[k] = append(m.pending[k], iv)
	m.state[i].last = max(m.state[i].last, k)
	m.mu.Unlock()
	m.emit()
}

// emit merges and hands on, in order, the mix's intervals that every workload
// that can have one has closed.
func (m *mixMonitor) emit() {
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	for {
		m.mu.Lock()
		maxSlot := int64(-1)
		for k := range m.pending {
			maxSlot = max(maxSlot, k)
		}
		var ready []report.Interval
		for ; m.next <= maxSlot; m.next++ {
			k := m.next
			for _, s := range m.state {
				if !s.done && s.last < k && (s.started || s.first <= k) {
					m.mu.Unlock()
					return // a workload may still close one of slot k
				}
			}
			if len(m.pending[k]) > 0 {
				ready = m.pending[k]
				delete(m.pending, k)
				m.next++
				break
			}
		}
		m.mu.Unlock()
		if ready == nil {
			return
		}
		iv, err := report.MergeWorkloadIntervals(ready)
		if err == nil && m.mc.OnInterval != nil {
			m.mc.OnInterval(iv)
		}
	}
}

// tick calls Progress every second until the returned stop is called.
func (m *mixMonitor) tick(ctx context.Context) (stop func()) {
	if m.mc.Progress == nil {
		return func() {}
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case now := <-t.C:
				m.mc.Progress(m.snapshot(now))
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// snapshot is the mix's progress at now.
func (m *mixMonitor) snapshot(now time.Time) Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := Progress{Elapsed: now.Sub(m.start)}
	phase, running, waiting := 99, false, false
	for _, s := range m.state {
		if !s.started && !s.done {
			waiting = true
		}
		if s.started && !s.done {
			running = true
			phase = min(phase, phaseIndex(s.p.Phase)) // setup before its first progress
		}
		if !s.has {
			continue
		}
		p := s.p
		out.TargetRate += p.TargetRate
		out.AchievedRate += p.AchievedRate
		out.InFlight += p.InFlight
		out.P99 = max(out.P99, p.P99)
		out.Errors += p.Errors
		out.Dropped += p.Dropped
		out.Delivered += p.Delivered
		out.Lost += p.Lost
		out.SetupDone += p.SetupDone
		out.SetupTotal += p.SetupTotal
	}
	switch {
	case running:
		out.Phase = phases[phase]
	case waiting:
		out.Phase = PhaseSetup
	default:
		out.Phase = PhaseTeardown
	}
	if out.Phase == PhaseSteady && m.steady.IsZero() {
		m.steady = now
	}
	if !m.steady.IsZero() && !m.past {
		m.steadyD = now.Sub(m.steady)
		m.past = phaseIndex(out.Phase) > phaseIndex(PhaseSteady)
	}
	out.Steady = m.steadyD
	return out
}

var phases = []string{PhaseSetup, PhaseSteady, PhaseDrain, PhaseTeardown}

func phaseIndex(p string) int {
	for i, x := range phases {
		if x == p {
			return i
		}
	}
	return 0 // before its first progress: setting up
}

// barrier starts the steady phases of the workloads that start with the mix
// (Start 0) together, once all of them are set up: a population's sign-in and joins
// come first, then its traffic, as in a capacity test (a workload set up early does
// not post into rooms still filling). A workload whose setup failed arrives too.
type barrier struct {
	mu      sync.Mutex
	waiting map[int]bool
	open    chan struct{}
}

func newBarrier(ws []Workload) *barrier {
	b := &barrier{waiting: map[int]bool{}, open: make(chan struct{})}
	for i, w := range ws {
		if w.Start == 0 {
			b.waiting[i] = true
		}
	}
	if len(b.waiting) == 0 {
		close(b.open)
	}
	return b
}

func (b *barrier) arrive(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.waiting[i] {
		return
	}
	delete(b.waiting, i)
	if len(b.waiting) == 0 {
		close(b.open)
	}
}

func (b *barrier) wait(ctx context.Context) {
	select {
	case <-b.open:
	case <-ctx.Done():
	}
}
