package engine_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/scenarios"
)

// TestSignInWavePaced: with --logon-rate the sign-ins start on a schedule (the i-th
// at i/rate), so the report's achieved sign-in rate is the rate asked for, even
// when each sign-in takes longer than the gap between two; without room in flight
// (--logon-parallel 1 and slow sign-ins) the wave falls short, and the report says
// so instead of claiming the target.
func TestSignInWavePaced(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parallel int
		connect  time.Duration
		want     float64 // achieved rate
		seconds  float64
	}{
		{"on schedule", 64, 20 * time.Millisecond, 1000, 0.199},
		// One in flight, each 10 ms: 100/s at most; 200 starts span 199 × 10 ms.
		{"held back by the in-flight bound", 1, 10 * time.Millisecond, 100, 1.99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := config(t, scenarios.Fanout, 10, time.Second)
				c.Rooms, c.RoomSize = 20, 10
				c.LogonRate, c.LogonParallel = 1000, tc.parallel
				us := population(200)
				d := fakeFor(c, us)
				d.OpLatency = func(op, _ string) time.Duration {
					if op == "connect" {
						return tc.connect
					}
					return 0
				}
				rep := run(t, t.Context(), d, c, us)
				s := rep.Load.SignIn
				if s == nil {
					t.Fatal("report has no sign-in figures")
				}
				if s.Users != 200 || s.TargetRate != 1000 {
					t.Errorf("sign-in %+v; want 200 users, target 1000/s", *s)
				}
				if d := s.AchievedRate/tc.want - 1; d < -1e-6 || d > 1e-6 {
					t.Errorf("achieved %.3f/s; want %.0f/s", s.AchievedRate, tc.want)
				}
				if d := s.Seconds - tc.seconds; d < -1e-6 || d > 1e-6 {
					t.Errorf("wave lasted %.6f s; want %.3f s", s.Seconds, tc.seconds)
				}
				if n, errs := count(rep, "register"); n != 200 || errs != 0 {
					t.Errorf("register %d/%d; want 200/0", n, errs)
				}
			})
		})
	}
}

// TestSignInWaveUnpaced: without --logon-rate the report still has the wave's
// figures (no target), every user started.
func TestSignInWaveUnpaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Fanout, 10, time.Second)
		c.Rooms, c.RoomSize = 2, 10
		us := population(20)
		rep := run(t, t.Context(), fakeFor(c, us), c, us)
		if s := rep.Load.SignIn; s == nil || s.Users != 20 || s.TargetRate != 0 {
			t.Errorf("sign-in %+v; want 20 users, no target", s)
		}
	})
}

// TestTeardownSizedToSessions: logging off many users gets longer than a fixed 10 s
// teardown bound (teardownBound grows with the leaves and log-offs to do): 2,000
// users logging off 4 at a time, 22 ms each (11 s in all), are all logged off, none
// timed out. A 100,000-user run timed out 91,654 leaves in a fixed 10 s.
func TestTeardownSizedToSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Fanout, 10, time.Second)
		c.Rooms, c.RoomSize, c.LogonParallel = 200, 10, 4
		us := population(2000)
		d := fakeFor(c, us)
		d.OpLatency = func(op, _ string) time.Duration {
			if op == "close" {
				return 22 * time.Millisecond
			}
			return 0
		}
		rep := run(t, t.Context(), d, c, us)
		if n, errs := count(rep, "unregister"); n != 2000 || errs != 0 {
			t.Errorf("unregister %d/%d; want 2000 logged off, none failed", n, errs)
		}
	})
}
