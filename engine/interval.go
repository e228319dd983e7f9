package engine

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
)

// DefaultInterval is the reporting interval when RunConfig.Interval is 0; MinInterval
// is the shortest Run accepts (every interval merges the recorders and encodes its
// histograms: milliseconds of work). Constants, safe for concurrent use.
const (
	DefaultInterval = 10 * time.Second
	MinInterval     = 100 * time.Millisecond
)

// progressEvery is how often RunConfig.Progress is called.
const progressEvery = time.Second

// tally is the run's cumulative counters at one instant: an interval's counts are the
// difference of two tallies, so nothing is kept per message or per interval.
type tally struct {
	tc                         counts // the tracker's shards
	accepted, started, dropped uint64
	cpu                        float64
}

// monitor is the run's one reporting goroutine. Every interval (aligned to the run's
// start: interval k is [start + k*every, start + (k+1)*every)) it swaps each lane's,
// the pacer's and each tracker shard's recorder for an empty one (a pointer swap
// under the owner's lock, so ops never wait for a merge), merges what they held into
// the interval's recorder, takes the counters' deltas, emits the interval and adds it
// to the run's totals; about once a second it calls Progress. The run's totals are
// therefore exactly the merge of its intervals. Its fields belong to its goroutine
// (loop); Run reads them only after loop has returned (close of the last interval,
// report).
type monitor struct {
	r       *runner
	every   time.Duration
	total   *report.Recorder // the run so far: every closed interval merged
	iv      *report.Recorder // the interval being closed; reset after each
	scratch *report.Recorder // progress's merged view
	k       int64            // index of the next interval to close
	prev    tally            // counters at the end of the last closed interval
	rows    []report.Interval

	lastStarted uint64 // progress: ops started at the last tick
	lastTick    time.Time
}

func newMonitor(r *runner, every time.Duration, cpu0 float64) *monitor {
	return &monitor{
		r: r, every: every,
		total: report.NewRecorder(), iv: report.NewRecorder(),
		scratch:  report.NewRecorder(),
		prev:     tally{cpu: cpu0},
		lastTick: r.runStart,
		rows:     []report.Interval{},
	}
}

// loop closes intervals at their boundaries and calls Progress every second until
// ctx is done. When it falls behind (an OnInterval that blocked), it closes each
// boundary passed in turn, and skips progress ticks rather than bunching them.
func (m *monitor) loop(ctx context.Context) {
	r := m.r
	nextIv := r.runStart.Add(m.every)
	nextTick := r.runStart.Add(progressEvery)
	t := time.NewTimer(time.Until(nextTick))
	defer t.Stop()
	for {
		next := nextTick
		if nextIv.Before(next) {
			next = nextIv
		}
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if !now.Before(nextIv) {
			m.close(nextIv)
			nextIv = nextIv.Add(m.every)
		}
		if !now.Before(nextTick) {
			r.sampleGoroutines()
			if r.cfg.Progress != nil {
				r.cfg.Progress(m.progress(now))
			}
			if nextTick = nextTick.Add(progressEvery); !nextTick.After(now) {
				nextTick = now.Add(progressEvery)
			}
		}
	}
}

// closeDue closes, each at its boundary, the whole intervals that ended by end
// and that loop did not close: it stopped while behind (a late timer on a busy
// machine), and the run's last partial interval must not swallow them.
func (m *monitor) closeDue(end time.Time) {
	for m.every > 0 {
		b := m.r.runStart.Add(time.Duration(m.k+1) * m.every)
		if b.After(end) {
			return
		}
		m.close(b)
	}
}

// swap moves *rec's content into m.iv, leaving *rec empty (spare's storage); the
// lock is held only for the pointer swap and read, never for the merge.
//
// Every lane and shard has a spare of its own (made here on first use): a
// recorder's histograms are allocated on first use (~144 KiB each) and kept
// across Resets, so with one spare shared by all, recorders would travel from
// lane to lane and shard to shard and, interval after interval, each would end up
// with a histogram for every operation any of them records: memory that grew
// through a 10-minute run (53 -> 65 MiB at 1000/s) before it levelled off.
func (m *monitor) swap(mu *sync.Mutex, rec **report.Recorder, spare **report.Recorder, read func()) {
	if *spare == nil {
		*spare = report.NewRecorder()
	}
	mu.Lock()
	old := *rec
	*rec = *spare
	if read != nil {
		read()
	}
	mu.Unlock()
	m.iv.Merge(old)
	old.Reset()
	*spare = old
}

// collect moves everything recorded since the last collect into m.iv and returns the
// counters now. Each shard's counts are read under the same lock as its recorder is
// swapped, and the dropped counter under the pacer's, so an interval's counts and
// its recorder's agree.
func (m *monitor) collect() tally {
	r := m.r
	var t tally
	for i := range r.lanes {
		l := &r.lanes[i]
		m.swap(&l.mu, &l.rec, &l.spare, nil)
	}
	m.swap(&r.pacer.mu, &r.pacer.rec, &r.pacer.spare, func() { t.dropped = r.dropped.Load() })
	for i := range r.tr.shards {
		sh := &r.tr.shards[i]
		m.swap(&sh.mu, &sh.rec, &sh.spare, func() { t.tc.add(sh.c) })
	}
	t.accepted = r.accepted.Load()
	t.started = r.started.Load()
	t.cpu = readUsage().cpu
	return t
}

