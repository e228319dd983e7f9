package engine

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// stubSession answers a post after hold and delivers its copy at once: the engine's
// own cost is what a benchmark with it measures. (enginetest.FakeDriver cannot be
// used from package engine's own tests: it imports engine.)
type stubSession struct {
	deliver func(Delivery)
	hold    time.Duration
}

func (s *stubSession) Join(context.Context, string) error  { return nil }
func (s *stubSession) Leave(context.Context, string) error { return nil }
func (s *stubSession) Close(context.Context) error         { return nil }
func (s *stubSession) Send(ctx context.Context, room string, m Message) error {
	if s.hold > 0 {
		time.Sleep(s.hold)
	}
	s.deliver(Delivery{Room: room, Body: m.Body, At: time.Now()})
	return nil
}

// benchRunner is a steady run's runner after setup: one pair, posts through the
// tracker, a stub session.
func benchRunner(hold time.Duration, limit int64) *runner {
	us := testUsers(2)
	r := &runner{
		c:     scenarios.Config{Scenario: scenarios.Steady, Timeout: 10 * time.Second, DeliveryTimeout: time.Minute, MessageSize: 64},
		cfg:   RunConfig{Users: us},
		limit: limit,
		pacer: lane{rec: report.NewRecorder()},
		lanes: make([]lane, min(maxLanes, max(4, 2*runtime.GOMAXPROCS(0)))),
	}
	for i := range r.lanes {
		r.lanes[i].rec = report.NewRecorder()
	}
	r.tr = newTracker("bench", us, 64, time.Minute)
	st := r.tr.addStream(0, "room", newRoster([]int32{0, 1}))
	r.tr.publish()
	r.sess = []Session{&stubSession{deliver: r.deliverTo(1), hold: hold}, nil}
	r.posters = []poster{{user: 0, room: "room", st: st}}
	r.op = r.opPost
	return r
}

// BenchmarkDispatch compares the two ways of running the pacer's ops, with the same op
// (post through the tracker, copy delivered): a goroutine per op bounded by the
// in-flight counter (what dispatch does) and a fixed pool of workers fed by a buffered
// channel. "hold" is how long the stub takes to answer: 0 measures the hand-off
// itself, 1ms keeps thousands of ops in flight as a real target does.
func BenchmarkDispatch(b *testing.B) {
	const limit = 10000
	for _, hold := range []time.Duration{0, time.Millisecond} {
		b.Run("goroutine/hold="+hold.String(), func(b *testing.B) {
			r := benchRunner(hold, limit)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := job{i: int64(i), intended: time.Now(), slot: -1}
				for r.dispatch(ctx, j) != 0 {
					runtime.Gosched() // at the cap: a benchmark waits instead of dropping
				}
				if i%4096 == 0 {
					r.tr.sweep(time.Now().Add(2 * time.Minute))
				}
			}
			r.wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(r.peak.Load()), "peak-inflight")
		})
		b.Run("elastic/hold="+hold.String(), func(b *testing.B) {
			r := benchRunner(hold, limit)
			ctx := context.Background()
			jobs := make(chan job) // unbuffered: a hand-off only to a worker waiting for one
			var wg sync.WaitGroup
			runOne := func(j job) {
				l := r.lane(j.i)
				lag := time.Since(j.intended)
				l.mu.Lock()
				l.rec.Lag(lag)
				l.mu.Unlock()
				r.op(ctx, l, j)
				r.inflight.Add(-1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for r.inflight.Load() >= limit {
					runtime.Gosched()
				}
				r.notePeak(r.inflight.Add(1))
				j := job{i: int64(i), intended: time.Now(), slot: -1}
				select {
				case jobs <- j:
				default:
					wg.Go(func() {
						runOne(j)
						for j := range jobs {
							runOne(j)
						}
					})
				}
				if i%4096 == 0 {
					r.tr.sweep(time.Now().Add(2 * time.Minute))
				}
			}
			close(jobs)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(r.peak.Load()), "peak-inflight")
		})
		b.Run("pool/hold="+hold.String(), func(b *testing.B) {
			r := benchRunner(hold, limit)
			ctx := context.Background()
			workers := min(limit, 4096)
			jobs := make(chan job, limit)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for j := range jobs {
						l := r.lane(j.i)
						lag := time.Since(j.intended)
						l.mu.Lock()
						l.rec.Lag(lag)
						l.mu.Unlock()
						r.op(ctx, l, j)
						r.inflight.Add(-1)
					}
				})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for r.inflight.Load() >= limit {
					runtime.Gosched()
				}
				r.notePeak(r.inflight.Add(1))
				jobs <- job{i: int64(i), intended: time.Now(), slot: -1}
				if i%4096 == 0 {
					r.tr.sweep(time.Now().Add(2 * time.Minute))
				}
			}
			close(jobs)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(r.peak.Load()), "peak-inflight")
		})
	}
}

