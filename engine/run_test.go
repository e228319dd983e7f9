package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/engine/enginetest"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// population returns n users (sip:userNNN@example.test, password "pw").
func population(n int) []engine.User {
	us := make([]engine.User, n)
	for i := range us {
		us[i] = engine.User{URI: fmt.Sprintf("sip:user%03d@example.test", i), Password: "pw"}
	}
	return us
}

// fakeFor returns a fake service knowing us and c's rooms, delivering after 10ms.
func fakeFor(c scenarios.Config, us []engine.User) *enginetest.FakeDriver {
	d := &enginetest.FakeDriver{Passwords: map[string]string{}, Rooms: scenarios.RoomURIs(c), Latency: 10 * time.Millisecond}
	for _, u := range us {
		d.Passwords[u.URI] = u.Password
	}
	return d
}

// config returns scenario's defaults with a constant rate for dur.
func config(t *testing.T, scenario string, rate scenarios.Rate, dur time.Duration) scenarios.Config {
	t.Helper()
	c, err := scenarios.Default(scenario)
	if err != nil {
		t.Fatal(err)
	}
	c.Rate, c.Concurrency, c.Duration = rate, 0, dur
	return c
}

// modes runs f (under synctest) in the engine's two ways of running posts: a
// goroutine per op, for sessions that are no engine.AsyncSender (async 0), and
// started from the pacer and finished by their callback (async: the fake's
// per-request timeout, longer than any op of these tests).
func modes(t *testing.T, f func(t *testing.T, async time.Duration)) {
	for _, m := range []struct {
		name  string
		async time.Duration
	}{{"goroutine-per-op", 0}, {"async", time.Minute}} {
		t.Run(m.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { f(t, m.async) })
		})
	}
}

func run(t *testing.T, ctx context.Context, d engine.Driver, c scenarios.Config, us []engine.User) *report.Report {
	t.Helper()
	rep, err := engine.Run(ctx, d, engine.RunConfig{Scenario: c, Users: us, RunID: "t1"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func count(rep *report.Report, op string) (n, errs uint64) {
	o := rep.Operations[op]
	return o.Count, o.Errors
}

func failures(rep *report.Report, c report.Class) uint64 {
	for _, f := range rep.Failures {
		if f.Class == c {
			return f.Count
		}
	}
	return 0
}

// code returns how many failures of class c had code k.
func code(rep *report.Report, c report.Class, k int) uint64 {
	for _, f := range rep.Failures {
		if f.Class == c {
			return f.Codes[fmt.Sprint(k)]
		}
	}
	return 0
}

// checkExact checks the tracker's invariant: every expected copy is delivered or lost.
func checkExact(t *testing.T, rep *report.Report) {
	t.Helper()
	m := rep.Messages
	if m.ExpectedDeliveries != m.Delivered+m.Lost {
		t.Errorf("expected_deliveries %d != delivered %d + lost %d", m.ExpectedDeliveries, m.Delivered, m.Lost)
	}
	if n, errs := count(rep, "delivery"); n != m.ExpectedDeliveries || errs != m.Lost {
		t.Errorf("delivery op count/errors = %d/%d; want expected %d / lost %d", n, errs, m.ExpectedDeliveries, m.Lost)
	}
	if f := failures(rep, report.Lost); f != m.Lost {
		t.Errorf("lost failures = %d; want %d", f, m.Lost)
	}
}

// counter counts calls of a fake knob, safely from driver goroutines.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counter) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func TestOpenConstantRateExact(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, 10*time.Second)
		c.Pairs = 5
		us := population(10)
		d := fakeFor(c, us)
		d.AsyncTimeout = async
		rep := run(t, t.Context(), d, c, us)

		if rep.EndReason != engine.EndCompleted {
			t.Errorf("EndReason = %q; want completed", rep.EndReason)
		}
		// 100/s for 10 s: ops due at 0, 10ms, ... 9.99s.
		if n, errs := count(rep, "send"); n != 1000 || errs != 0 {
			t.Errorf("send count/errors = %d/%d; want 1000/0", n, errs)
		}
		m := rep.Messages
		if m.Sent != 1000 || m.Accepted != 1000 || m.Delivered != 1000 || m.Lost != 0 || m.ExpectedDeliveries != 1000 {
			t.Errorf("messages = %+v; want 1000 sent, accepted, expected and delivered", m)
		}
		checkExact(t, rep)
		if rep.Load.Model != "open" || rep.Load.TargetRate != 100 || rep.Load.AchievedRate != 100 || rep.Load.Dropped != 0 {
			t.Errorf("load = %+v; want open, 100/s target and achieved, none dropped", rep.Load)
		}
		// Each copy arrives 10ms after its intended post time (the fake's latency).
		if p50 := rep.Operations["delivery"].LatencyUS.P50; p50 < 9990 || p50 > 10010 {
			t.Errorf("delivery p50 = %vus; want 10000us", p50)
		}
		if el := rep.EndedAt.Sub(rep.StartedAt); el < 10*time.Second || el > 10*time.Second+50*time.Millisecond {
			t.Errorf("run took %v; want 10s of steady phase plus a drain of ~10ms", el)
		}
		if n := d.CallCount("close"); n != 10 {
			t.Errorf("%d log-offs; want 10", n)
		}
		if n, _ := count(rep, "leave"); n != 10 {
			t.Errorf("%d leaves; want 10", n)
		}
		if want := map[bool]int64{false: 0, true: 1000}[async > 0]; d.AsyncSends() != want {
			t.Errorf("%d posts through SendAsync; want %d", d.AsyncSends(), want)
		}
		if rep.Generator.Workers < 1 || rep.Generator.ScheduleLagP99US >= 1 {
			t.Errorf("generator = %+v; want workers, and no lag under synctest", rep.Generator)
		}
	})
}

