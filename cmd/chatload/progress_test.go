package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
)

func TestFormatProgressFitsAndSays(t *testing.T) {
	steady := engine.Progress{Phase: engine.PhaseSteady, Elapsed: 14 * time.Second, Steady: 12 * time.Second,
		AchievedRate: 123456.7, TargetRate: 123456.7, P99: 4200 * time.Microsecond, Delivered: 123456789,
		Lost: 12345, Errors: 6789, Dropped: 1234567, InFlight: 99999}
	for _, width := range []int{40, 79, 119} {
		l := formatProgress(steady, "fanout", 30*time.Second, 0, width)
		if len(l) > width {
			t.Errorf("width %d: %d columns: %q", width, len(l), l)
		}
		if !strings.HasPrefix(l, "fanout [  40% ] 12s/30s") {
			t.Errorf("width %d: %q; want the scenario, percent and elapsed/total first", width, l)
		}
	}
	if l := formatProgress(steady, "steady", 30*time.Second, 0, 0); !strings.Contains(l, "in flight 99999") {
		t.Errorf("no width limit (not a terminal): %q; want every field", l)
	}
	setup := engine.Progress{Phase: engine.PhaseSetup, Elapsed: 3 * time.Second, SetupDone: 12, SetupTotal: 20}
	if l := formatProgress(setup, "login", 0, 0, 79); !strings.HasPrefix(l, "login setup [ 12/20 users signed in ] 3s  sign-in 4.0/s  ETA 2s") {
		t.Errorf("setup: %q; want users signed in, the rate so far and the time left at it", l)
	}
	if l := formatProgress(setup, "login", 0, 5, 0); !strings.Contains(l, "sign-in 4.0/s of 5.0/s  ETA 2s  errors 0") {
		t.Errorf("setup with --logon-rate 5/s: %q; want the rate asked for beside the rate so far", l)
	}
	setup.SetupDone = 0
	if l := formatProgress(setup, "login", 0, 0, 0); !strings.Contains(l, "sign-in 0.0/s  ETA -") {
		t.Errorf("setup, nobody done yet: %q; want no ETA", l)
	}
	drain := engine.Progress{Phase: engine.PhaseDrain, Elapsed: 33 * time.Second}
	if l := formatProgress(drain, "churn", 30*time.Second, 0, 79); !strings.HasPrefix(l, "churn drain 33s") {
		t.Errorf("drain: %q", l)
	}
}

// TestProgressFollowsInterval: not on a terminal, a plain progress line per
// --interval (here 1s, the engine's tick), not one per 10 s; it names the scenario.
func TestProgressFollowsInterval(t *testing.T) {
	code, _, errb := runCLI(t, nil, "run", "--scenario", "fanout", "--rooms", "1", "--room-size", "3", "--rate", "20/s",
		"--duration", "4s", "--interval", "1s")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	n := 0
	for _, l := range strings.Split(errb, "\n") {
		if strings.HasPrefix(l, "fanout ") {
			n++
		}
	}
	if n < 3 {
		t.Errorf("%d progress lines over a 4 s run at --interval 1s; want at least 3:\n%s", n, errb)
	}
	if !strings.Contains(errb, "fanout [ ") {
		t.Errorf("no steady-phase line with percent:\n%s", errb)
	}
	code, _, errb = runCLI(t, nil, "run", "--rate", "20/s", "--duration", "1s", "--quiet")
	if code != 0 || strings.Contains(errb, "steady ") {
		t.Errorf("--quiet: exit %d, stderr %q; want no progress", code, errb)
	}
}
