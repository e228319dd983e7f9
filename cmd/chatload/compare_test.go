package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

// writeVariant writes the report package's sample report, changed by edit, to dir/name.
func writeVariant(t *testing.T, dir, name string, edit func(r *report.Report)) string {
	t.Helper()
	r := readReportFile(t, sampleJSON)
	var compact bytes.Buffer // as written it is indented: edits replace "key":value
	if err := json.Compact(&compact, r.Scenario); err != nil {
		t.Fatal(err)
	}
	r.Scenario = compact.Bytes()
	if edit != nil {
		edit(r)
	}
	p := filepath.Join(dir, name)
	if err := writeReport(p, r); err != nil {
		t.Fatal(err)
	}
	return p
}

// withIntervals gives r ten 1-second steady intervals whose delivery percentiles are
// the run's times scale and a wobble of +-30%, and the generator's run-queue wait per
// wake-up waitUS in each.
func withIntervals(scale, phase, waitUS float64) func(r *report.Report) {
	return func(r *report.Report) {
		d := r.Operations["delivery"]
		r.Intervals = nil
		for k := range 10 {
			f := scale * (1 + 0.3*math.Sin(float64(k)*2.1+phase))
			o := d
			o.Count, o.Errors = 200, 0
			l := &o.LatencyUS
			l.P50, l.P90, l.P99, l.P999, l.Max = l.P50*f, l.P90*f, l.P99*f, l.P999*f, l.Max*f
			send := r.Operations["send"] // as it is in every interval: not slower
			send.Count, send.Errors = 200, 0
			send.LatencyUS.P99 *= 1 + 0.05*math.Sin(float64(k)+phase)
			w := waitUS
			start := r.StartedAt.Add(time.Duration(k) * time.Second)
			r.Intervals = append(r.Intervals, report.Interval{Start: start, End: start.Add(time.Second), Phase: "steady",
				Operations: map[string]report.Operation{"delivery": o, "send": send}, Noise: &report.Noise{RunQueueWaitPerSliceUS: &w}})
		}
		d.LatencyUS.P99 *= scale
		r.Operations["delivery"] = d
		r.Noise = &report.Noise{CPUs: 2, GeneratorCPUShare: 0.05}
	}
}

func TestCompareCLI(t *testing.T) {
	dir := t.TempDir()
	writeVariant(t, dir, "plain.json", nil)
	writeVariant(t, dir, "base.json", withIntervals(1, 0, 100))
	writeVariant(t, dir, "base2.json", withIntervals(1, 1, 100))
	writeVariant(t, dir, "new.json", withIntervals(1.5, 2, 100))
	writeVariant(t, dir, "new2.json", withIntervals(1.5, 3, 100))
	writeVariant(t, dir, "loaded.json", withIntervals(1.5, 2, 500))
	t.Chdir(dir) // the output names the files as given

	// One value per side (no intervals) cannot be judged: exit 5, never a silent pass.
	code, out, errb := runCLI(t, nil, "compare", "plain.json", "plain.json")
	if code != 5 || !strings.Contains(out, "INCONCLUSIVE") || !strings.Contains(out, "1 vs 1 samples cannot reach p < 0.010") ||
		!strings.Contains(errb, "inconclusive") {
		t.Errorf("compare of one value per side: exit %d; want 5 and INCONCLUSIVE saying why\n%s\n%s", code, out, errb)
	}
	// Two runs with intervals, same distribution: PASS.
	code, out, errb = runCLI(t, nil, "compare", "base.json", "base2.json")
	if code != 0 || !strings.Contains(out, "PASS: no significant regression in 2 gated rows") {
		t.Errorf("A/A: exit %d; want 0 and PASS\n%s\n%s", code, out, errb)
	}
	// Delivery p99 +50%: exit 3; markdown for a CI comment.
	code, out, errb = runCLI(t, nil, "compare", "base.json", "new.json", "--format", "markdown")
	if code != 3 || !strings.Contains(out, "### chatload compare: REGRESSED") || !strings.Contains(out, "| delivery p99 (ms) |") ||
		!strings.Contains(errb, "regression: 1 of 2 gated rows") {
		t.Errorf("compare with a slower run: exit %d; want 3\n%s\n%s", code, out, errb)
	}
	// Several runs per side, as lists and as globs.
	for _, args := range [][]string{
		{"--base", "base.json,base2.json", "--new", "new.json,new2.json"},
		{"--base", "base*.json", "--new", "new*.json"},
		{"--base", "base.json", "--base", "base2.json", "--new", "new?.json", "--new", "new.json"},
	} {
		code, out, _ = runCLI(t, nil, append([]string{"compare", "--format", "json"}, args...)...)
		var c report.Comparison
		if err := json.Unmarshal([]byte(out), &c); code != 3 || err != nil || len(c.Base) != 2 || len(c.New) != 2 || c.Base[1].Name != "base2.json" {
			t.Errorf("%v: exit %d, %v, %+v; want 3 and two runs per side", args, code, err, c.Base)
		}
	}
	// Other load in NEW that explains the change: inconclusive, not a regression.
	code, out, _ = runCLI(t, nil, "compare", "base.json", "loaded.json")
	if code != 5 || !strings.Contains(out, "run-queue wait per wake-up was +400% against BASE") {
		t.Errorf("more run-queue wait in NEW: exit %d; want 5\n%s", code, out)
	}
	// Loosened limits pass it; JSON says so.
	code, out, _ = runCLI(t, nil, "compare", "base.json", "new.json", "--max-regress", "p99=60%", "--format", "json")
	var c report.Comparison
	if err := json.Unmarshal([]byte(out), &c); code != 0 || err != nil || c.Regressed || c.Outcome != "PASS" {
		t.Errorf("with p99=60%%: exit %d, %v, regressed %v; want 0 and no regression\n%s", code, err, c.Regressed, out)
	}
	// A latency floor above the values: nothing regresses.
	if code, out, _ := runCLI(t, nil, "compare", "base.json", "new.json", "--latency-floor", "1s"); code != 0 {
		t.Errorf("with a 1s floor: exit %d; want 0\n%s", code, out)
	}
}