// close closes the interval ending at end: the next boundary (loop), or the end of
// the run (Run, after loop has returned: the last, partial interval, which is left
// out when it is empty and lasted no time).
func (m *monitor) close(end time.Time) {
	r := m.r
	start := r.runStart.Add(time.Duration(m.k) * m.every)
	now := m.collect()
	d := now.tc
	d.sub(m.prev.tc)
	ops := m.iv.Operations()
	fails := m.iv.Failures()
	dropped := now.dropped - m.prev.dropped
	if !end.After(start) && len(ops) == 0 && len(fails) == 0 && d == (counts{}) && dropped == 0 {
		return
	}
	el := end.Sub(start).Seconds()
	rate := func(n uint64) float64 {
		if el <= 0 {
			return 0
		}
		return float64(n) / el
	}
	u := readUsage()
	iv := report.Interval{
		Start:      start,
		End:        end,
		Phase:      *r.phase.Load(),
		Operations: ops,
		Failures:   fails,
		Messages: report.Messages{
			Sent:               d.posted,
			Accepted:           now.accepted - m.prev.accepted,
			ExpectedDeliveries: d.delivered + d.lost,
			Delivered:          d.delivered,
			Lost:               d.lost,
			Duplicated:         d.duplicated,
			OutOfOrder:         d.outOfOrder,
			Corrupted:          d.corrupted,
		},
		Load: report.IntervalLoad{
			TargetRate:   rate(uint64(r.dueIn(start, end))),
			AchievedRate: rate(now.started - m.prev.started),
			Dropped:      dropped,
			InFlight:     r.inflight.Load(),
		},
		Generator: report.Generator{
			CPUSeconds:       now.cpu - m.prev.cpu,
			MaxRSSBytes:      u.maxRSS,
			ScheduleLagP99US: float64(m.iv.LagAtPercentile(99)) / 1e3,
			Dropped:          dropped,
			Overflow:         m.iv.Overflow(),
			Goroutines:       runtime.NumGoroutine(),
			Workers:          int(r.ivPeak.Swap(r.inflight.Load())),
		},
	}
	m.total.Merge(m.iv)
	m.iv.Reset()
	m.prev = now
	m.k++
	m.rows = append(m.rows, iv)
	if r.cfg.OnInterval != nil {
		r.cfg.OnInterval(iv)
	}
}

// progress builds the progress snapshot at now: p99 so far is the totals' merged with
// what the lanes (and for delivery the shards) hold of the current interval.
func (m *monitor) progress(now time.Time) Progress {
	r := m.r
	p := Progress{
		Elapsed:  now.Sub(r.runStart),
		InFlight: r.inflight.Load(),
		Errors:   r.errs.Load(),
		Dropped:  r.dropped.Load(),
		Phase:    *r.phase.Load(),
	}
	started := r.started.Load()
	if dt := now.Sub(m.lastTick).Seconds(); dt > 0 {
		p.AchievedRate = float64(started-m.lastStarted) / dt
	}
	m.lastStarted, m.lastTick = started, now
	if at, ok := r.steadyOffset(); r.open && ok && p.Phase == PhaseSteady {
		p.TargetRate = float64(r.sched.RateAt(p.Elapsed - at))
	}
	if at, ok := r.steadyOffset(); ok {
		p.Steady = p.Elapsed - at
		if end, ok := r.steadyEndOffset(); ok {
			p.Steady = end - at
		}
	}
	p.SetupDone, p.SetupTotal = r.setupDone.Load(), r.setupTotal.Load()
	tc := r.tr.totals()
	p.Delivered, p.Lost = tc.delivered, tc.lost
	// A merged copy each second: short lock holds, nothing on the hot path.
	s := m.scratch
	s.Reset()
	s.Merge(m.total)
	for i := range r.lanes {
		l := &r.lanes[i]
		l.mu.Lock()
		s.Merge(l.rec)
		l.mu.Unlock()
	}
	if r.headOp == report.OpDelivery {
		r.tr.mergeInto(s)
	}
	p.P99 = s.ValueAtPercentile(r.headOp, 99)
	return p
}

// dueIn returns how many ops of the open model's schedule were due in [a, b): the
// interval's target. Before the steady phase and after it ended, none.
func (r *runner) dueIn(a, b time.Time) int64 {
	at, ok := r.steadyOffset()
	if !r.open || !ok {
		return 0
	}
	st := r.runStart.Add(at)
	if end, ok := r.steadyEndOffset(); ok {
		if e := r.runStart.Add(end); b.After(e) {
			b = e
		}
	}
	if !b.After(a) {
		return 0
	}
	return r.dueBefore(b.Sub(st)) - r.dueBefore(a.Sub(st))
}

// dueBefore returns how many ops are due before offset t of the schedule (Due is
// non-decreasing): an exponential then a binary search, O(log n) Due calls.
func (r *runner) dueBefore(t time.Duration) int64 {
	if t <= 0 {
		return 0
	}
	before := func(i int64) bool {
		off, ok := r.sched.Due(i)
		return ok && off < t
	}
	if !before(0) {
		return 0
	}
	lo, hi := int64(0), int64(1) // before(lo); hi unknown
	for before(hi) {
		lo = hi
		if hi > 1<<61 {
			return hi
		}
		hi *= 2
	}
	for hi-lo > 1 { // before(lo), !before(hi)
		mid := lo + (hi-lo)/2
		if before(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// sub subtracts o from c (the counters only grow, except pending).
func (c *counts) sub(o counts) {
	c.posted -= o.posted
	c.delivered -= o.delivered
	c.lost -= o.lost
	c.duplicated -= o.duplicated
	c.outOfOrder -= o.outOfOrder
	c.corrupted -= o.corrupted
	c.late -= o.late
	c.stray -= o.stray
	c.withdrawn -= o.withdrawn
	c.abandoned -= o.abandoned
	c.pending -= o.pending
}
