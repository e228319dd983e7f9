package capacity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/engine/enginetest"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

func thresholds(t *testing.T, ts ...string) []report.Threshold {
	t.Helper()
	var out []report.Threshold
	for _, s := range ts {
		th, err := report.ParseThreshold(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, th)
	}
	return out
}

// stepReport is a step's report as a scripted target answers at rate: delivery
// latencies p99 of p99ms, achieved the given share of the rate.
func stepReport(rate, p99ms, achievedShare float64) *report.Report {
	r := report.NewRecorder()
	for i := 1; i <= 100; i++ {
		r.Record(report.OpDelivery, time.Duration(float64(i)/100*p99ms*float64(time.Millisecond)), 0, nil)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ops := r.Operations()
	return &report.Report{
		StartedAt: t0, EndedAt: t0.Add(10 * time.Second),
		Load:       report.Load{Model: "open", TargetRate: rate, AchievedRate: rate * achievedShare},
		Operations: ops,
		Intervals:  []report.Interval{{Start: t0, End: t0.Add(10 * time.Second), Phase: "steady", Operations: ops}},
		Messages:   report.Messages{ExpectedDeliveries: 100, Delivered: 100},
	}
}

// scripted is a Runner answering from f(rate, attempt at that rate).
func scripted(f func(rate float64, attempt int) *report.Report) (Runner, *[]float64) {
	var calls []float64
	seen := map[float64]int{}
	return func(_ context.Context, rate float64) (*report.Report, time.Time, error) {
		calls = append(calls, rate)
		seen[rate]++
		return f(rate, seen[rate]), time.Time{}, nil
	}, &calls
}

func baseConfig(t *testing.T) Config {
	return Config{Start: 10, Factor: 2, MaxSteps: 6, Hold: time.Second,
		Thresholds: thresholds(t, DefaultThresholds...), Health: report.DefaultHealthLimits()}
}

func TestSearchStopsAtConfirmedTrip(t *testing.T) {
	// p99 grows with the rate; above 250 ms from 80/s.
	run, calls := scripted(func(rate float64, _ int) *report.Report { return stepReport(rate, rate*rate/20, 1) })
	res, err := Search(context.Background(), baseConfig(t), run)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{10, 20, 40, 80, 80}; fmt.Sprint(*calls) != fmt.Sprint(want) {
		t.Errorf("rates run %v; want %v (the trip at 80/s retried once)", *calls, want)
	}
	if res.HighestPass != 40 || !strings.Contains(res.Stop, "confirmed TRIP at 80/s") || !strings.Contains(res.Stop, "delivery.p99 < 250ms") {
		t.Errorf("result %+v; want highest pass 40/s, stopped at a confirmed trip at 80/s naming the threshold", res)
	}
	if s := res.Steps[4]; s.Attempt != 2 || s.Verdict != Trip || s.Index != 4 {
		t.Errorf("last step %+v; want step 4's retry, TRIP", s)
	}
	// Knee: p99 at 10/s is 5 ms; 20/s 20 ms (4x) is past it: the knee is 10/s.
	if res.Knee != 10 {
		t.Errorf("knee %v; want 10/s (%s)", res.Knee, res.KneeNote)
	}
}

func TestSearchRetryPassesContinues(t *testing.T) {
	run, calls := scripted(func(rate float64, attempt int) *report.Report {
		if rate == 20 && attempt == 1 {
			return stepReport(rate, 900, 1) // a hiccup
		}
		return stepReport(rate, 10, 1)
	})
	c := baseConfig(t)
	c.MaxSteps = 3
	res, err := Search(context.Background(), c, run)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{10, 20, 20, 40}; fmt.Sprint(*calls) != fmt.Sprint(want) {
		t.Errorf("rates run %v; want %v", *calls, want)
	}
	if res.HighestPass != 40 || res.Knee != 40 || res.Stop != "no trip within --max-steps 3" {
		t.Errorf("result %+v; want 40/s, knee 40/s, no trip within the bound", res)
	}
}

func TestSearchGeneratorLimitIsInconclusive(t *testing.T) {
	// The generator achieves only 90% of 40/s: INCONCLUSIVE, however good the latency.
	run, _ := scripted(func(rate float64, _ int) *report.Report {
		if rate >= 40 {
			return stepReport(rate, 1, 0.9)
		}
		return stepReport(rate, 1, 1)
	})
	res, err := Search(context.Background(), baseConfig(t), run)
	if err != nil {
		t.Fatal(err)
	}
	last := res.Steps[len(res.Steps)-1]
	if res.HighestPass != 20 || last.Verdict != Inconclusive || len(res.Steps) != 4 ||
		!strings.Contains(res.Stop, "the generator could not hold 40/s") || !strings.Contains(last.Reason, "10.0% below the target") {
		t.Errorf("result %+v; want 20/s and an INCONCLUSIVE stop at 40/s", res)
	}
}

// A TRIP whose retry is INCONCLUSIVE is not confirmed, and the stop says so.
func TestSearchTripThenInconclusive(t *testing.T) {
	run, _ := scripted(func(rate float64, attempt int) *report.Report {
		switch {
		case rate >= 40 && attempt == 1:
			return stepReport(rate, 900, 1)
		case rate >= 40:
			return stepReport(rate, 900, 0.5)
		}
		return stepReport(rate, 1, 1)
	})
	res, err := Search(context.Background(), baseConfig(t), run)
	if err != nil {
		t.Fatal(err)
	}
	if res.HighestPass != 20 || !strings.Contains(res.Stop, "TRIP at 40/s (step 3) not confirmed: its retry was INCONCLUSIVE") {
		t.Errorf("result %+v; want 20/s and an unconfirmed trip at 40/s", res)
	}
}

func TestSearchBounds(t *testing.T) {
	run, calls := scripted(func(rate float64, _ int) *report.Report { return stepReport(rate, 1, 1) })
	c := baseConfig(t)
	c.Factor, c.Step, c.Max = 0, 15, 50
	res, err := Search(context.Background(), c, run)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{10, 25, 40}; fmt.Sprint(*calls) != fmt.Sprint(want) || res.HighestPass != 40 || !strings.Contains(res.Stop, "--max-rate 50/s") {
		t.Errorf("rates %v, result %+v; want 10, 25, 40 then the --max-rate bound", *calls, res)
	}
	// Nothing could run at all: ErrNoStep.
	_, err = Search(context.Background(), c, func(context.Context, float64) (*report.Report, time.Time, error) {
		return nil, time.Time{}, errors.New("no route to host")
	})
	if !errors.Is(err, ErrNoStep) || !strings.Contains(err.Error(), "no route to host") {
		t.Errorf("Search with a runner that cannot run = %v; want ErrNoStep", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Start: 10, Factor: 2, MaxSteps: 3, Hold: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Start = 0 }, "--start"},
		{func(c *Config) { c.Step = 5 }, "give one"},
		{func(c *Config) { c.Factor = 1 }, "--factor 1"},
		{func(c *Config) { c.Factor = 0 }, "--step"},
		{func(c *Config) { c.MaxSteps = 0 }, "--max-steps"},
		{func(c *Config) { c.Hold = 0 }, "--step-duration"},
		{func(c *Config) { c.Max = 5 }, "--max-rate"},
		{func(c *Config) { c.Warmup = -1 }, "--warmup"},
	} {
		x := good
		c.edit(&x)
		if err := x.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error naming %s", x, err, c.want)
		}
	}
}

