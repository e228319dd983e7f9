package engine_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// sumIntervals adds up the intervals' counts the way a reader of a checkpoint would,
// with plain arithmetic (not report's merge code, which is under test elsewhere).
type sums struct {
	ops      map[string][2]uint64 // count, errors
	hist     map[string]*hdrhistogram.Histogram
	msgs     report.Messages
	failures map[report.Class]uint64
	codes    map[report.Class]map[string]uint64
	dropped  uint64
	cpu      float64
}

func sumIntervals(t *testing.T, ivs []report.Interval) sums {
	t.Helper()
	s := sums{ops: map[string][2]uint64{}, hist: map[string]*hdrhistogram.Histogram{},
		failures: map[report.Class]uint64{}, codes: map[report.Class]map[string]uint64{}}
	for _, iv := range ivs {
		for name, o := range iv.Operations {
			c := s.ops[name]
			s.ops[name] = [2]uint64{c[0] + o.Count, c[1] + o.Errors}
			h, err := report.DecodeHistogram(o.Histogram)
			if err != nil {
				t.Fatalf("interval %v %s: %v", iv.Start, name, err)
			}
			if s.hist[name] == nil {
				s.hist[name] = h
			} else if d := s.hist[name].Merge(h); d != 0 {
				t.Fatalf("merging %s: %d values dropped", name, d)
			}
		}
		m := iv.Messages
		s.msgs.Sent += m.Sent
		s.msgs.Accepted += m.Accepted
		s.msgs.ExpectedDeliveries += m.ExpectedDeliveries
		s.msgs.Delivered += m.Delivered
		s.msgs.Lost += m.Lost
		s.msgs.Duplicated += m.Duplicated
		s.msgs.OutOfOrder += m.OutOfOrder
		s.msgs.Corrupted += m.Corrupted
		for _, f := range iv.Failures {
			s.failures[f.Class] += f.Count
			if s.codes[f.Class] == nil {
				s.codes[f.Class] = map[string]uint64{}
			}
			for k, n := range f.Codes {
				s.codes[f.Class][k] += n
			}
		}
		s.dropped += iv.Load.Dropped
		s.cpu += iv.Generator.CPUSeconds
	}
	return s
}

// checkSums checks that the intervals add up exactly to the report's totals.
func checkSums(t *testing.T, rep *report.Report) {
	t.Helper()
	s := sumIntervals(t, rep.Intervals)
	if len(s.ops) != len(rep.Operations) {
		t.Errorf("intervals have ops %v; the report %d ops", s.ops, len(rep.Operations))
	}
	for name, o := range rep.Operations {
		if got := s.ops[name]; got != [2]uint64{o.Count, o.Errors} {
			t.Errorf("%s: intervals sum to count/errors %v; report %d/%d", name, got, o.Count, o.Errors)
		}
		total, err := report.DecodeHistogram(o.Histogram)
		if err != nil {
			t.Fatal(err)
		}
		h := s.hist[name]
		if h == nil || !h.Equals(total) {
			t.Errorf("%s: the intervals' merged histogram differs from the report's", name)
		}
	}
	if s.msgs != rep.Messages {
		t.Errorf("intervals sum to messages %+v; report %+v", s.msgs, rep.Messages)
	}
	for _, f := range rep.Failures {
		if s.failures[f.Class] != f.Count {
			t.Errorf("failures %s: intervals sum to %d; report %d", f.Class, s.failures[f.Class], f.Count)
		}
		for k, n := range f.Codes {
			if s.codes[f.Class][k] != n {
				t.Errorf("failures %s code %s: intervals sum to %d; report %d", f.Class, k, s.codes[f.Class][k], n)
			}
		}
	}
	if len(s.failures) != len(rep.Failures) {
		t.Errorf("intervals have failure classes %v; report %d", s.failures, len(rep.Failures))
	}
	if s.dropped != rep.Load.Dropped {
		t.Errorf("intervals sum to %d dropped; report %d", s.dropped, rep.Load.Dropped)
	}
	if d := s.cpu - rep.Generator.CPUSeconds; d > 1e-9 || d < -1e-9 {
		t.Errorf("intervals sum to %v CPU seconds; report %v", s.cpu, rep.Generator.CPUSeconds)
	}
}

