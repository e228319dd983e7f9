package engine_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/engine/enginetest"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// historyConfig is the history scenario at rate for dur with users over rooms and n
// messages of history.
func historyConfig(t *testing.T, rate scenarios.Rate, dur time.Duration, users, rooms, n int) scenarios.Config {
	t.Helper()
	c := config(t, scenarios.History, rate, dur)
	c.Users, c.Rooms, c.History = users, rooms, n
	return c
}

// historyFake is fakeFor with copies kept in posting order: the seeding posts back to
// back, and the fake's copies due at the same instant would arrive in any order.
func historyFake(c scenarios.Config, us []engine.User) *enginetest.FakeDriver {
	d := fakeFor(c, us)
	n := &counter{}
	d.Delay = func(engine.Message, string) time.Duration { return time.Duration(n.next()) * time.Microsecond }
	return d
}

// examples returns the failure examples of class c.
func examples(rep *report.Report, c report.Class) []string {
	for _, f := range rep.Failures {
		if f.Class == c {
			return f.Examples
		}
	}
	return nil
}

// TestHistoryExact: every fetch returns the seeded messages: no failure, one history
// op per scheduled op, and the seeding is posts delivered to the other members.
func TestHistoryExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := historyConfig(t, 20, 5*time.Second, 6, 2, 10)
		us := population(6)
		d := historyFake(c, us)
		rep := run(t, t.Context(), d, c, us)
		if rep.EndReason != engine.EndCompleted {
			t.Errorf("EndReason = %q; want completed", rep.EndReason)
		}
		if n, errs := count(rep, "history"); n != 100 || errs != 0 {
			t.Errorf("history count/errors = %d/%d; want 100/0", n, errs)
		}
		// 10 posts in each of 2 rooms, each expected by the 2 other members.
		if n, errs := count(rep, "send"); n != 20 || errs != 0 {
			t.Errorf("send count/errors = %d/%d; want 20/0", n, errs)
		}
		m := rep.Messages
		if m.Sent != 20 || m.Accepted != 20 || m.ExpectedDeliveries != 40 || m.Delivered != 40 {
			t.Errorf("messages = %+v; want 20 sent and accepted, 40 expected and delivered", m)
		}
		checkExact(t, rep)
		if len(rep.Failures) != 0 {
			t.Errorf("failures = %+v; want none", rep.Failures)
		}
		if n := d.CallCount("history"); n != 100 {
			t.Errorf("%d history calls; want 100", n)
		}
		if p50 := rep.Operations["history"].LatencyUS.P50; p50 > 1 {
			t.Errorf("history p50 = %vus; want ~0 (the fake answers at once)", p50)
		}
	})
}

// TestHistoryClosed: the closed model runs the same unit.
func TestHistoryClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := historyConfig(t, 0, 0, 4, 1, 5)
		c.Concurrency, c.Iterations = 2, 30
		us := population(4)
		rep := run(t, t.Context(), historyFake(c, us), c, us)
		if n, errs := count(rep, "history"); n != 30 || errs != 0 {
			t.Errorf("history count/errors = %d/%d; want 30/0", n, errs)
		}
		if rep.Load.Model != "closed" || len(rep.Failures) != 0 {
			t.Errorf("model %q, failures %+v; want closed, none", rep.Load.Model, rep.Failures)
		}
	})
}