// The renderings carry the verdicts, the highest passing load and the knee.
func TestRender(t *testing.T) {
	run, _ := scripted(func(rate float64, _ int) *report.Report { return stepReport(rate, rate*rate/20, 1) })
	res, _ := Search(context.Background(), baseConfig(t), run)
	var tab, js, page bytes.Buffer
	if err := res.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		tab.String():  {"| 4 (retry) |", "TRIP", "Highest passing load: 40/s", "Knee:                 10/s"},
		js.String():   {`"highest_passing_rate": 40`, `"knee_rate": 10`, `"verdict": "TRIP"`},
		page.String(): {"<svg", `class="TRIP"`, "Highest passing load: 40/s"},
	} {
		for _, w := range want {
			if !strings.Contains(name, w) {
				t.Errorf("output lacks %q:\n%s", w, name)
			}
		}
	}
}

// population returns n users (sip:userNNN@example.test, password "pw").
func population(n int) []engine.User {
	us := make([]engine.User, n)
	for i := range us {
		us[i] = engine.User{URI: fmt.Sprintf("sip:user%03d@example.test", i), Password: "pw"}
	}
	return us
}

// The search over engine.Run with the fake driver: a service that delivers in 5 ms
// up to 20 posts/s and in 400 ms above trips at 40/s; a generator that may have only
// one post in flight against a service that answers posts in 100 ms cannot hold 20/s:
// INCONCLUSIVE, not a TRIP.
func TestSearchWithEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc, err := scenarios.Default("steady")
		if err != nil {
			t.Fatal(err)
		}
		sc.Pairs = 2
		us := population(4)
		d := &enginetest.FakeDriver{Passwords: map[string]string{}, Rooms: scenarios.RoomURIs(sc)}
		for _, u := range us {
			d.Passwords[u.URI] = u.Password
		}
		var delay atomic.Int64
		d.Delay = func(engine.Message, string) time.Duration { return time.Duration(delay.Load()) }
		run := EngineRunner(d, StepConfig{Scenario: sc, Users: us, Warmup: time.Second, Hold: 5 * time.Second, RunID: "t"})
		slowAbove := func(ctx context.Context, rate float64) (*report.Report, time.Time, error) {
			if rate > 20 {
				delay.Store(int64(400 * time.Millisecond))
			} else {
				delay.Store(int64(5 * time.Millisecond))
			}
			return run(ctx, rate)
		}
		c := Config{Start: 10, Factor: 2, MaxSteps: 5, Hold: 5 * time.Second, Warmup: time.Second, Cooldown: time.Second,
			Thresholds: thresholds(t, DefaultThresholds...), Health: report.DefaultHealthLimits()}
		c.Health.RunQueueWaitUS, c.Health.CPUShare, c.Health.Steal = 1e12, 2, 2 // this machine's load (and its hypervisor's steal) is no part of this test
		res, err := Search(t.Context(), c, slowAbove)
		if err != nil {
			t.Fatal(err)
		}
		if res.HighestPass != 20 || len(res.Steps) != 4 || res.Steps[3].Verdict != Trip || !strings.Contains(res.Stop, "confirmed TRIP at 40/s") {
			t.Errorf("result %s%+v; want 10 and 20/s passing, a confirmed TRIP at 40/s", res.Summary(), res.Steps)
		}
		if s := res.Steps[0]; s.P99MS == nil || *s.P99MS > 10 || s.Achieved < 9.5 || s.Noise == nil {
			t.Errorf("step 1 %+v; want p99 about 5 ms at 10/s with the noise model", s)
		}

		// The generator's limit.
		sc.MaxInFlight = 1
		c.MaxInFlight = 1 // 10/s x the 100 ms limit fills it: the generator's cap, not the target
		delay.Store(0)
		d2 := &enginetest.FakeDriver{Passwords: d.Passwords, Rooms: d.Rooms,
			OpLatency: func(op, _ string) time.Duration {
				if op == "send" {
					return 100 * time.Millisecond
				}
				return 0
			}}
		run2 := EngineRunner(d2, StepConfig{Scenario: sc, Users: us, Warmup: time.Second, Hold: 5 * time.Second})
		res, err = Search(t.Context(), c, run2)
		if err != nil {
			t.Fatal(err)
		}
		if last := res.Steps[len(res.Steps)-1]; last.Verdict != Inconclusive || !strings.Contains(res.Stop, "the generator could not hold") {
			t.Errorf("one post in flight, 100 ms each: %s%+v; want an INCONCLUSIVE stop", res.Summary(), res.Steps)
		}
	})
}