// checkAligned checks that interval k is [start + k*every, start + (k+1)*every) and
// the last one ends with the run.
func checkAligned(t *testing.T, rep *report.Report, every time.Duration) {
	t.Helper()
	for k, iv := range rep.Intervals {
		if want := rep.StartedAt.Add(time.Duration(k) * every); !iv.Start.Equal(want) {
			t.Errorf("interval %d starts at +%v; want +%v", k, iv.Start.Sub(rep.StartedAt), want.Sub(rep.StartedAt))
		}
		end := iv.Start.Add(every)
		if k == len(rep.Intervals)-1 {
			end = rep.EndedAt
		}
		if !iv.End.Equal(end) {
			t.Errorf("interval %d ends at +%v; want +%v", k, iv.End.Sub(rep.StartedAt), end.Sub(rep.StartedAt))
		}
	}
}

// TestIntervalsAddUpToTotals runs with everything that counts (losses, duplicates,
// drops over the in-flight cap, failed sends) and checks that the intervals, as
// delivered to OnInterval and in the report, add up exactly to the run's totals.
func TestIntervalsAddUpToTotals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 200, 5500*time.Millisecond)
		c.Pairs, c.Rooms, c.MaxInFlight, c.DeliveryTimeout = 4, 2, 30, 400*time.Millisecond
		us := population(8)
		d := fakeFor(c, us)
		var n counter
		d.Drop = func(engine.Message, string) bool { return n.next()%13 == 0 }
		d.Dup = func(engine.Message, string) int {
			if n.get()%17 == 0 {
				return 1
			}
			return 0
		}
		t0 := time.Now()
		d.OpLatency = func(op, user string) time.Duration {
			if el := time.Since(t0); op == "send" && el >= 2*time.Second && el < 2300*time.Millisecond {
				return 300 * time.Millisecond // a stall: the cap is reached, ops dropped
			}
			return 0
		}
		var tries counter
		d.Fail = func(op, user string) error {
			if op == "send" && tries.next()%97 == 0 {
				return report.Errorf(report.Rejected, "send", 503, "busy")
			}
			return nil
		}
		var got []report.Interval
		rep, err := engine.Run(t.Context(), d, engine.RunConfig{
			Scenario: c, Users: us, RunID: "iv", Interval: time.Second,
			OnInterval: func(iv report.Interval) { got = append(got, iv) },
		})
		if err != nil {
			t.Fatal(err)
		}
		checkExact(t, rep)
		m := rep.Messages
		if m.Lost == 0 || m.Duplicated == 0 || rep.Load.Dropped == 0 || failures(rep, report.Rejected) == 0 {
			t.Fatalf("messages %+v, dropped %d, rejected %d: want some of each", m, rep.Load.Dropped, failures(rep, report.Rejected))
		}
		// 5.5s of steady plus a drain of up to 0.4s: 6 intervals, the last partial.
		if len(rep.Intervals) < 6 || len(rep.Intervals) > 7 {
			t.Fatalf("%d intervals; want 6 or 7", len(rep.Intervals))
		}
		if len(got) != len(rep.Intervals) {
			t.Fatalf("OnInterval called %d times; the report has %d intervals", len(got), len(rep.Intervals))
		}
		for k := range got {
			if !got[k].Start.Equal(rep.Intervals[k].Start) || got[k].Messages != rep.Intervals[k].Messages {
				t.Errorf("OnInterval %d = %+v; report has %+v", k, got[k], rep.Intervals[k])
			}
		}
		checkAligned(t, rep, time.Second)
		checkSums(t, rep)
		// A whole steady interval: 200 ops due, all started or dropped. (The op due at
		// a boundary and the boundary are simultaneous here: either may come first.)
		iv := rep.Intervals[2]
		if iv.Phase != engine.PhaseSteady || iv.Load.TargetRate != 200 {
			t.Errorf("interval 2: phase %s, target %v/s; want steady, 200/s", iv.Phase, iv.Load.TargetRate)
		}
		if n := iv.Load.AchievedRate + float64(iv.Load.Dropped); n < 199 || n > 201 {
			t.Errorf("interval 2: achieved %v/s + %d dropped; want 200 ops due", iv.Load.AchievedRate, iv.Load.Dropped)
		}
		if iv.Generator.Workers < 1 || iv.Generator.Workers > 30 {
			t.Errorf("interval 2: peak in flight %d; want 1..30 (the cap)", iv.Generator.Workers)
		}
		// The last interval is the partial one: [5s, 5.9s), the end of the steady phase
		// (100 ops due by 5.5s), the drain and teardown.
		last := rep.Intervals[len(rep.Intervals)-1]
		if due := last.Load.TargetRate * last.End.Sub(last.Start).Seconds(); last.Phase != engine.PhaseTeardown || due < 99.999 || due > 100.001 {
			t.Errorf("last interval: phase %s, %v ops due; want teardown, 100", last.Phase, due)
		}
		if n, _ := count(rep, "unregister"); last.Operations["unregister"].Count != n {
			t.Errorf("last interval has %d of the %d log-offs", last.Operations["unregister"].Count, n)
		}
	})
}

