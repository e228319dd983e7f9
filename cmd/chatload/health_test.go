package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

// A run in which every send is refused (404: nobody is there) never exits 0 by
// default: exit 4 with a one-line reason; --allow-failures or the YAML key turn it off.
func TestRunExitEveryOperationFailed(t *testing.T) {
	args := []string{"run", "--scenario", "message", "--to", "sip:nobody@example.test", "--rate", "20/s", "--duration", "500ms", "--quiet"}
	code, _, errb := runCLI(t, nil, args...)
	if code != 4 || !strings.Contains(errb, "run failed: every send failed (10 of 10)") {
		t.Errorf("every send refused: exit %d, stderr %q; want 4 naming the sends", code, errb)
	}
	if code, _, errb := runCLI(t, nil, append(args, "--allow-failures")...); code != 0 {
		t.Errorf("--allow-failures: exit %d, stderr %q; want 0", code, errb)
	}
	yaml := filepath.Join(t.TempDir(), "allow.yaml")
	os.WriteFile(yaml, []byte("scenario: message\nto: sip:nobody@example.test\nrate: 20/s\nduration: 500ms\nallow-failures: true\n"), 0o644)
	if code, _, errb := runCLI(t, nil, "run", yaml, "--quiet"); code != 0 {
		t.Errorf("YAML allow-failures: exit %d, stderr %q; want 0", code, errb)
	}
}

// A generator that cannot hold its schedule (the server stalls, one operation may be
// in flight: most are dropped) exits 5; the limits are settable.
func TestRunExitScheduleNotHeld(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	args := []string{"run", "--scenario", "steady", "--pairs", "2", "--rate", "100/s", "--duration", "1s", "--max-in-flight", "1",
		"--fault-stall", "400ms/500ms", "--quiet", "--out", out}
	code, _, errb := runCLI(t, nil, args...)
	if code != 5 || !strings.Contains(errb, "results not trustworthy: the generator did not hold its schedule") {
		t.Errorf("stalled server, one in flight: exit %d, stderr %q; want 5", code, errb)
	}
	r := readReportFile(t, out)
	if r.Load.Dropped == 0 || r.Noise == nil || r.Noise.WallSeconds <= 0 || r.Noise.CPUs != runtime.NumCPU() {
		t.Errorf("report: dropped %d, noise %+v; want drops and the noise model", r.Load.Dropped, r.Noise)
	}
	if runtime.GOOS == "linux" && (r.Noise.RunQueueWaitShare == nil || r.Noise.HostBusyShare == nil || len(r.Intervals) == 0 || r.Intervals[0].Noise == nil) {
		t.Errorf("noise on Linux: %+v, intervals %d; want the run-queue wait, host figures and per-interval noise", r.Noise, len(r.Intervals))
	}
	if code, _, errb := runCLI(t, nil, append(args, "--max-shortfall", "100%", "--max-dropped", "100%")...); code != 0 {
		t.Errorf("limits at 100%%: exit %d, stderr %q; want 0", code, errb)
	}
	for _, bad := range [][]string{{"--max-dropped", "-1%"}, {"--max-shortfall", "lots"}, {"--max-dropped", "150%"}} {
		code, _, errb := runCLI(t, nil, append([]string{"run", "--duration", "1s", "--quiet"}, bad...)...)
		if code != 2 || !strings.Contains(errb, bad[0]) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", bad, code, errb)
		}
	}
}

// The judgements behind exits 4 and 5, on reports.
func TestHealthVerdicts(t *testing.T) {
	h := healthFlags{shortfall: "1%", dropped: "0.1%"}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := &report.Report{StartedAt: t0, EndedAt: t0.Add(10 * time.Second), Load: report.Load{TargetRate: 100, AchievedRate: 99.5}, Operations: map[string]report.Operation{"send": {Count: 10, Errors: 9}},
		Messages: report.Messages{ExpectedDeliveries: 10, Delivered: 1}}
	if err := h.verdict(nil, ok, false); err != nil {
		t.Errorf("healthy run: %v", err)
	}
	for _, c := range []struct {
		edit func(r *report.Report)
		code int
		want string
	}{
		{func(r *report.Report) { r.Load.AchievedRate = 98 }, 5, "2.0% below the target 100.0/s"},
		{func(r *report.Report) { r.Load.AchievedRate = 98; r.EndedAt = t0.Add(500 * time.Millisecond) }, 0, ""}, // 2% of 0.5 s at 100/s: one op short
		// A 2 s run whose steady phase ended one 60 ms late wake-up after its schedule: 3% "short", every op started.
		{func(r *report.Report) {
			r.Load.AchievedRate, r.EndedAt, r.Generator.ScheduleLagP99US = 97.1, t0.Add(2060*time.Millisecond), 60_000
		}, 0, ""},
		{func(r *report.Report) {
			r.Load.AchievedRate, r.EndedAt, r.Generator.ScheduleLagP99US = 90, t0.Add(2060*time.Millisecond), 60_000
		}, 5, "10.0% below"},

		{func(r *report.Report) {
			r.Load.AchievedRate = 99.9
			r.Load.Dropped = 1
			r.EndedAt = r.StartedAt.Add(10e9)
		}, 0, ""}, // 1 of 1000: 0.1% is allowed
		{func(r *report.Report) { r.Load.Dropped = 2; r.EndedAt = r.StartedAt.Add(10e9) }, 5, "dropped 2 operations"},
		{func(r *report.Report) { r.Operations["join"] = report.Operation{Count: 3, Errors: 3} }, 4, "every join failed (3 of 3)"},
		{func(r *report.Report) { r.Messages.Delivered = 0 }, 4, "every delivery was lost (10 expected)"},
	} {
		r := *ok
		r.Operations = map[string]report.Operation{"send": ok.Operations["send"]}
		c.edit(&r)
		err := h.verdict(nil, &r, false)
		code := 0
		if ee, isExit := err.(*exitError); isExit {
			code = ee.code
		}
		if code != c.code || (c.want != "" && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v (exit %d); want exit %d with %q", r.Load, err, code, c.code, c.want)
		}
		if err := h.verdict(nil, &r, true); err != nil {
			t.Errorf("allowed: %v", err)
		}
	}
}
