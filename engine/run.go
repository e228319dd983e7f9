package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// RunConfig is what Run needs besides the driver. Run only reads it (and what it
// points to), so one RunConfig may serve several runs, even at once.
type RunConfig struct {
	// Scenario is the validated configuration; it is echoed into the report.
	Scenario scenarios.Config
	// Users is the population; the plan (scenarios.Assign) picks who takes part.
	Users []User
	// RunID identifies the run in the report and in every posted body, so that copies
	// from another run (or an old history replay) are told apart. Characters other
	// than letters, digits, '.', '_' and '-' are replaced by '_' in bodies; empty means
	// a random one.
	RunID string
	// Progress, when set, is called about once per second from one engine goroutine
	// (never concurrently with itself); it must not block.
	Progress func(Progress)
	// Interval is the reporting interval (0: DefaultInterval; at least MinInterval).
	// Intervals are aligned to the run's start: interval k covers [start + k*Interval,
	// start + (k+1)*Interval); the last one ends with the run. The report's Intervals
	// hold them all, and its totals are exactly their merge.
	Interval time.Duration
	// OnInterval, when set, is called with each interval as it closes, in order,
	// never concurrently with itself (from the engine's reporting goroutine, the last
	// one from Run's). It may block briefly (writing a checkpoint line and fsyncing
	// it): meanwhile progress calls wait, recording does not. It may keep iv.
	OnInterval func(iv report.Interval)
	// Aborted, when set, is asked once ctx was canceled: when it reports true, the
	// run's EndReason is "aborted" instead of "interrupted" (a threshold with abort
	// stopped the run). It is called from Run's goroutine.
	Aborted func() bool
	// BeforeSteady, when set, is called once setup succeeded, before the steady
	// phase starts, from Run's goroutine; it may block until ctx is done (a mixed
	// run starts its workloads' steady phases together). When ctx is done on its
	// return the run ends as interrupted.
	BeforeSteady func(ctx context.Context)
}

// Progress is a snapshot of a running run, for a live progress line. It is a plain
// value, handed over by copy: the receiver may keep it and use it from any goroutine.
type Progress struct {
	Elapsed      time.Duration // since Run started
	TargetRate   float64       // scheduled ops per second now (open model, steady phase)
	AchievedRate float64       // ops started per second over the last interval
	InFlight     int64         // ops started and not finished
	P99          time.Duration // so far: delivery latency when the scenario posts to rooms, else the scenario unit's
	Errors       uint64        // failed operations so far
	Dropped      uint64        // ops not started because the in-flight cap was reached
	Delivered    uint64
	Lost         uint64
	Phase        string // setup|steady|drain|teardown
	// Setup: users whose log on (and joins) finished, of those to log on.
	SetupDone, SetupTotal int64
	// Steady is the time spent in the steady phase so far (0 before it).
	Steady time.Duration
}

// ErrSetup is wrapped by the error Run returns when setup left nothing to run
// (nobody could log on, no pair could join): the CLI's exit status 1. Test with
// errors.Is; it is never modified (safe for concurrent use).
var ErrSetup = errors.New("setup failed")

// The phases of a run, as Progress.Phase names them (constants, safe for concurrent
// use).
const (
	PhaseSetup    = "setup"
	PhaseSteady   = "steady"
	PhaseDrain    = "drain"
	PhaseTeardown = "teardown"
)

// The end reasons of a run (report.Report.EndReason) that Run produces (constants,
// safe for concurrent use): completed, interrupted (ctx canceled: what was measured
// until then), aborted (ctx canceled and RunConfig.Aborted said so), error (setup
// left nothing to run).
const (
	EndCompleted   = "completed"
	EndInterrupted = "interrupted"
	EndAborted     = "aborted"
	EndError       = "error"
)