// A busy generator makes a step INCONCLUSIVE, unless the latency limit is broken by
// more than the generator's own lateness.
func TestJudgeBusyGenerator(t *testing.T) {
	c := baseConfig(t)
	c.Thresholds = thresholds(t, "delivery.p99 < 250ms")
	for _, x := range []struct {
		p99ms, lagMS float64
		verdict      string
	}{
		{900, 120, Trip},         // 900 - 120 ms is still above 250 ms
		{300, 120, Inconclusive}, // 300 - 120 ms is not
		{100, 120, Inconclusive}, // passing, but nothing can be said
	} {
		r := stepReport(20, x.p99ms, 1)
		r.Generator.ScheduleLagP99US = x.lagMS * 1e3
		r.Noise = &report.Noise{CPUs: 2, GeneratorCPUShare: 0.95}
		st := Judge(r, time.Time{}, c)
		if st.Verdict != x.verdict {
			t.Errorf("p99 %v ms, lag %v ms, CPU 95%%: %s (%s); want %s", x.p99ms, x.lagMS, st.Verdict, st.Reason, x.verdict)
		}
	}
}

// A population search steps whole users (rounded, always growing), reports the
// population and the offered rate of its steps, and stops where the runner says the
// population cannot grow (ErrBound), as at a bound.
func TestSearchUsers(t *testing.T) {
	// The offered rate is users/100; p99 grows past 250 ms above 20 users.
	run, calls := scripted(func(users float64, _ int) *report.Report {
		p99 := 10.0
		if users > 20 {
			p99 = 900
		}
		return stepReport(users/100, p99, 1)
	})
	c := baseConfig(t)
	c.Users, c.Start, c.Factor = true, 5, 1.5
	res, err := Search(context.Background(), c, run)
	if err != nil {
		t.Fatal(err)
	}
	// 5, 7.5 -> 8, 12, 18, 27 (tripped, retried).
	if want := []float64{5, 8, 12, 18, 27, 27}; fmt.Sprint(*calls) != fmt.Sprint(want) {
		t.Errorf("populations run %v; want %v", *calls, want)
	}
	if res.Stepping != "users" || res.HighestPassUsers != 18 || res.HighestPass != 0.18 || res.KneeUsers != 18 ||
		!strings.Contains(res.Stop, "confirmed TRIP at 27 users") {
		t.Errorf("result %+v; want 18 users (0.18/s) passing, the knee there, a trip at 27 users", res)
	}
	if s := res.Steps[1]; s.Users != 8 || s.TargetRate != 0.08 {
		t.Errorf("step 2 %+v; want 8 users offered 0.08/s", s)
	}
	var tab bytes.Buffer
	if err := res.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"| USERS |", "|     8 | 0.08/s |", "Highest passing load: 18 users (offered 0.18/s in all)"} {
		if !strings.Contains(tab.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, tab.String())
		}
	}

	// A users file of 10 accounts bounds it: the step at 12 users is not run.
	bounded := func(_ context.Context, users float64) (*report.Report, time.Time, error) {
		if users > 10 {
			return nil, time.Time{}, fmt.Errorf("%w: the users file has 10 users", ErrBound)
		}
		return stepReport(users/100, 10, 1), time.Time{}, nil
	}
	res, err = Search(context.Background(), c, bounded)
	if err != nil || res.HighestPassUsers != 8 || !strings.Contains(res.Stop, "step 3 at 12 users not run: the load cannot grow further: the users file has 10 users") {
		t.Errorf("bounded search: %+v, %v; want 8 users and a stop at the bound", res, err)
	}
	for _, bad := range []Config{{Users: true, Start: 2.5, Factor: 2, MaxSteps: 1, Hold: time.Second}, {Users: true, Start: 1, Factor: 2, MaxSteps: 1, Hold: time.Second},
		{Users: true, Start: 10, Step: 0.5, MaxSteps: 1, Hold: time.Second}} {
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "--users-") {
			t.Errorf("%+v: %v; want an error naming the --users- flag", bad, err)
		}
	}
}