// TestIntervalsRamp checks the target rate per interval along a ramp: the ops the
// schedule has due in it.
func TestIntervalsRamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 0, 0)
		c.Ramp = []scenarios.Stage{{Duration: 4 * time.Second, Rate: 400}}
		c.Pairs = 2
		us := population(4)
		d := fakeFor(c, us)
		rep, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us, Interval: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		// 0 -> 400/s over 4s: 200 ops due in [0,2s), 600 in [2s,4s).
		if len(rep.Intervals) != 3 {
			t.Fatalf("%d intervals; want 3 (the last one the drain's)", len(rep.Intervals))
		}
		for k, want := range []float64{100, 300} {
			if got := rep.Intervals[k].Load.TargetRate; got != want {
				t.Errorf("interval %d: target %v/s; want %v/s", k, got, want)
			}
			if got := rep.Intervals[k].Load.AchievedRate; got < want-0.5 || got > want+0.5 { // the op at the boundary: either side
				t.Errorf("interval %d: achieved %v/s; want %v/s", k, got, want)
			}
		}
		checkAligned(t, rep, 2*time.Second)
		checkSums(t, rep)
	})
}

// TestIntervalsClosedModel: the closed model's intervals add up too, and the
// progress line's p99 (the totals' plus the current interval's) keeps working.
func TestIntervalsClosedModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.PairCycle, 0, 0)
		c.Concurrency, c.Pairs, c.Iterations = 2, 3, 200
		us := population(6)
		d := fakeFor(c, us)
		var last engine.Progress
		rep, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us, Interval: 100 * time.Millisecond,
			Progress: func(p engine.Progress) { last = p }})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := count(rep, "cycle"); n != 200 {
			t.Errorf("%d cycles; want 200", n)
		}
		checkAligned(t, rep, 100*time.Millisecond)
		checkSums(t, rep)
		if last.P99 < 20*time.Millisecond {
			t.Errorf("progress p99 %v; want the cycles' (>= 2 deliveries of 10ms)", last.P99)
		}
	})
}

func TestIntervalTooShort(t *testing.T) {
	c := config(t, scenarios.Steady, 10, time.Second)
	us := population(20)
	_, err := engine.Run(t.Context(), fakeFor(c, us), engine.RunConfig{Scenario: c, Users: us, Interval: time.Millisecond})
	if err == nil {
		t.Fatal("Interval 1ms accepted; want an error")
	}
}

