package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// slowerDelivery makes delivery p99 50% worse, as report's compare golden does.
func slowerDelivery(r *report.Report) {
	r.RunID = "20250103T030405Z-9b1c"
	d := r.Operations["delivery"]
	d.LatencyUS.P99 *= 1.5
	r.Operations["delivery"] = d
}

func TestCompareCLI(t *testing.T) {
	wantMD, err := os.ReadFile("../../report/testdata/compare_regressed.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeVariant(t, dir, "base.json", nil)
	writeVariant(t, dir, "new.json", slowerDelivery)
	t.Chdir(dir) // the output names the files as given

	// A run against itself passes.
	code, out, errb := runCLI(t, nil, "compare", "base.json", "base.json", "--min-samples", "0")
	if code != 0 || !strings.Contains(out, "PASS: no regression in 6 gated rows") {
		t.Errorf("compare with itself: exit %d; want 0 and PASS\n%s\n%s", code, out, errb)
	}
	// Delivery p99 +50%: exit 3, the markdown for a CI comment as report's golden.
	code, out, errb = runCLI(t, nil, "compare", "base.json", "new.json", "--format", "markdown", "--min-samples", "0")
	if code != 3 || out != string(wantMD) {
		t.Errorf("compare with a slower run: exit %d; want 3\n%s\nwant:\n%s", code, out, wantMD)
	}
	if !strings.Contains(errb, "regression: 1 of 6 gated rows") {
		t.Errorf("stderr %q; want the regression counted", errb)
	}
	// By default the fixture's 20 log-ons and joins are too few to judge their p99:
	// only send and delivery are gated, and delivery still regresses.
	code, _, errb = runCLI(t, nil, "compare", "base.json", "new.json")
	if code != 3 || !strings.Contains(errb, "regression: 1 of 2 gated rows") {
		t.Errorf("default --min-samples: exit %d, stderr %q; want 3 and 1 of 2 gated rows", code, errb)
	}
	// Loosened limits pass it; JSON says so.
	code, out, _ = runCLI(t, nil, "compare", "base.json", "new.json", "--max-regress", "p99=60%", "--format", "json")
	var c report.Comparison
	if err := json.Unmarshal([]byte(out), &c); code != 0 || err != nil || c.Regressed {
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
	if code, out, errb := runCLI(t, nil, "compare", base, other, "--force"); code != 0 {
		t.Errorf("--force: exit %d\n%s\n%s", code, out, errb)
	}
	if code, out, errb := runCLI(t, nil, "compare", base, longer); code != 0 {
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