const (
	// teardownTimeout bounds leaving and logging off at the end, whatever happened,
	// with teardownPerOp more per leave and log-off to do (teardownBound): at least
	// 500 a second, against a server that answers each within milliseconds.
	teardownTimeout = 10 * time.Second
	teardownPerOp   = 2 * time.Millisecond
	// interruptDrain bounds the drain after ctx was canceled: in-flight ops get a
	// short chance to finish, the user asked to stop.
	interruptDrain = 2 * time.Second
	// drainPoll is how often the drain looks whether anything is still outstanding.
	drainPoll = 10 * time.Millisecond
	// sweepEvery is how often the sweeper expires deliveries past their deadline.
	// A copy is delivered iff it arrives by its deadline whatever the sweep period
	// (deliver checks the deadline itself); the period only bounds how long a lost
	// copy waits to be counted.
	sweepEvery = 100 * time.Millisecond
	// opStop bounds the wait for ops still running after their context was canceled
	// at the end of the drain (a driver that ignores its context).
	opStop = 10 * time.Second
	// maxLanes bounds the recorders ops write to.
	maxLanes = 64
)

// lane is a recorder shared by the ops that hash to it, behind its own mutex. Ops run
// on goroutines of their own (see dispatch), so recorders cannot be owned by a
// goroutine; a few lanes per core keep contention negligible, while one recorder per
// in-flight op would cost up to 10k x the histograms (~144 KiB each).
type lane struct {
	mu    sync.Mutex
	rec   *report.Recorder
	spare *report.Recorder // swapped with rec at each interval (monitor.swap); the monitor's only
	_     [40]byte         // keep neighbouring lanes' locks off one cache line
}

// record is Recorder.Record under the lane's lock.
func (l *lane) record(op report.Op, latency, service time.Duration, err error) {
	l.mu.Lock()
	l.rec.Record(op, latency, service, err)
	l.mu.Unlock()
}

// job is one op handed to a worker: its number, its intended start and, for
// scenarios that take a pair or a user for the op's duration, that slot.
type job struct {
	i        int64
	intended time.Time
	slot     int32
}

// runner is one Run. Fields set during setup are read-only afterwards; the live
// counters are atomics read by the progress goroutine.
type runner struct {
	d     Driver
	cfg   RunConfig
	c     scenarios.Config
	runID string // as used in bodies
	tr    *tracker
	lanes []lane
	pacer lane  // the pacer's drops; dropped is counted under its lock too
	limit int64 // in-flight cap
	vus   int   // closed model: this segment's virtual users
	iters int64 // closed model: this segment's iterations (0 = no limit)

	// What setup produced (see setup.go).
	sess      []Session          // by user index; nil = not logged on
	joined    [][]string         // by user index: rooms joined
	rost      map[string]*roster // by room: its joined members (roster), made after the log-ons
	posters   []poster
	cycles    []cyclePair
	churns    []churnSlot
	logins    []int32
	histRooms []*historyRoom
	histSlots []historySlot
	slots     chan int32 // free slots (pairs, users) when the scenario's op holds one
	op        func(ctx context.Context, l *lane, j job)
	// inline, when set, starts an open-model op on the pacer's goroutine
	// without waiting for it (startPost: every poster is an AsyncSender); the op
	// ends itself (inflight, wg).
	inline func(ctx context.Context, j job)
	// batcher is the driver's Flush, called by the pacer after each wake-up's
	// starts when inline is set and the driver has one.
	batcher Batcher
	headOp  report.Op // the op whose p99 progress shows; set before progress starts

	started  atomic.Uint64 // ops started
	dropped  atomic.Uint64
	errs     atomic.Uint64 // failed operations
	accepted atomic.Uint64 // posts the server accepted
	inflight atomic.Int64
	peak     atomic.Int64
	ivPeak   atomic.Int64 // peak in flight in the current interval
	goPeak   atomic.Int64
	phase    atomic.Pointer[string]
	steadyAt atomic.Int64 // steady start, 1 + ns after runStart (0 = not yet)
	// Setup progress: users to log on, and those done (either way).
	setupTotal, setupDone atomic.Int64
	signIn                signInWave   // when sign-ins started (setup.go)
	steadyTo              atomic.Int64 // steady end, 1 + ns after runStart (0 = not yet)
	sched                 scenarios.Schedule
	open                  bool
	wg                    sync.WaitGroup // op goroutines (open model) and virtual users (closed)

	runStart               time.Time
	steadyStart, steadyEnd time.Time
	interrupted            bool
	notes                  []string
}