func TestDropsOverInFlightCap(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, time.Second)
		c.Pairs, c.MaxInFlight = 1, 5
		us := population(2)
		d := fakeFor(c, us)
		d.AsyncTimeout = async
		// Each send takes 95ms: 5 in flight at 0..40ms, so the ops at 50..90ms find the
		// cap reached; at 100ms the op of 0ms is done (95ms), and so on: of every 10
		// ops, 5 start and 5 are dropped.
		d.OpLatency = func(op, user string) time.Duration {
			if op == "send" {
				return 95 * time.Millisecond
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		if n, _ := count(rep, "send"); n != 50 {
			t.Errorf("%d sends; want 50", n)
		}
		if rep.Load.Dropped != 50 || rep.Generator.Dropped != 50 || failures(rep, report.Dropped) != 50 {
			t.Errorf("dropped: load %d, generator %d, failures %d; want 50", rep.Load.Dropped, rep.Generator.Dropped, failures(rep, report.Dropped))
		}
		if n := code(rep, report.Dropped, engine.DropInFlight); n != 50 {
			t.Errorf("%d drops with code DropInFlight; want 50", n)
		}
		if rep.Load.TargetRate != 100 || rep.Load.AchievedRate != 50 {
			t.Errorf("load = %+v; want target 100/s, achieved 50/s", rep.Load)
		}
		if rep.Generator.Workers != 5 {
			t.Errorf("workers (peak in flight) = %d; want 5", rep.Generator.Workers)
		}
		if rep.Messages.Delivered != 50 {
			t.Errorf("delivered %d; want 50", rep.Messages.Delivered)
		}
		checkExact(t, rep)
	})
}

func TestRampFollowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 0, 0)
		c.Ramp = []scenarios.Stage{{Duration: 5 * time.Second, Rate: 200}, {Duration: 5 * time.Second, Rate: 0}}
		c.Pairs = 4
		us := population(8)
		d := fakeFor(c, us)
		start := time.Now() // setup takes no time with the fake
		var mu sync.Mutex
		got := make([]int, 10)
		d.Fail = func(op, user string) error {
			if op == "send" {
				mu.Lock()
				got[time.Since(start)/time.Second]++
				mu.Unlock()
			}
			return nil
		}
		rep := run(t, t.Context(), d, c, us)

		sched, err := scenarios.NewSchedule(c)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int, 10)
		total := 0
		for i := int64(0); ; i++ {
			off, ok := sched.Due(i)
			if !ok {
				break
			}
			want[off/time.Second]++
			total++
		}
		for b := range want {
			if got[b] != want[b] {
				t.Errorf("second %d: %d ops; want %d (all: got %v, want %v)", b, got[b], want[b], got, want)
				break
			}
		}
		// Up to 200/s and back down: 1000 ops in all, the middle seconds the busiest.
		if total != 1000 || want[4] <= want[0] || want[5] <= want[9] {
			t.Errorf("schedule: %d ops by second %v; want 1000 ramping up then down", total, want)
		}
		if n, _ := count(rep, "send"); n != uint64(total) {
			t.Errorf("%d sends; want %d", n, total)
		}
		if rep.Load.TargetRate != 100 {
			t.Errorf("target rate = %v; want the ramp's mean 100/s", rep.Load.TargetRate)
		}
	})
}

