package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRunXccosHistory: `chatload run --protocol xccos --scenario history` against the
// embedded server: 20 messages seeded in the room, every fetch of the last 20 finds
// them, in order and intact.
func TestRunXccosHistory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--protocol", "xccos", "--scenario", "history",
		"--rate", "20/s", "--duration", "2s", "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readReportFile(t, out)
	if op := r.Operations["history"]; op.Count != 40 || op.Errors != 0 || !strings.HasPrefix(op.Histogram, "HISTF") {
		t.Errorf("history op = %+v; want 40 fetches without errors", op)
	}
	if len(r.Failures) != 0 {
		t.Errorf("failures = %+v; want none", r.Failures)
	}
	// The seeding: 20 posts, each delivered to the room's 9 other members.
	if m := r.Messages; m.Sent != 20 || m.Accepted != 20 || m.Delivered != 180 || m.Lost != 0 {
		t.Errorf("messages = %+v; want 20 sent and accepted, 180 delivered", m)
	}
	if r.EndReason != "completed" || r.Target.Protocol != "xccos" {
		t.Errorf("end %q, target %+v", r.EndReason, r.Target)
	}
}

// TestRunHistoryOverImc: the imc protocol has no history: a usage error (exit 2)
// before anything runs.
func TestRunHistoryOverImc(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "run", "--protocol", "imc", "--scenario", "history", "--duration", "1s", "--quiet")
	if code != 2 || !strings.Contains(stderr, "the imc protocol has no history; use --protocol xccos") {
		t.Errorf("exit %d; want 2 and the reason\n%s\n%s", code, stdout, stderr)
	}
}