// Run executes a scenario: setup (log on, join; bounded parallelism, LogonRate) ->
// steady (pacer) -> drain (wait for deliveries up to DeliveryTimeout) -> teardown
// (leave, log off; fresh short context). ctx canceled = graceful stop: the report of
// what was measured is still returned with EndReason "interrupted". When setup leaves
// nothing to run, Run returns the report (EndReason "error") and an error wrapping
// ErrSetup. Run is safe for concurrent use (runs share nothing but d).
func Run(ctx context.Context, d Driver, cfg RunConfig) (*report.Report, error) {
	c := withDefaults(cfg.Scenario)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	every := cfg.Interval
	switch {
	case every == 0:
		every = DefaultInterval
	case every < MinInterval:
		return nil, fmt.Errorf("interval %v: want at least %v", every, MinInterval)
	}
	r := &runner{d: d, cfg: cfg, c: c, runStart: time.Now(), open: c.Model() == "open"}
	if r.open {
		s, err := scenarios.NewSchedule(c)
		if err != nil {
			return nil, err
		}
		r.sched = s
	}
	r.runID = bodyRunID(cfg.RunID)
	if cfg.RunID == "" {
		r.cfg.RunID = r.runID
	}
	r.limit = int64(c.MaxInFlight)
	if r.limit <= 0 {
		r.limit = int64(c.Concurrency)
	}
	if r.limit <= 0 {
		r.limit = 10000
	}
	// By CPUs, not GOMAXPROCS: the CLI may start a run with one P and add more.
	r.lanes = make([]lane, min(maxLanes, max(4, 2*runtime.NumCPU())))
	for i := range r.lanes {
		r.lanes[i].rec = report.NewRecorder()
	}
	r.pacer.rec = report.NewRecorder()
	r.vus = int(c.Segment.Share(int64(max(1, c.Concurrency))))
	r.iters = c.Segment.Share(c.Iterations)
	r.headOp = headOp(c, cfg.Users)
	r.tr = newTracker(r.runID, cfg.Users, c.MessageSize, c.DeliveryTimeout)
	cpu0 := readUsage()

	// Background helpers live until the end of Run.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bgWG sync.WaitGroup
	defer func() { stopBG(); bgWG.Wait() }()
	r.setPhase(PhaseSetup)
	// The reporting goroutine (intervals, progress) stops after teardown, before the
	// last interval is closed here.
	mon := newMonitor(r, every, cpu0.cpu)
	monCtx, stopMon := context.WithCancel(context.WithoutCancel(ctx))
	var monWG sync.WaitGroup
	monWG.Go(func() { mon.loop(monCtx) })
	defer func() { stopMon(); monWG.Wait() }()

	// Ops get a context of their own: canceling ctx stops the pacer, and the ops in
	// flight get the drain to finish before opCtx is canceled.
	opCtx, cancelOps := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelOps()

	setupErr := r.setup(ctx)
	if setupErr == nil && ctx.Err() == nil && cfg.BeforeSteady != nil {
		cfg.BeforeSteady(ctx)
	}
	if ctx.Err() != nil {
		r.interrupted = true
	}
	end := EndCompleted
	switch {
	case setupErr != nil:
		end = EndError
	case r.interrupted:
	default:
		bgWG.Go(func() { r.sweeper(bg) })
		r.setPhase(PhaseSteady)
		if r.open {
			r.pace(ctx, opCtx)
		} else {
			r.loop(ctx, opCtx)
		}
		r.interrupted = r.interrupted || ctx.Err() != nil
		r.sampleGoroutines()
		r.setPhase(PhaseDrain)
		r.drain(ctx)
	}
	cancelOps()
	r.waitOps()
	r.tr.finish(time.Now(), r.interrupted)
	r.setPhase(PhaseTeardown)
	r.teardown(ctx)
	if r.interrupted {
		end = EndInterrupted
		if cfg.Aborted != nil && cfg.Aborted() {
			end = EndAborted
		}
	}
	stopMon()
	monWG.Wait()
	ended := time.Now()
	mon.closeDue(ended)
	mon.close(ended)
	return r.report(end, cpu0, mon, ended), setupErr
}

