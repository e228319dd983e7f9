package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/chatload/chatload/report"
)

// Dropped failure codes (the code beside report.Dropped in the report's failures):
// why an op due by the schedule was not started. Constants, safe for concurrent use.
const (
	// DropInFlight: the in-flight cap (MaxInFlight) was reached.
	DropInFlight = 1
	// DropBusy: every pair or user the scenario's op holds (pair-cycle, churn, login)
	// was still busy with an earlier op.
	DropBusy = 2
)

// pace is the open model: the only goroutine that reads the clock to start ops. Op i
// is due at start + Due(i) whatever happened before, so a late wake-up catches up
// instead of drifting: on every wake-up it dispatches every op due by then, in order,
// each with its own intended start. On these VMs a timer fires with ~1 ms granularity,
// so at 20k/s one wake-up starts ~20 ops; a Ticker or a per-op limiter would lose those
// slots instead. The pacer never blocks on workers: an op over the in-flight cap is
// dropped and counted. It returns at the end of the schedule or when ctx is canceled.
func (r *runner) pace(ctx, opCtx context.Context) {
	start := time.Now()
	r.markSteady(start)
	defer func() { r.markSteadyEnd(time.Now()) }()
	dropInFlight := fmt.Sprintf("in-flight cap (%d) reached: op not started", r.limit)
	dropBusy := "every pair or user of the scenario busy with an earlier op: op not started"
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(until time.Time) bool {
		d := time.Until(until)
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	var i int64
	for {
		off, ok := r.sched.Due(i)
		if !ok {
			break
		}
		if !wait(start.Add(off)) {
			return
		}
		now := time.Now()
		for ok && !start.Add(off).After(now) {
			j := job{i: i, intended: start.Add(off), slot: -1}
			if code := r.dispatch(opCtx, j); code != 0 {
				ex := dropInFlight
				if code == DropBusy {
					ex = dropBusy
				}
				// Counted and tallied under one lock: an interval sees both or neither.
				r.pacer.mu.Lock()
				r.dropped.Add(1)
				r.pacer.rec.Fail(report.Dropped, code, 1, ex)
				r.pacer.mu.Unlock()
			}
			i++
			off, ok = r.sched.Due(i)
		}
		if r.batcher != nil {
			r.batcher.Flush()
		}
		if !ok {
			break
		}
	}
	// A Duration run lasts its Duration, even when its last op was due earlier: the
	// achieved rate is per the same phase as the target.
	if end := r.sched.End(); end > 0 {
		wait(start.Add(end))
	}
}

// dispatch starts j on a goroutine of its own (or, for posts through an
// AsyncSender, right here: r.inline) and returns 0, or returns the drop code
// when it cannot start now. Only the pacer calls it (so check-then-add on inflight is
// exact).
//
// A goroutine per op, bounded by the in-flight counter, rather than a fixed pool fed by
// a buffered channel. Measured on the 2-core VM (dispatch_test.go, same op: a post
// through the tracker and its copy): paced at 20k/s, BenchmarkPaced gives ~7.5 us of
// process CPU per op and a p99 schedule lag of 1.5-3 ms for a goroutine per op,
// against ~9-10 us and 3-13 ms for a pool of 4096 workers (waking a parked worker
// costs more than starting a goroutine, and the pool's idle workers cost scheduler
// time); with 100 ops in flight, 11-12 us against 11-14 us. An elastic pool (hand
// off to an idle worker, start one when none is idle) was within 10% either way: not
// worth its code. Only flooding the pool with no pacing (BenchmarkDispatch) favours it
// (~2.5 against ~3.5 us per op), because its workers then batch without parking; a
// paced run never does that. A goroutine per op also queues nothing (a pool smaller
// than the cap queues ops silently behind busy workers) and keeps no idle goroutines.
func (r *runner) dispatch(opCtx context.Context, j job) int {
	if r.inflight.Load() >= r.limit {
		return DropInFlight
	}
	if r.slots != nil {
		select {
		case j.slot = <-r.slots:
		default:
			return DropBusy
		}
	}
	r.notePeak(r.inflight.Add(1))
	r.started.Add(1)
	r.wg.Add(1)
	if r.inline != nil {
		r.inline(opCtx, j)
		return 0
	}
	go r.work(opCtx, j)
	return 0
}

// work runs one op of the open model, recording its schedule lag first.
func (r *runner) work(ctx context.Context, j job) {
	defer r.wg.Done()
	l := r.lane(j.i)
	lag := time.Since(j.intended)
	l.mu.Lock()
	l.rec.Lag(lag)
	l.mu.Unlock()
	r.op(ctx, l, j)
	if j.slot >= 0 {
		r.slots <- j.slot // before inflight drops, so a free in-flight slot has its pair back
	}
	r.inflight.Add(-1)
}

// loop is the closed model: Concurrency virtual users each run op -> ThinkTime -> op
// until Duration or Iterations. An op's latency runs from its actual start: a virtual
// user starts its next op only after the previous one and its think time, so there is
// no schedule to fall behind and nothing for coordinated omission to hide; the open
// model is the one to measure capacity with. It returns when the steady phase ends;
// ops in progress then finish during the drain.
func (r *runner) loop(ctx, opCtx context.Context) {
	start := time.Now()
	r.markSteady(start)
	defer func() { r.markSteadyEnd(time.Now()) }()
	steady := ctx
	if r.c.Duration > 0 {
		var cancel context.CancelFunc
		steady, cancel = context.WithTimeout(ctx, r.c.Duration)
		defer cancel()
	}
	n := r.vus
	var next, live atomic.Int64
	live.Store(int64(n))
	allDone := make(chan struct{})
	for v := range n {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.vu(steady, opCtx, v, &next)
			if live.Add(-1) == 0 {
				close(allDone) // Iterations all claimed and done
			}
		}()
	}
	select {
	case <-steady.Done():
	case <-allDone:
	}
}

// vu is one virtual user of the closed model.
func (r *runner) vu(steady, opCtx context.Context, v int, next *atomic.Int64) {
	var think *time.Timer
	for steady.Err() == nil {
		i := next.Add(1) - 1
		if r.iters > 0 && i >= r.iters {
			return
		}
		j := job{i: i, slot: -1}
		if r.slots != nil {
			select {
			case j.slot = <-r.slots:
			case <-steady.Done():
				return
			}
		}
		r.notePeak(r.inflight.Add(1))
		r.started.Add(1)
		j.intended = time.Now()
		r.op(opCtx, r.lane(int64(v)), j)
		if j.slot >= 0 {
			r.slots <- j.slot
		}
		r.inflight.Add(-1)
		if r.c.ThinkTime > 0 {
			if think == nil {
				think = time.NewTimer(r.c.ThinkTime)
			} else {
				think.Reset(r.c.ThinkTime)
			}
			select {
			case <-think.C:
			case <-steady.Done():
				return
			}
		}
	}
}