// --max-duration: a step that would end after it is not started.
func TestSearchMaxDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		run := func(_ context.Context, rate float64) (*report.Report, time.Time, error) {
			time.Sleep(12 * time.Second) // a step: setup, warm-up, hold, drain
			return stepReport(rate, 1, 1), time.Time{}, nil
		}
		c := baseConfig(t)
		c.Hold, c.MaxDuration = 10*time.Second, 30*time.Second
		res, err := Search(t.Context(), c, run)
		if err != nil {
			t.Fatal(err)
		}
		// Steps end at 12 s and 24 s; a third would end at 36 s.
		if len(res.Steps) != 2 || !strings.Contains(res.Stop, "--max-duration 30s: step 3 at 40/s (about 12s) would end after it") {
			t.Errorf("%d steps, stop %q; want 2 and the time bound", len(res.Steps), res.Stop)
		}
	})
}

// A hold in which no threshold had anything to observe passes nothing: INCONCLUSIVE,
// saying so, never PASS.
func TestJudgeNothingObserved(t *testing.T) {
	r := stepReport(1, 1, 1)
	r.Operations, r.Intervals, r.Messages = map[string]report.Operation{}, nil, report.Messages{}
	st := Judge(r, time.Time{}, baseConfig(t))
	if st.Verdict != Inconclusive || !strings.Contains(st.Reason, "nothing to judge") {
		t.Errorf("empty hold: %s (%s); want INCONCLUSIVE, nothing to judge", st.Verdict, st.Reason)
	}
}