func TestCompareScenariosCLI(t *testing.T) {
	dir := t.TempDir()
	base := writeVariant(t, dir, "base.json", nil)
	other := writeVariant(t, dir, "other.json", func(r *report.Report) {
		r.Scenario = json.RawMessage(strings.Replace(string(r.Scenario), `"rate":"200/s"`, `"rate":"500/s"`, 1))
	})
	longer := writeVariant(t, dir, "longer.json", func(r *report.Report) {
		r.Scenario = json.RawMessage(strings.Replace(string(r.Scenario), `"duration":"5s"`, `"duration":"1m"`, 1))
	})
	code, _, errb := runCLI(t, nil, "compare", base, other)
	if code != 2 || !strings.Contains(errb, `rate is "200/s" in BASE and "500/s" in NEW`) || !strings.Contains(errb, "--force") {
		t.Errorf("different rates: exit %d, %q; want 2 naming the rate and --force", code, errb)
	}
	if code, out, errb := runCLI(t, nil, "compare", base, other, "--force"); code != 5 {
		t.Errorf("--force: exit %d\n%s\n%s", code, out, errb)
	}
	if code, out, errb := runCLI(t, nil, "compare", base, longer); code != 5 { // compared: one value per side is inconclusive
		t.Errorf("a longer run of the same scenario: exit %d\n%s\n%s", code, out, errb)
	}
}

func TestCompareUsageErrors(t *testing.T) {
	dir := t.TempDir()
	base := writeVariant(t, dir, "base.json", nil)
	notReport := filepath.Join(dir, "x.json")
	os.WriteFile(notReport, []byte(`{"hello":1}`), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"compare", base}, "two reports"},
		{[]string{"compare", base, base, "--base", base}, "not both"},
		{[]string{"compare", "--base", base}, "go together"},
		{[]string{"compare", "--base", filepath.Join(dir, "nothing*.json"), "--new", base}, "no file matches"},
		{[]string{"compare", "--base", base + "," + base, "--new", base}, "named twice"},
		{[]string{"compare", base, base, "--alpha", "2"}, "--alpha"},
		{[]string{"compare", base, base, base}, "two reports"},
		{[]string{"compare", base, filepath.Join(dir, "none.json")}, "NEW"},
		{[]string{"compare", notReport, base}, "BASE"},
		{[]string{"compare", base, base, "--max-regress", "p98=10%"}, "--max-regress"},
		{[]string{"compare", base, base, "--max-regress", "p99=ten"}, "p99=ten"},
		{[]string{"compare", base, base, "--format", "xml"}, "--format"},
		{[]string{"compare", base, base, "--latency-floor", "-1ms"}, "--latency-floor"},
		{[]string{"compare", base, base, "--bogus"}, "unknown flag"},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q\n%s", c.args[1:], code, errb, c.want, out)
		}
	}
}
