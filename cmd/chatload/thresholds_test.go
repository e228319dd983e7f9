package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run whose threshold fails exits 3, names the threshold on stderr, and carries
// every verdict in the tables and the JSON report.
func TestRunThresholds(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--rate", "50/s",
		"--duration", "1s", "--quiet", "--out", out,
		"--threshold", "messages.lost == 0", "--threshold", "send.count > 1000000")
	if code != 3 {
		t.Fatalf("exit %d; want 3\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "threshold failed: send.count > 1000000 (observed 50; whole run)") ||
		!strings.Contains(stderr, "1 of 2 thresholds failed") || strings.Contains(stderr, "failed: messages.lost") {
		t.Errorf("stderr does not name the failed threshold (only):\n%s", stderr)
	}
	if !strings.Contains(stdout, "Thresholds") || !strings.Contains(stdout, "FAIL") {
		t.Errorf("tables lack the verdicts:\n%s", stdout)
	}
	r := readReportFile(t, out)
	if len(r.Thresholds) != 2 || !r.Thresholds[0].Pass || r.Thresholds[1].Pass || r.Thresholds[1].Observed != "50" {
		t.Errorf("report thresholds %+v; want lost passed, send.count failed at 50", r.Thresholds)
	}
	if r.EndReason != "completed" {
		t.Errorf("end reason %q; want completed (a failed threshold does not stop the run)", r.EndReason)
	}
}

// An abort threshold stops the run at the interval that fails it: exit 3, end reason
// aborted, the tables and report still written.
func TestRunThresholdAbort(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--rate", "50/s",
		"--duration", "1h", "--interval", "200ms", "--quiet", "--out", out,
		"--threshold", "delivery.p99 > 3600s for 2 intervals abort")
	if code != 3 {
		t.Fatalf("exit %d; want 3\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, `threshold "delivery.p99 > 3600s for 2 intervals abort" failed`) || !strings.Contains(stderr, "aborting the run") {
		t.Errorf("stderr does not say which threshold aborted the run:\n%s", stderr)
	}
	r := readReportFile(t, out)
	if r.EndReason != "aborted" || len(r.Thresholds) != 1 || r.Thresholds[0].Pass ||
		!strings.Contains(r.Thresholds[0].Detail, "violated in 2 intervals in a row") {
		t.Errorf("end %q, thresholds %+v; want aborted with the failed verdict", r.EndReason, r.Thresholds)
	}
	if !strings.Contains(stdout, "Thresholds") {
		t.Errorf("no tables:\n%s", stdout)
	}
}

// A bad threshold is a usage error naming where it came from: the flag, or the
// scenario file's line.
func TestRunThresholdUsageErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	os.WriteFile(file, []byte("scenario: steady\nthresholds:\n  - messages.lost == 0\n  - delivery.p99 < 250\n"), 0o644)
	one := filepath.Join(dir, "one.yaml")
	os.WriteFile(one, []byte("scenario: steady\nthresholds: failures.rate < 5\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--threshold", "delivery.p99 < 250"}, `--threshold: threshold "delivery.p99 < 250": delivery.p99 is a latency: give its unit`},
		{[]string{"run", "--threshold", "teleport.p99 < 1s"}, `--threshold: threshold "teleport.p99 < 1s": unknown metric`},
		{[]string{"run", file}, `s.yaml:4: thresholds: threshold "delivery.p99 < 250"`},
		// A file's threshold is named by its line even with flags after it.
		{[]string{"run", file, "--threshold", "messages.lost == 0"}, `s.yaml:4: thresholds:`},
		{[]string{"run", one}, `one.yaml:2: thresholds: threshold "failures.rate < 5": failures.rate is a fraction`},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, append(c.args, "--duration", "1ms")...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q\n%s", c.args[1:], code, errb, c.want, out)
		}
	}
}

// A segment of a distributed run reports its thresholds but exits 0: its counts and
// rates are its share; chatload merge judges the whole run.
func TestRunThresholdSegment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "seg.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--rate", "50/s",
		"--duration", "1s", "--quiet", "--segment", "0/2", "--out", out, "--threshold", "send.count > 1000000")
	if code != 0 || !strings.Contains(stderr, "segment 0/2: 1 of 1 thresholds failed on this segment's share") {
		t.Fatalf("exit %d; want 0 with a note\n%s\n%s", code, stdout, stderr)
	}
	if r := readReportFile(t, out); len(r.Thresholds) != 1 || r.Thresholds[0].Pass {
		t.Errorf("segment report thresholds %+v; want the failed verdict kept", r.Thresholds)
	}
}