// The population search over engine.RunMix with the fake driver and the lync-pchat
// profile: each step is the profile for its users, each workload judged on its own
// hold window; a service that delivers slowly above 40 users trips at 80 (confirmed),
// and a threshold naming a workload judges that workload's hold.
func TestMixSearchWithEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base, err := scenarios.Default("steady")
		if err != nil {
			t.Fatal(err)
		}
		var delay atomic.Int64
		var prepared []int
		prepare := func(_ context.Context, n int) (MixStep, error) {
			mix, err := scenarios.Profile("lync-pchat", n, base)
			if err != nil {
				return MixStep{}, err
			}
			us := population(mix.Users())
			d := &enginetest.FakeDriver{Passwords: map[string]string{}}
			for _, u := range us {
				d.Passwords[u.URI] = u.Password
			}
			var ws []engine.Workload
			for _, w := range mix.Workloads {
				d.Rooms = append(d.Rooms, scenarios.RoomURIs(w.Config)...)
				ws = append(ws, engine.Workload{Name: w.Name, Start: w.Start, Run: engine.RunConfig{Scenario: w.Config, Users: us[w.First : w.First+w.Count]}})
			}
			d.Delay = func(engine.Message, string) time.Duration { return time.Duration(delay.Load()) }
			if n > 40 {
				delay.Store(int64(400 * time.Millisecond))
			} else {
				delay.Store(int64(5 * time.Millisecond))
			}
			prepared = append(prepared, n)
			return MixStep{Driver: d, Workloads: ws}, nil
		}
		hold := 3 * time.Minute // the profile's rates at 40 users are a post a minute per room size
		run := MixRunner(prepare, StepConfig{Warmup: 10 * time.Second, Hold: hold, RunID: "t"})
		c := Config{Users: true, Start: 40, Factor: 2, MaxSteps: 3, Hold: hold, Warmup: 10 * time.Second,
			Thresholds: thresholds(t, append([]string{"large:delivery.p99 < 250ms"}, DefaultThresholds...)...), Health: report.DefaultHealthLimits()}
		c.Health.RunQueueWaitUS, c.Health.CPUShare, c.Health.Steal = 1e12, 2, 2 // this machine's load is no part of this test
		res, err := Search(t.Context(), c, run)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(prepared) != "[40 80 80]" || res.HighestPassUsers != 40 || !strings.Contains(res.Stop, "confirmed TRIP at 80 users") {
			t.Fatalf("prepared %v, result %s%+v; want 40 users passing and a confirmed trip at 80", prepared, res.Summary(), res.Steps)
		}
		s := res.Steps[0]
		if s.Users != 40 || s.TargetRate <= 0 || s.P99MS == nil || *s.P99MS > 10 || s.Verdict != Pass {
			t.Errorf("step 1 %+v; want 40 users, a rate, p99 about 5 ms, PASS", s)
		}
		var named bool
		for _, v := range res.Steps[1].Thresholds {
			named = named || (v.Threshold == "large:delivery.p99 < 250ms" && !v.Pass)
		}
		if !named {
			t.Errorf("step 2's verdicts %+v; want the large workload's threshold failed", res.Steps[1].Thresholds)
		}
	})
}