// TestHistoryWrong: a history missing entries fails each fetch as Lost, one with a
// wrong entry as Corrupted, counted exactly, with examples that say what is wrong.
func TestHistoryWrong(t *testing.T) {
	corrupt := func(s string) string { b := []byte(s); b[len(b)-1] ^= 1; return string(b) }
	cases := []struct {
		name  string
		edit  func(h []engine.Delivery) []engine.Delivery
		class report.Class
		want  string
	}{
		{"missing", func(h []engine.Delivery) []engine.Delivery {
			return append(append(h[:2:2], h[3:6]...), h[7:]...) // seq 3 and 7
		}, report.Lost, "history of sip:room001@conf.example.test: got 8 of the last 10 posted; missing seq 3, 7"},
		{"empty", func(h []engine.Delivery) []engine.Delivery { return nil },
			report.Lost, "got 0 of the last 10 posted; missing seq 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"},
		{"not ours", func(h []engine.Delivery) []engine.Delivery {
			h[4].Body = "hello from someone else"
			return h
		}, report.Lost, "got 9 of the last 10 posted; missing seq 5; 1 entries not from this run"},
		{"corrupted", func(h []engine.Delivery) []engine.Delivery {
			h[4].Body = corrupt(h[4].Body)
			return h
		}, report.Corrupted, "got 9 of the last 10 posted; missing seq 5; entry 5 fails its checksum"},
		{"repeated", func(h []engine.Delivery) []engine.Delivery {
			h[4] = h[3]
			return h
		}, report.Corrupted, "missing seq 5; entry 5 repeats seq 4"},
		{"out of order", func(h []engine.Delivery) []engine.Delivery {
			h[1], h[2] = h[2], h[1]
			return h
		}, report.Corrupted, "got 10 of the last 10 posted; out of order: entry 2 is seq 3, want seq 2"},
		{"extra", func(h []engine.Delivery) []engine.Delivery {
			return append(h, engine.Delivery{Body: "an extra line"})
		}, report.Corrupted, "11 entries returned for the last 10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := historyConfig(t, 10, 2*time.Second, 3, 1, 10)
				us := population(3)
				d := historyFake(c, us)
				d.HistoryEdit = func(room string, h []engine.Delivery) []engine.Delivery { return tc.edit(h) }
				rep := run(t, t.Context(), d, c, us)
				if n, errs := count(rep, "history"); n != 20 || errs != 20 {
					t.Errorf("history count/errors = %d/%d; want 20/20", n, errs)
				}
				if f := failures(rep, tc.class); f != 20 {
					t.Errorf("%s failures = %d; want 20 (failures %+v)", tc.class, f, rep.Failures)
				}
				if len(rep.Failures) != 1 {
					t.Errorf("failures = %+v; want only %s", rep.Failures, tc.class)
				}
				if ex := examples(rep, tc.class); len(ex) == 0 || !strings.Contains(ex[0], tc.want) {
					t.Errorf("examples = %q; want containing %q", ex, tc.want)
				}
				// The seeding itself went well: every copy delivered.
				if m := rep.Messages; m.Sent != 10 || m.Delivered != 20 || m.Lost != 0 {
					t.Errorf("messages = %+v; want 10 sent, 20 delivered", m)
				}
			})
		})
	}
}

// TestHistoryInOneRoomOnly: with two rooms, only the fetches of the room whose
// history is wrong fail.
func TestHistoryInOneRoomOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := historyConfig(t, 20, 3*time.Second, 6, 2, 10)
		us := population(6)
		d := historyFake(c, us)
		bad := scenarios.RoomURIs(c)[1]
		d.HistoryEdit = func(room string, h []engine.Delivery) []engine.Delivery {
			if room == bad {
				return h[1:]
			}
			return h
		}
		rep := run(t, t.Context(), d, c, us)
		// 60 ops round-robin over 6 members, 3 in each room: 30 fetch the bad room.
		if n, errs := count(rep, "history"); n != 60 || errs != 30 {
			t.Errorf("history count/errors = %d/%d; want 60/30", n, errs)
		}
		if f := failures(rep, report.Lost); f != 30 {
			t.Errorf("lost failures = %d; want 30", f)
		}
	})
}

// TestHistoryUnsupported: a protocol whose sessions cannot fetch history fails at
// setup, saying which protocol to use.
func TestHistoryUnsupported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := historyConfig(t, 10, time.Second, 3, 1, 10)
		us := population(3)
		d := historyFake(c, us)
		d.NoHistory = true
		rep, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us})
		if !errors.Is(err, engine.ErrSetup) || !strings.Contains(err.Error(), "has no history") ||
			!strings.Contains(err.Error(), "use --protocol xccos") {
			t.Fatalf("err = %v; want ErrSetup naming the missing history", err)
		}
		if rep == nil || rep.EndReason != engine.EndError {
			t.Errorf("report = %+v; want end reason error", rep)
		}
		if n := d.CallCount("send"); n != 0 {
			t.Errorf("%d sends; want none (nothing seeded without history)", n)
		}
		if n := d.CallCount("close"); n != 3 {
			t.Errorf("%d log-offs; want 3 (teardown)", n)
		}
		// Over imc the configuration itself is refused.
		c.Protocol = "imc"
		if _, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us}); err == nil ||
			!strings.Contains(err.Error(), "the imc protocol has no history; use --protocol xccos") {
			t.Errorf("imc: err = %v; want the imc protocol refused", err)
		}
	})
}

// TestHistorySeedFailure: a room whose seeding failed is not fetched; when no room is
// left, setup fails.
func TestHistorySeedFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := historyConfig(t, 10, time.Second, 3, 1, 10)
		us := population(3)
		d := historyFake(c, us)
		sends := &counter{}
		d.Fail = func(op, user string) error {
			if op == "send" && sends.next() == 4 {
				return report.Errorf(report.Rejected, "send", 403, "403 Forbidden")
			}
			return nil
		}
		rep, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us})
		if !errors.Is(err, engine.ErrSetup) || !strings.Contains(err.Error(), "no room could be given its 10 messages") {
			t.Fatalf("err = %v; want ErrSetup: no room seeded", err)
		}
		if n, errs := count(rep, "send"); n != 4 || errs != 1 {
			t.Errorf("send count/errors = %d/%d; want 4/1 (seeding stops at the failure)", n, errs)
		}
	})
}