func TestDrainWaitsUpToDeliveryTimeout(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 10, time.Second)
		c.Pairs, c.DeliveryTimeout = 1, 2*time.Second
		us := population(2)
		d := fakeFor(c, us)
		if async > 0 {
			// An AsyncSender's own timeout applies, not c.Timeout: the CLI gives the
			// driver and the scenario the same --timeout.
			d.AsyncTimeout = c.Timeout
		}
		var calls counter
		d.Delay = func(engine.Message, string) time.Duration {
			switch calls.next() {
			case 4: // posted at 0.3s, would arrive at 3.31s: after its 2.3s deadline
				return 3 * time.Second
			case 10: // posted at 0.9s, arrives at 2.41s: within its deadline, after the steady phase
				return 1500 * time.Millisecond
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		m := rep.Messages
		if m.Delivered != 9 || m.Lost != 1 || m.ExpectedDeliveries != 10 {
			t.Errorf("messages = %+v; want 9 delivered, 1 lost", m)
		}
		checkExact(t, rep)
		// The drain ends as soon as the last copy arrived (2.41s), not at the 3s limit.
		if el := rep.EndedAt.Sub(rep.StartedAt); el < 2410*time.Millisecond || el > 2450*time.Millisecond {
			t.Errorf("run took %v; want ~2.41s (drain until the late copy)", el)
		}
		if max := rep.Operations["delivery"].LatencyUS.Max; max < 1509000 || max > 1512000 {
			t.Errorf("delivery max = %vus; want 1.51s", max)
		}
	})
}

func TestLostExactlyDropped(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Fanout, 50, 2*time.Second)
		c.Rooms, c.RoomSize, c.DeliveryTimeout = 2, 5, time.Second
		us := population(10)
		d := fakeFor(c, us)
		if async > 0 {
			// An AsyncSender's own timeout applies, not c.Timeout: the CLI gives the
			// driver and the scenario the same --timeout.
			d.AsyncTimeout = c.Timeout
		}
		var calls counter
		var dropped counter
		d.Drop = func(engine.Message, string) bool {
			if calls.next()%10 == 3 {
				dropped.next()
				return true
			}
			return false
		}
		rep := run(t, t.Context(), d, c, us)
		m := rep.Messages
		// 100 posts, each expected by the 4 other members of its room.
		if m.Sent != 100 || m.ExpectedDeliveries != 400 {
			t.Fatalf("messages = %+v; want 100 sent, 400 expected", m)
		}
		if m.Lost != uint64(dropped.get()) || m.Delivered != 400-uint64(dropped.get()) || dropped.get() != 40 {
			t.Errorf("lost %d, delivered %d; want lost = the %d copies the fake dropped", m.Lost, m.Delivered, dropped.get())
		}
		checkExact(t, rep)
	})
}

func TestDuplicatesCounted(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, time.Second)
		c.Pairs, c.Rooms = 4, 1 // one room: each post expected by the 7 others
		us := population(8)
		d := fakeFor(c, us)
		if async > 0 {
			// An AsyncSender's own timeout applies, not c.Timeout: the CLI gives the
			// driver and the scenario the same --timeout.
			d.AsyncTimeout = c.Timeout
		}
		var calls counter
		// Not for the last messages: the drain ends as soon as every expected copy is in,
		// so extra copies arriving at the same instant as the last ones may be too late
		// to count.
		d.Dup = func(engine.Message, string) int {
			if n := calls.next(); n%7 == 0 && n <= 630 {
				return 2
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		m := rep.Messages
		if m.ExpectedDeliveries != 700 || m.Delivered != 700 || m.Lost != 0 {
			t.Errorf("messages = %+v; want 700 expected and delivered", m)
		}
		if m.Duplicated != 180 || failures(rep, report.Duplicate) != 180 {
			t.Errorf("duplicated %d (failures %d); want 2 extra for each of 90 copies", m.Duplicated, failures(rep, report.Duplicate))
		}
		checkExact(t, rep)
	})
}