// withDefaults fills settings a hand-built Config may leave zero with the defaults
// of scenarios.Default, so that a zero DeliveryTimeout does not mean "all lost".
func withDefaults(c scenarios.Config) scenarios.Config {
	d, err := scenarios.Default(c.Scenario)
	if err != nil {
		return c // Validate names the scenario
	}
	if c.MessageSize <= 0 {
		c.MessageSize = d.MessageSize
	}
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = d.DeliveryTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.LogonParallel <= 0 {
		c.LogonParallel = d.LogonParallel
	}
	return c
}

// bodyRunID makes id usable as one word of a body and of a Call-ID.
func bodyRunID(id string) string {
	if id == "" {
		return newID()
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, id)
}

func (r *runner) setPhase(p string) { r.phase.Store(&p) }

// lane returns the lane of op number i.
func (r *runner) lane(i int64) *lane { return &r.lanes[uint64(i)%uint64(len(r.lanes))] }

// record records one operation's result in l and counts failures for progress.
func (r *runner) record(l *lane, op report.Op, latency, service time.Duration, err error) {
	if err != nil {
		r.errs.Add(1)
	}
	l.record(op, latency, service, err)
}

// notePeak raises the in-flight high-water marks (the run's, the interval's) to n.
func (r *runner) notePeak(n int64) {
	raise(&r.peak, n)
	raise(&r.ivPeak, n)
}

func raise(a *atomic.Int64, n int64) {
	for {
		p := a.Load()
		if n <= p || a.CompareAndSwap(p, n) {
			return
		}
	}
}

func (r *runner) sampleGoroutines() {
	n := int64(runtime.NumGoroutine())
	for {
		p := r.goPeak.Load()
		if n <= p || r.goPeak.CompareAndSwap(p, n) {
			return
		}
	}
}

// markSteady starts the steady phase's clock.
func (r *runner) markSteady(t time.Time) {
	r.steadyStart = t
	r.steadyAt.Store(1 + int64(t.Sub(r.runStart)))
}

// markSteadyEnd stops it.
func (r *runner) markSteadyEnd(t time.Time) {
	r.steadyEnd = t
	r.steadyTo.Store(1 + int64(t.Sub(r.runStart)))
}

// steadyOffset is when the steady phase started, after runStart; ok is false before.
// Safe for concurrent use.
func (r *runner) steadyOffset() (time.Duration, bool) {
	at := r.steadyAt.Load()
	return time.Duration(at - 1), at > 0
}

// steadyEndOffset is when the steady phase ended, after runStart; ok is false before.
func (r *runner) steadyEndOffset() (time.Duration, bool) {
	at := r.steadyTo.Load()
	return time.Duration(at - 1), at > 0
}

// sweeper expires deliveries past their deadline until ctx is done.
func (r *runner) sweeper(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.tr.sweep(now)
		}
	}
}

// drain waits until no op is in flight and no copy is awaited, at most until the
// last possible deadline (DeliveryTimeout after the steady phase), or briefly after
// an interrupt.
func (r *runner) drain(ctx context.Context) {
	start := time.Now()
	limit := r.c.DeliveryTimeout
	if r.interrupted {
		limit = min(limit, interruptDrain)
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	stop := ctx.Done()
	for {
		now := time.Now()
		r.tr.sweep(now)
		if r.inflight.Load() == 0 && r.tr.outstanding() == 0 {
			return
		}
		if now.Sub(start) >= limit {
			return
		}
		select {
		case <-t.C:
		case <-stop:
			stop = nil
			if !r.interrupted {
				// Interrupted while draining: shorten what is left.
				r.interrupted = true
				limit = min(limit, now.Sub(start)+interruptDrain)
			}
		}
	}
}

// waitOps waits for op goroutines after their context was canceled, bounded in case
// a driver ignores its context (those ops are then noted, not waited for).
func (r *runner) waitOps() {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	t := time.NewTimer(opStop)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.notes = append(r.notes, fmt.Sprintf("%d ops still running %v after the end of the drain (a driver ignoring its context)", r.inflight.Load(), opStop))
	}
}