// BenchmarkPaced runs each way of dispatching at a fixed rate below capacity (the
// normal case: every hand-off wakes a parked worker or starts a goroutine) and reports
// the process's CPU time per op (getrusage) and the p99 schedule lag. Each iteration is
// one second of real time: run it with -benchtime 3x.
func BenchmarkPaced(b *testing.B) {
	const (
		rate  = 20000
		limit = 10000
	)
	for _, hold := range []time.Duration{0, 5 * time.Millisecond} {
		for _, mode := range []string{"goroutine", "pool", "elastic"} {
			b.Run(mode+"/hold="+hold.String(), func(b *testing.B) {
				var cpu time.Duration
				var lag time.Duration
				var ops int
				for range b.N {
					r := benchRunner(hold, limit)
					ctx := context.Background()
					var submit func(j job) bool
					var stop func()
					runOne := func(j job) {
						l := r.lane(j.i)
						lag := time.Since(j.intended)
						l.mu.Lock()
						l.rec.Lag(lag)
						l.mu.Unlock()
						r.op(ctx, l, j)
						r.inflight.Add(-1)
					}
					var wg sync.WaitGroup
					switch mode {
					case "goroutine":
						submit = func(j job) bool { return r.dispatch(ctx, j) == 0 }
						stop = func() {}
					case "pool":
						jobs := make(chan job, limit)
						for range min(limit, 4096) {
							wg.Go(func() {
								for j := range jobs {
									runOne(j)
								}
							})
						}
						submit = func(j job) bool {
							if r.inflight.Load() >= limit {
								return false
							}
							r.inflight.Add(1)
							jobs <- j
							return true
						}
						stop = func() { close(jobs) }
					case "elastic":
						jobs := make(chan job)
						submit = func(j job) bool {
							if r.inflight.Load() >= limit {
								return false
							}
							r.inflight.Add(1)
							select {
							case jobs <- j:
							default:
								wg.Go(func() {
									runOne(j)
									for j := range jobs {
										runOne(j)
									}
								})
							}
							return true
						}
						stop = func() { close(jobs) }
					}
					u0 := readUsage()
					start := time.Now()
					timer := time.NewTimer(time.Hour)
					n := 0
					for i := 0; i < rate; {
						due := start.Add(time.Duration(i) * time.Second / rate)
						if d := time.Until(due); d > 0 {
							timer.Reset(d)
							<-timer.C
						}
						now := time.Now()
						for ; i < rate && !start.Add(time.Duration(i)*time.Second/rate).After(now); i++ {
							if submit(job{i: int64(i), intended: start.Add(time.Duration(i) * time.Second / rate), slot: -1}) {
								n++
							}
						}
					}
					for r.inflight.Load() > 0 {
						time.Sleep(time.Millisecond)
					}
					stop()
					wg.Wait()
					r.wg.Wait()
					u1 := readUsage()
					cpu += time.Duration((u1.cpu - u0.cpu) * 1e9)
					ops += n
					m := report.NewRecorder()
					for i := range r.lanes {
						m.Merge(r.lanes[i].rec)
					}
					lag = max(lag, m.LagAtPercentile(99))
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops), "cpu-ns/op")
				b.ReportMetric(float64(lag.Microseconds()), "lag-p99-us")
			})
		}
	}
}

// TestIntervalsKeepHistogramsInPlace: closing intervals swaps each lane's and
// shard's recorder with a spare of its own, so the histograms stay where their
// operations are recorded; with one spare shared by all, recorders travelled and
// every one ended up holding every operation's histogram (memory that grew
// through a long run).
func TestIntervalsKeepHistogramsInPlace(t *testing.T) {
	r := &runner{lanes: make([]lane, 4), tr: newTracker("t", nil, 64, time.Second)}
	for i := range r.lanes {
		r.lanes[i].rec = report.NewRecorder()
	}
	r.pacer.rec = report.NewRecorder()
	m := newMonitor(r, time.Second, 0)
	for range 200 {
		r.lanes[1].rec.Record(report.OpSend, time.Millisecond, time.Millisecond, nil)
		r.lanes[1].rec.Lag(time.Millisecond)
		r.tr.shards[3].rec.Record(report.OpDelivery, time.Millisecond, time.Millisecond, nil)
		m.collect()
	}
	n := 0
	count := func(recs ...*report.Recorder) {
		for _, rec := range recs {
			if rec != nil {
				n += rec.Histograms()
			}
		}
	}
	for i := range r.lanes {
		count(r.lanes[i].rec, r.lanes[i].spare)
	}
	count(r.pacer.rec, r.pacer.spare)
	for i := range r.tr.shards {
		count(r.tr.shards[i].rec, r.tr.shards[i].spare)
	}
	// lane 1: send (latency and service) and lag, in its recorder and its spare;
	// shard 3: delivery (latency and service), in both.
	if n != 10 {
		t.Errorf("%d histograms in the lanes and shards after 200 intervals; want 10", n)
	}
}