func TestOutOfOrderCounted(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, time.Second)
		c.Pairs = 1
		us := population(2)
		d := fakeFor(c, us)
		if async > 0 {
			// An AsyncSender's own timeout applies, not c.Timeout: the CLI gives the
			// driver and the scenario the same --timeout.
			d.AsyncTimeout = c.Timeout
		}
		var calls counter
		// Every 5th message is held 35ms: the next three (10ms apart) overtake it.
		d.Delay = func(engine.Message, string) time.Duration {
			if calls.next()%5 == 3 {
				return 35 * time.Millisecond
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		m := rep.Messages
		if m.Delivered != 100 || m.OutOfOrder != 20 || failures(rep, report.OutOfOrder) != 20 {
			t.Errorf("messages = %+v, out-of-order failures %d; want 100 delivered, 20 out of order", m, failures(rep, report.OutOfOrder))
		}
		checkExact(t, rep)
	})
}

func TestCorruptedCounted(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, time.Second)
		c.Pairs, c.DeliveryTimeout = 2, time.Second
		us := population(4)
		d := fakeFor(c, us)
		if async > 0 {
			// An AsyncSender's own timeout applies, not c.Timeout: the CLI gives the
			// driver and the scenario the same --timeout.
			d.AsyncTimeout = c.Timeout
		}
		var calls counter
		d.Corrupt = func(engine.Message, string) bool { return calls.next()%13 == 0 }
		rep := run(t, t.Context(), d, c, us)
		m := rep.Messages
		// A corrupted copy is not a delivery: without a good copy, its message is lost.
		if m.Corrupted != 7 || failures(rep, report.Corrupted) != 7 || m.Lost != 7 || m.Delivered != 93 {
			t.Errorf("messages = %+v; want 7 corrupted (and so lost), 93 delivered", m)
		}
		checkExact(t, rep)
	})
}

func TestCancelIsGraceful(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, 10*time.Second)
		c.Pairs = 3
		us := population(6)
		d := fakeFor(c, us)
		d.AsyncTimeout = async
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(5005*time.Millisecond, cancel)
		rep := run(t, ctx, d, c, us)
		if rep.EndReason != engine.EndInterrupted {
			t.Errorf("EndReason = %q; want interrupted", rep.EndReason)
		}
		// Ops due at 0..5.0s started; the short drain let their copies arrive.
		if n, _ := count(rep, "send"); n != 501 {
			t.Errorf("%d sends; want 501", n)
		}
		if m := rep.Messages; m.Delivered != 501 || m.Lost != 0 {
			t.Errorf("messages = %+v; want 501 delivered", m)
		}
		if n := d.CallCount("close"); n != 6 {
			t.Errorf("%d log-offs; want all 6 users logged off", n)
		}
		if el := rep.EndedAt.Sub(rep.StartedAt); el > 5100*time.Millisecond {
			t.Errorf("run took %v after a cancel at 5.005s", el)
		}
	})
}

func TestCancelDuringStall(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, 10*time.Second)
		c.Pairs = 1
		us := population(2)
		d := fakeFor(c, us)
		d.AsyncTimeout = async
		// From 1s on the server holds every post for 30s: the interrupt at 2s finds 100
		// posts in flight, which the short drain cannot wait for.
		start := time.Now()
		d.OpLatency = func(op, user string) time.Duration {
			if op == "send" && time.Since(start) >= time.Second {
				return 30 * time.Second
			}
			return 0
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(2005*time.Millisecond, cancel)
		rep := run(t, ctx, d, c, us)
		if rep.EndReason != engine.EndInterrupted {
			t.Errorf("EndReason = %q; want interrupted", rep.EndReason)
		}
		// 201 posts: 100 answered, 101 canceled at the end of the drain (withdrawn: not
		// lost, the run was stopped).
		if n, errs := count(rep, "send"); n != 201 || errs != 101 || failures(rep, report.Canceled) != 101 {
			t.Errorf("sends %d, errors %d, canceled %d; want 201, 101, 101", n, errs, failures(rep, report.Canceled))
		}
		if m := rep.Messages; m.Delivered != 100 || m.Lost != 0 {
			t.Errorf("messages = %+v; want 100 delivered, none lost", m)
		}
		if el := rep.EndedAt.Sub(rep.StartedAt); el < 4*time.Second || el > 4100*time.Millisecond {
			t.Errorf("run took %v; want the interrupt at 2s + a 2s drain", el)
		}
		if n := d.CallCount("close"); n != 2 {
			t.Errorf("%d log-offs; want 2", n)
		}
	})
}

func TestSetupFailureLeavesPairOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 10, time.Second)
		c.Pairs = 3
		us := population(6)
		d := fakeFor(c, us)
		d.Passwords[us[2].URI] = "other" // user002 gives the wrong password
		rep := run(t, t.Context(), d, c, us)
		if n, errs := count(rep, "register"); n != 6 || errs != 1 || failures(rep, report.Auth) != 1 {
			t.Errorf("register %d, errors %d, auth failures %d; want 6, 1, 1", n, errs, failures(rep, report.Auth))
		}
		// Its pair is left out; the two others post all 10 messages.
		if n, errs := count(rep, "send"); n != 10 || errs != 0 {
			t.Errorf("send %d/%d; want 10/0", n, errs)
		}
		if n, _ := count(rep, "join"); n != 5 {
			t.Errorf("%d joins; want the 5 logged-on users", n)
		}
		if m := rep.Messages; m.Delivered != 10 || m.Lost != 0 {
			t.Errorf("messages = %+v; want 10 delivered", m)
		}
		if rep.EndReason != engine.EndCompleted {
			t.Errorf("EndReason %q; want completed", rep.EndReason)
		}
		if n := d.CallCount("close"); n != 5 {
			t.Errorf("%d log-offs; want 5", n)
		}
	})
}

func TestNothingLogsOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 10, time.Second)
		c.Pairs = 1
		us := population(2)
		d := fakeFor(c, us)
		for _, u := range us {
			d.Passwords[u.URI] = "other"
		}
		rep, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us})
		if !errors.Is(err, engine.ErrSetup) {
			t.Fatalf("err = %v; want ErrSetup", err)
		}
		if !strings.Contains(err.Error(), "401") {
			t.Errorf("err = %v; want the first failure named", err)
		}
		if rep == nil || rep.EndReason != engine.EndError || failures(rep, report.Auth) != 2 {
			t.Errorf("report = %+v; want end reason error with 2 auth failures", rep)
		}
	})
}

// TestCoordinatedOmissionNotHidden stalls the service for 1s every 10s at 100/s. A
// closed-loop generator timing each post from its own send would have posted once per
// stall (3 slow samples among ~2700: p99 ~ the fake's 10ms). Timed from the intended
// start, the 100 posts due during each stall wait up to 1s: 10% of all, so p99 ~ 900ms.
func TestCoordinatedOmissionNotHidden(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 100, 30*time.Second)
		c.Pairs = 2
		us := population(4)
		d := fakeFor(c, us)
		d.AsyncTimeout = async
		start := time.Now()
		d.OpLatency = func(op, user string) time.Duration {
			if op != "send" {
				return 0
			}
			// In [10k s, 10k s + 1s) the server answers nothing (and delivers nothing)
			// until the end of the stall.
			in := time.Since(start) % (10 * time.Second)
			if in < time.Second {
				return time.Second - in
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		p99 := time.Duration(rep.Operations["delivery"].LatencyUS.P99 * 1e3)
		if p99 < 850*time.Millisecond || p99 > 950*time.Millisecond {
			t.Errorf("delivery p99 = %v; want ~900ms (intended-start based)", p99)
		}
		if p90 := time.Duration(rep.Operations["delivery"].LatencyUS.P90 * 1e3); p90 > 20*time.Millisecond {
			t.Errorf("delivery p90 = %v; want ~10ms (the 90%% outside the stalls)", p90)
		}
		if sp99 := time.Duration(rep.Operations["send"].LatencyUS.P99 * 1e3); sp99 < 850*time.Millisecond {
			t.Errorf("send p99 = %v; want ~900ms", sp99)
		}
		if rep.Load.Dropped != 0 || rep.Messages.Delivered != 3000 {
			t.Errorf("dropped %d, delivered %d; want 0 and 3000 (the pacer kept its schedule through the stalls)", rep.Load.Dropped, rep.Messages.Delivered)
		}
		checkExact(t, rep)
	})
}

func TestLogonRateAndParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 10, time.Second)
		c.Pairs, c.LogonRate = 5, 10
		us := population(10)
		d := fakeFor(c, us)
		start := time.Now()
		var mu sync.Mutex
		var connects []time.Duration
		d.Fail = func(op, user string) error {
			if op == "connect" {
				mu.Lock()
				connects = append(connects, time.Since(start))
				mu.Unlock()
			}
			return nil
		}
		rep := run(t, t.Context(), d, c, us)
		// 10 log-ons per second: one every 100ms, the first at once.
		for i, at := range connects {
			if want := time.Duration(i) * 100 * time.Millisecond; at != want {
				t.Fatalf("log-on %d at %v; want %v (all: %v)", i, at, want, connects)
			}
		}
		if n, _ := count(rep, "send"); n != 10 {
			t.Errorf("%d sends; want 10", n)
		}

		// At most 2 log-ons in flight, 100ms each: 10 users take 500ms.
		c.LogonRate, c.LogonParallel = 0, 2
		d = fakeFor(c, us)
		d.OpLatency = func(op, user string) time.Duration {
			if op == "connect" {
				return 100 * time.Millisecond
			}
			return 0
		}
		rep = run(t, t.Context(), d, c, us)
		if el := rep.EndedAt.Sub(rep.StartedAt); el < 1500*time.Millisecond || el > 1550*time.Millisecond {
			t.Errorf("run took %v; want 500ms of setup + 1s steady + a short drain", el)
		}
	})
}

func TestCancelDuringSetup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 10, time.Second)
		c.Pairs, c.LogonRate = 5, 10
		us := population(10)
		d := fakeFor(c, us)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(450*time.Millisecond, cancel)
		rep, err := engine.Run(ctx, d, engine.RunConfig{Scenario: c, Users: us})
		if err != nil {
			t.Fatalf("Run: %v; want an interrupted run, not an error", err)
		}
		if rep.EndReason != engine.EndInterrupted {
			t.Errorf("EndReason %q; want interrupted", rep.EndReason)
		}
		// Log-ons at 0, 100, ... 400ms; nothing was posted; whoever was on is off again.
		if n, _ := count(rep, "register"); n != 5 {
			t.Errorf("%d log-ons; want 5", n)
		}
		if n, _ := count(rep, "send"); n != 0 {
			t.Errorf("%d sends; want none", n)
		}
		if n := d.CallCount("close"); n != 5 {
			t.Errorf("%d log-offs; want 5", n)
		}
	})
}

func TestClosedModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 0, time.Second)
		c.Pairs, c.Concurrency, c.ThinkTime = 2, 2, 100*time.Millisecond
		us := population(4)
		d := fakeFor(c, us)
		d.OpLatency = func(op, user string) time.Duration {
			if op == "send" {
				return 50 * time.Millisecond
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		// Each virtual user: op at 0 (50ms), think 100ms, op at 150ms, ... 900ms: 7 ops.
		if n, _ := count(rep, "send"); n != 14 {
			t.Errorf("%d sends; want 14", n)
		}
		if p := rep.Operations["send"].LatencyUS.P99; p < 49900 || p > 50100 {
			t.Errorf("send p99 = %vus; want 50ms from the op's own start", p)
		}
		if rep.Load.Model != "closed" || rep.Load.TargetRate != 0 || rep.Load.AchievedRate != 14 {
			t.Errorf("load = %+v; want closed, 14/s achieved", rep.Load)
		}
		checkExact(t, rep)
	})
}

func TestClosedModelIterations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 0, 0)
		c.Pairs, c.Concurrency, c.Iterations = 2, 3, 25
		us := population(4)
		d := fakeFor(c, us)
		rep := run(t, t.Context(), d, c, us)
		if n, _ := count(rep, "send"); n != 25 {
			t.Errorf("%d sends; want 25", n)
		}
		if rep.Messages.Delivered != 25 {
			t.Errorf("delivered %d; want 25", rep.Messages.Delivered)
		}
	})
}

func TestPairCycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.PairCycle, 5, 2*time.Second)
		c.Pairs = 2
		us := population(4)
		d := fakeFor(c, us)
		d.Latency = 40 * time.Millisecond
		rep := run(t, t.Context(), d, c, us)
		if n, errs := count(rep, "cycle"); n != 10 || errs != 0 {
			t.Fatalf("cycle %d/%d; want 10/0 (failures %+v)", n, errs, rep.Failures)
		}
		for _, op := range []string{"register", "join", "send", "delivery", "leave", "unregister"} {
			if n, errs := count(rep, op); n != 20 || errs != 0 {
				t.Errorf("%s %d/%d; want 20/0 (two per cycle)", op, n, errs)
			}
		}
		// A cycle is two deliveries of 40ms; nothing else takes time in the fake.
		if p := rep.Operations["cycle"].LatencyUS.P50; p < 79900 || p > 80100 {
			t.Errorf("cycle p50 = %vus; want 80ms", p)
		}
		if rep.Load.Dropped != 0 {
			t.Errorf("%d dropped; want none (a pair's cycle ends long before its next)", rep.Load.Dropped)
		}
		if n := d.CallCount("close"); n != 20 {
			t.Errorf("%d log-offs; want 20", n)
		}
		checkExact(t, rep)
	})
}

func TestPairCycleBusyPairsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.PairCycle, 10, time.Second)
		c.Pairs = 1
		us := population(2)
		d := fakeFor(c, us)
		d.Latency = 95 * time.Millisecond // a cycle takes 190ms: the pair is busy for the next op
		rep := run(t, t.Context(), d, c, us)
		// Ops at 0, 100, ... 900ms: the pair is free at 0, 200, 400, 600, 800.
		if n, _ := count(rep, "cycle"); n != 5 || rep.Load.Dropped != 5 || code(rep, report.Dropped, engine.DropBusy) != 5 {
			t.Errorf("cycles %d, dropped %d (failures %+v); want 5 and 5 with code DropBusy", n, rep.Load.Dropped, rep.Failures)
		}
	})
}

func TestPairCycleLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.PairCycle, 0.5, 4*time.Second)
		c.Pairs, c.DeliveryTimeout = 1, time.Second
		us := population(2)
		d := fakeFor(c, us)
		var calls counter
		d.Drop = func(engine.Message, string) bool { return calls.next() == 1 }
		rep := run(t, t.Context(), d, c, us)
		if n, errs := count(rep, "cycle"); n != 2 || errs != 1 {
			t.Errorf("cycles %d/%d; want 2 with 1 failed", n, errs)
		}
		if m := rep.Messages; m.Lost != 1 || m.Delivered != 2 || m.Sent != 3 {
			t.Errorf("messages = %+v; want the first lost (its cycle stops), the second cycle's 2 delivered", m)
		}
		// The failed cycle still left and logged off both users.
		if n := d.CallCount("close"); n != 4 {
			t.Errorf("%d log-offs; want 4", n)
		}
		// One lost copy, and the cycle it failed: two failures of class lost.
		if f := failures(rep, report.Lost); f != 2 {
			t.Errorf("lost failures = %d; want 2 (the copy and its cycle)", f)
		}
		if n, errs := count(rep, "delivery"); n != 3 || errs != 1 {
			t.Errorf("delivery %d/%d; want 3/1", n, errs)
		}
	})
}

func TestChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Churn, 10, time.Second)
		c.Users, c.Rooms = 4, 1
		us := population(4)
		d := fakeFor(c, us)
		rep := run(t, t.Context(), d, c, us)
		for op, want := range map[string]uint64{"register": 4, "join": 10, "leave": 10, "unregister": 4} {
			if n, errs := count(rep, op); n != want || errs != 0 {
				t.Errorf("%s %d/%d; want %d/0", op, n, errs, want)
			}
		}
	})
}

func TestLogin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Login, 10, time.Second)
		c.Users = 3
		us := population(3)
		d := fakeFor(c, us)
		d.OpLatency = func(op, user string) time.Duration {
			if op == "connect" {
				return 20 * time.Millisecond
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		for op, want := range map[string]uint64{"register": 10, "unregister": 10} {
			if n, errs := count(rep, op); n != want || errs != 0 {
				t.Errorf("%s %d/%d; want %d/0", op, n, errs, want)
			}
		}
		if p := rep.Operations["register"].LatencyUS.P50; p < 19900 || p > 20100 {
			t.Errorf("register p50 = %vus; want 20ms", p)
		}
	})
}