func TestAborted(t *testing.T) {
	for _, aborted := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			c := config(t, scenarios.Steady, 100, 10*time.Second)
			c.Pairs = 1
			us := population(2)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			time.AfterFunc(1500*time.Millisecond, cancel)
			rep, err := engine.Run(ctx, fakeFor(c, us), engine.RunConfig{Scenario: c, Users: us, Interval: time.Second,
				Aborted: func() bool { return aborted }})
			if err != nil {
				t.Fatal(err)
			}
			want := engine.EndInterrupted
			if aborted {
				want = engine.EndAborted
			}
			if rep.EndReason != want {
				t.Errorf("Aborted() = %v: EndReason %q; want %q", aborted, rep.EndReason, want)
			}
			if len(rep.Intervals) != 2 {
				t.Errorf("%d intervals; want 2 (the second cut by the interrupt)", len(rep.Intervals))
			}
			// The interrupt ends the schedule: no target after it.
			if iv := rep.Intervals[1]; iv.Load.TargetRate > 100*0.51/iv.End.Sub(iv.Start).Seconds() {
				t.Errorf("interval 1: target %v/s over %v; want only the ops due before the interrupt", iv.Load.TargetRate, iv.End.Sub(iv.Start))
			}
			checkSums(t, rep)
		})
	}
}

// TestSegmentsAddUp runs the n segments of one workload and checks that together
// they did exactly what one process does: same sends, deliveries, drops.
func TestSegmentsAddUp(t *testing.T) {
	whole := func(t *testing.T, c scenarios.Config, us []engine.User) *report.Report {
		rep, err := engine.Run(t.Context(), fakeFor(c, us), engine.RunConfig{Scenario: c, Users: us})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	cases := []struct {
		name string
		edit func(*scenarios.Config)
	}{
		{"open steady, shared rooms", func(c *scenarios.Config) { c.Pairs, c.Rooms = 6, 3 }},
		{"open steady, iterations", func(c *scenarios.Config) { c.Pairs, c.Duration, c.Iterations = 5, 0, 301 }},
		{"closed pair-cycle", func(c *scenarios.Config) {
			c.Scenario, c.Rate, c.Concurrency, c.Pairs, c.Duration, c.Iterations = scenarios.PairCycle, 0, 3, 4, 0, 50
		}},
	}
	for _, tc := range cases {
		synctest.Test(t, func(t *testing.T) {
			c := config(t, scenarios.Steady, 150, 2*time.Second)
			tc.edit(&c)
			us := population(12)
			all := whole(t, c, us)
			var sum report.Messages
			var ops, deliveries uint64
			var segs []*report.Report
			for i := range 3 {
				c := c
				c.Segment = scenarios.Segment{Index: i, Count: 3}
				rep := whole(t, c, us)
				segs = append(segs, rep)
				sum.Sent += rep.Messages.Sent
				sum.Delivered += rep.Messages.Delivered
				sum.ExpectedDeliveries += rep.Messages.ExpectedDeliveries
				n, _ := count(rep, "send")
				ops += n
				n, _ = count(rep, "delivery")
				deliveries += n
			}
			sends, _ := count(all, "send")
			dels, _ := count(all, "delivery")
			if sum.Sent != all.Messages.Sent || sum.Delivered != all.Messages.Delivered || sum.ExpectedDeliveries != all.Messages.ExpectedDeliveries ||
				ops != sends || deliveries != dels {
				t.Errorf("%s: 3 segments: %+v, %d sends, %d deliveries; one process: %+v, %d, %d", tc.name, sum, ops, deliveries, all.Messages, sends, dels)
			}
			// Merged (chatload merge's code), the segments are the one-process run:
			// same counts, same latency distributions (the fake's latency is fixed).
			merged, err := report.Merge(segs...)
			if err != nil {
				t.Fatal(err)
			}
			if merged.Messages != all.Messages {
				t.Errorf("%s: merged messages %+v; one process %+v", tc.name, merged.Messages, all.Messages)
			}
			for name, o := range all.Operations {
				mo := merged.Operations[name]
				if mo.Count != o.Count || mo.Errors != o.Errors || mo.LatencyUS.P50 != o.LatencyUS.P50 || mo.LatencyUS.P99 != o.LatencyUS.P99 {
					t.Errorf("%s: %s merged %d/%d p50 %v p99 %v; one process %d/%d p50 %v p99 %v", tc.name, name,
						mo.Count, mo.Errors, mo.LatencyUS.P50, mo.LatencyUS.P99, o.Count, o.Errors, o.LatencyUS.P50, o.LatencyUS.P99)
				}
			}
		})
	}
}