// report builds the JSON report from the run's totals (the merge of its intervals,
// the last one closed) and its intervals. It is called once mon's goroutine ended.
func (r *runner) report(end string, cpu0 usage, mon *monitor, ended time.Time) *report.Report {
	m := mon.total
	tc := mon.prev.tc

	c := r.c
	scenario, err := json.Marshal(c)
	if err != nil {
		scenario = []byte("null")
	}
	rep := &report.Report{
		SchemaVersion: 1,
		Tool:          report.Tool{Name: "chatload"},
		RunID:         r.cfg.RunID,
		Scenario:      scenario,
		Target:        report.Target{Address: c.Target, Protocol: c.Protocol, Transport: c.Transport, Embedded: c.Target == ""},
		StartedAt:     r.runStart,
		EndedAt:       ended,
		EndReason:     end,
		Operations:    m.Operations(),
		Failures:      m.Failures(),
		Intervals:     mon.rows,
		Messages: report.Messages{
			Sent:               tc.posted,
			Accepted:           mon.prev.accepted,
			ExpectedDeliveries: tc.delivered + tc.lost,
			Delivered:          tc.delivered,
			Lost:               tc.lost,
			Duplicated:         tc.duplicated,
			OutOfOrder:         tc.outOfOrder,
			Corrupted:          tc.corrupted,
		},
	}
	rep.Load = report.Load{Model: c.Model(), Dropped: r.dropped.Load(), SignIn: r.signIn.figures(float64(c.LogonRate))}
	if el := r.steadyEnd.Sub(r.steadyStart).Seconds(); !r.steadyStart.IsZero() && el > 0 {
		rep.Load.AchievedRate = float64(r.started.Load()) / el
		switch {
		case r.open && r.sched.End() == 0 && len(c.Ramp) == 0:
			// Iterations at a fixed rate: the phase ends with the last op, not a
			// whole interval after it, so the count over the time would overstate it.
			rep.Load.TargetRate = float64(r.sched.RateAt(0)) // a segment's share
		case r.open && !r.interrupted && r.sched.End() > 0:
			// The schedule's own mean rate over its length, counted from the schedule
			// and not from what the pacer did, so that a pacer starting too few ops
			// shows as achieved < target.
			rep.Load.TargetRate = float64(r.dueBefore(r.sched.End())) / r.sched.End().Seconds()
		case r.open:
			// Interrupted: the ops scheduled over the part that ran.
			rep.Load.TargetRate = float64(r.dueBefore(r.steadyEnd.Sub(r.steadyStart))) / el
		}
	}
	u := readUsage()
	notes := r.notes
	if tc.late > 0 {
		notes = append(notes, fmt.Sprintf("%d copies arrived after their delivery deadline (counted lost, not delivered)", tc.late))
	}
	if tc.stray > 0 {
		notes = append(notes, fmt.Sprintf("%d copies ignored: not this run's, or not expected by their receiver", tc.stray))
	}
	if tc.withdrawn > 0 {
		notes = append(notes, fmt.Sprintf("%d expected copies withdrawn: their post failed", tc.withdrawn))
	}
	if tc.abandoned > 0 {
		notes = append(notes, fmt.Sprintf("%d copies still awaited at the interrupt, within their deadline: not counted", tc.abandoned))
	}
	rep.Generator = report.Generator{
		CPUSeconds:       mon.prev.cpu - cpu0.cpu, // as of the last interval's close: their sum
		MaxRSSBytes:      u.maxRSS,
		ScheduleLagP99US: float64(m.LagAtPercentile(99)) / 1e3,
		Dropped:          r.dropped.Load(),
		Overflow:         m.Overflow(),
		Goroutines:       int(r.goPeak.Load()),
		Workers:          int(r.peak.Load()),
		Note:             strings.Join(notes, "; "),
	}
	return rep
}