// A TRIP after an INCONCLUSIVE (the generator could not hold the first attempt) is
// not confirmed yet: it is retried in its turn.
func TestSearchInconclusiveThenTrip(t *testing.T) {
	for _, c := range []struct {
		third   *report.Report
		verdict []string
		stop    string
	}{
		{stepReport(40, 900, 1), []string{Inconclusive, Trip, Trip}, "confirmed TRIP at 40/s"},
		{stepReport(40, 1, 1), []string{Inconclusive, Trip, Pass}, "no trip within --max-steps 3"},
		{stepReport(40, 900, 0.5), []string{Inconclusive, Trip, Inconclusive}, "TRIP at 40/s (step 3) not confirmed"},
	} {
		run, _ := scripted(func(rate float64, attempt int) *report.Report {
			switch {
			case rate < 40:
				return stepReport(rate, 1, 1)
			case attempt == 1:
				return stepReport(rate, 1, 0.5) // the generator fell short
			case attempt == 2:
				return stepReport(rate, 900, 1)
			}
			return c.third
		})
		cfg := baseConfig(t)
		cfg.MaxSteps = 3
		res, err := Search(context.Background(), cfg, run)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res.Steps[2:] {
			got = append(got, s.Verdict)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.verdict) || !strings.Contains(res.Stop, c.stop) {
			t.Errorf("verdicts at 40/s %v, stop %q; want %v and %q", got, res.Stop, c.verdict, c.stop)
		}
	}
}

// Failures are judged on the whole step (a log-on or join refused in the setup is the
// target's failure), latencies on the hold window.
func TestJudgeFailuresWholeStep(t *testing.T) {
	r := stepReport(20, 10, 1)
	r.Operations = maps.Clone(r.Operations)
	r.Operations["join"] = report.Operation{Count: 100, Errors: 10}
	st := Judge(r, time.Time{}, baseConfig(t))
	if st.Verdict != Trip || !strings.Contains(st.Reason, "failures.rate < 1%") {
		t.Errorf("10 joins of 200 operations refused in the setup: %s (%s); want TRIP on failures.rate", st.Verdict, st.Reason)
	}
}

// Work dropped at the in-flight cap by an otherwise healthy generator, with the
// latency limit broken far beyond its lateness, is the target's slowness: TRIP. The
// same drops by a CPU-saturated generator are INCONCLUSIVE.
func TestJudgeDroppedAtCap(t *testing.T) {
	c := baseConfig(t)
	c.Thresholds = thresholds(t, "delivery.p99 < 250ms")
	for _, x := range []struct {
		p99ms, cpu float64
		cap        int
		verdict    string
	}{
		{3000, 0.12, 10000, Trip},
		{3000, 0.95, 10000, Inconclusive},
		{200, 0.12, 10000, Inconclusive}, // the latency held: the drops say nothing of the target
		{3000, 0.12, 2000, Inconclusive}, // 8000/s x 250 ms fills 2000: the cap is too low for the service level
		{3000, 0.12, 0, Inconclusive},    // the cap unknown
	} {
		c.MaxInFlight = x.cap
		r := stepReport(8000, x.p99ms, 0.8)
		r.Load.Dropped = 19000
		r.Noise = &report.Noise{CPUs: 2, GeneratorCPUShare: x.cpu}
		st := Judge(r, time.Time{}, c)
		if st.Verdict != x.verdict || (x.verdict == Trip && !strings.Contains(st.Reason, "dropped 19000 operations at its --max-in-flight cap")) {
			t.Errorf("p99 %v ms, generator CPU %v, cap %d, 19000 dropped: %s (%s); want %s", x.p99ms, x.cpu, x.cap, st.Verdict, st.Reason, x.verdict)
		}
	}
}