func TestMessageScenario(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		us := population(4)
		c := config(t, scenarios.Message, 10, time.Second)
		c.To = us[0].URI // a user of the run: its copies are tracked
		d := fakeFor(c, us)
		d.AsyncTimeout = async
		rep := run(t, t.Context(), d, c, us)
		if n, errs := count(rep, "send"); n != 10 || errs != 0 {
			t.Errorf("send %d/%d; want 10/0", n, errs)
		}
		// user000's own messages to itself are not expected; everyone else's are.
		own := 0
		for _, call := range d.Calls() {
			if strings.HasPrefix(call, "sendto "+us[0].URI+" ") {
				own++
			}
		}
		if m := rep.Messages; m.Delivered != uint64(10-own) || m.ExpectedDeliveries != m.Delivered {
			t.Errorf("messages = %+v; want %d delivered (10 minus user000's own %d)", m, 10-own, own)
		}
		checkExact(t, rep)

		if n, _ := count(rep, "register"); n != 4 {
			t.Errorf("register %d; want 4 (one per user)", n)
		}

		c.To = "sip:uas@elsewhere.test" // no user of the run: nothing to track
		c.NoRegister = true
		rep = run(t, t.Context(), d, c, us)
		if n, _ := count(rep, "send"); n != 10 || rep.Messages.ExpectedDeliveries != 0 {
			t.Errorf("send %d, expected %d; want 10 sends and no deliveries", n, rep.Messages.ExpectedDeliveries)
		}
		// --no-register: nothing went on the wire to log on or off, so no such ops.
		for _, op := range []string{"register", "unregister"} {
			if _, ok := rep.Operations[op]; ok {
				t.Errorf("operation %s reported with NoRegister", op)
			}
		}
	})
}

func TestFailedSendWithdrawn(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 10, time.Second)
		c.Pairs, c.Timeout, c.DeliveryTimeout = 1, 100*time.Millisecond, time.Second
		us := population(2)
		d := fakeFor(c, us)
		if async > 0 {
			// An AsyncSender's own timeout applies, not c.Timeout: the CLI gives the
			// driver and the scenario the same --timeout.
			d.AsyncTimeout = c.Timeout
		}
		var calls counter
		d.Fail = func(op, user string) error {
			if op == "send" && calls.next() == 3 {
				return report.Errorf(report.Rejected, "send", 500, "500 Server Internal Error")
			}
			return nil
		}
		d.OpLatency = func(op, user string) time.Duration {
			if op == "send" && calls.get() == 6 {
				return time.Second // times out: its copy is never sent
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		if n, errs := count(rep, "send"); n != 10 || errs != 2 || failures(rep, report.Rejected) != 1 || failures(rep, report.Timeout) != 1 {
			t.Errorf("send %d/%d, failures %+v; want 10 with 2 errors: 1 rejected, 1 timeout", n, errs, rep.Failures)
		}
		// The rejected post expects nothing; the timed-out one may have been delivered, so
		// it stays expected: here it never is, so it is lost.
		if m := rep.Messages; m.Accepted != 8 || m.ExpectedDeliveries != 9 || m.Delivered != 8 || m.Lost != 1 {
			t.Errorf("messages = %+v; want 8 accepted, 9 expected, 8 delivered, 1 lost", m)
		}
		checkExact(t, rep)
	})
}

func TestProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Steady, 100, 5*time.Second)
		c.Pairs = 2
		us := population(4)
		d := fakeFor(c, us)
		var got []engine.Progress
		_, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us, Progress: func(p engine.Progress) {
			got = append(got, p) // one goroutine calls Progress
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 {
			t.Fatalf("%d progress calls in a 5s run; want 5 (one per second)", len(got))
		}
		p := got[2]
		// The tick and the op due at 3s are simultaneous: either may count first.
		if p.Phase != engine.PhaseSteady || p.Elapsed != 3*time.Second || p.TargetRate != 100 || p.AchievedRate < 99 || p.AchievedRate > 101 {
			t.Errorf("progress at 3s = %+v; want steady, 100/s target and achieved", p)
		}
		if p.Delivered < 299 || p.Delivered > 301 || p.P99 < 9990*time.Microsecond || p.P99 > 10010*time.Microsecond {
			t.Errorf("progress at 3s = %+v; want ~300 delivered, p99 10ms", p)
		}
	})
}
