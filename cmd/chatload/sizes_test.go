package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withMemory makes the size checks see avail bytes available (ok false: unknown).
func withMemory(t *testing.T, avail uint64, ok bool) {
	t.Helper()
	saved := memInfo
	memInfo = func() (uint64, bool) { return avail, ok }
	t.Cleanup(func() { memInfo = saved })
}

// TestSizeBoundsRefused: populations that cannot fit are usage errors naming the
// setting and the memory they would need, before anything is allocated (the
// largest here would take terabytes: a check after allocating would not return).
func TestSizeBoundsRefused(t *testing.T) {
	withMemory(t, 4<<30, true)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--scenario", "login", "--users", "99999999"}, []string{"--users 99999999 would need about 143.", "GiB", "4.0 GiB available"}},
		{[]string{"run", "--pairs", "50000000"}, []string{"--pairs 50000000 (100000000 users) would need about 2.1 TiB"}},
		{[]string{"run", "--scenario", "fanout", "--rooms", "10000", "--room-size", "1000"}, []string{"--rooms 10000 x --room-size 1000 (10000000 users)"}},
		{[]string{"run", "--scenario", "steady", "--pairs", "2", "--rooms", "999999999"}, []string{"--rooms 999999999 would need"}},
		{[]string{"serve", "--users", "99999999"}, []string{"--users 99999999 would need about 95.4 GiB", "server 1.0 KiB per user"}},
		{[]string{"serve", "--users", "5000000"}, []string{"--users 5000000 would need about 4.8 GiB", "more than the 4.0 GiB available here"}},
	}
	for _, c := range cases {
		start := time.Now()
		code, _, stderr := runCLI(t, nil, c.args...)
		if code != 2 {
			t.Errorf("%v: exit %d; want 2\n%s", c.args, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, stderr)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%v: refused after %v: checked after allocating?", c.args, d)
		}
	}
}

// TestSizeBoundsUnknownMemory: where the memory cannot be read, a fixed cap.
func TestSizeBoundsUnknownMemory(t *testing.T) {
	withMemory(t, 0, false)
	code, _, stderr := runCLI(t, nil, "serve", "--users", "20000000")
	if code != 2 || !strings.Contains(stderr, "at most 10000000 users where the available memory cannot be read") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

// TestSizeBoundsUsersFile: a users file's users are counted as read, and the
// error names the file.
func TestSizeBoundsUsersFile(t *testing.T) {
	withMemory(t, 1<<20, true) // 1 MiB: not even the base fits
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, []byte("uri,username,password\nsip:a@example.test,,pa\nsip:b@example.test,,pb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "run", "--users-file", path, "--pairs", "1", "--quiet")
	if code != 2 || !strings.Contains(stderr, "--users-file "+path+" (2 users) would need") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

// TestSizeBoundsAllowed: what fits is not refused by the check (its estimate for
// a small run is below a small machine's memory).
func TestSizeBoundsAllowed(t *testing.T) {
	withMemory(t, 1<<30, true)
	code, out, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--rate", "20/s", "--iterations", "10", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
}

// TestRunInterruptedDuringSetup: a signal during the log-ons (slow here: 2,000
// users at 50 log-ons a second would take 40 s) ends the run promptly with its
// report, as interrupted.
func TestRunInterruptedDuringSetup(t *testing.T) {
	e, _, _ := testEnv(nil)
	errb := &syncBuffer{line: make(chan struct{}, 1)}
	e.stderr = errb
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, interrupt := context.WithCancel(ctx)
	out := filepath.Join(t.TempDir(), "r.json")
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"run", "--scenario", "steady", "--pairs", "1000", "--logon-rate", "50/s",
			"--rate", "10/s", "--duration", "10s", "--out", out}, e)
	}()
	// Interrupted once the progress line shows the log-ons under way.
	for !strings.Contains(errb.String(), "\nsteady setup [") { // progress: the scenario, then the phase
		select {
		case <-errb.line:
		case code := <-done:
			t.Fatalf("ended (exit %d) before its setup\n%s", code, errb)
		case <-ctx.Done():
			t.Fatalf("no setup progress line\n%s", errb)
		}
	}
	interrupt()
	start := time.Now()
	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("exit %d; want 1 (interrupted)\n%s", code, errb)
		}
	case <-ctx.Done():
		t.Fatalf("not ended 60 s after the interrupt during setup\n%s", errb)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("ended %v after the interrupt; want promptly", d)
	}
	r := readReportFile(t, out)
	if r.EndReason != "interrupted" || r.Operations["register"].Count == 0 || r.Operations["register"].Count >= 2000 {
		t.Errorf("end %q, %d registrations; want interrupted during the log-ons", r.EndReason, r.Operations["register"].Count)
	}
}
