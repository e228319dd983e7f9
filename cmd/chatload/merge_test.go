package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatload/chatload/report"
)

// segmentOf makes the sample report one segment of a distributed run.
func segmentOf(seg string) func(r *report.Report) {
	return func(r *report.Report) {
		r.RunID = "run-" + strings.ReplaceAll(seg, "/", "of")
		r.Scenario = json.RawMessage(strings.TrimSuffix(string(r.Scenario), "}") + `,"segment":"` + seg + `","thresholds":["messages.duplicated == 0"]}`)
	}
}

func TestMergeCLI(t *testing.T) {
	dir := t.TempDir()
	a := writeVariant(t, dir, "a.json", segmentOf("0/2"))
	b := writeVariant(t, dir, "b.json", segmentOf("1/2"))
	out := filepath.Join(dir, "merged.json")
	code, stdout, stderr := runCLI(t, nil, "merge", a, b, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, w := range []string{"| delivery   |  4000 |", "Thresholds", "messages.duplicated == 0", "PASS"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("tables lack %q:\n%s", w, stdout)
		}
	}
	m := readReportFile(t, out)
	one := readReportFile(t, sampleJSON)
	if m.Messages.Sent != 2*one.Messages.Sent || m.Operations["delivery"].Count != 2*one.Operations["delivery"].Count ||
		m.Operations["delivery"].LatencyUS != one.Operations["delivery"].LatencyUS {
		t.Errorf("merged sent %d, delivery %+v; want twice the counts, the same percentiles", m.Messages.Sent, m.Operations["delivery"])
	}
	if len(m.Thresholds) != 1 || !m.Thresholds[0].Pass {
		t.Errorf("merged thresholds %+v; want the scenario's, judged on the whole run", m.Thresholds)
	}

	// A threshold that fails on the whole run: exit 3, said on stderr.
	code, _, stderr = runCLI(t, nil, "merge", a, b, "--quiet", "--threshold", "messages.lost == 0")
	if code != 3 || !strings.Contains(stderr, "threshold failed: messages.lost == 0 (observed 6; whole run)") {
		t.Errorf("failing threshold: exit %d, %q; want 3 naming it", code, stderr)
	}
}

func TestMergeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	a := writeVariant(t, dir, "a.json", segmentOf("0/2"))
	again := writeVariant(t, dir, "again.json", segmentOf("0/2"))
	whole := writeVariant(t, dir, "whole.json", func(r *report.Report) { r.RunID = "run-whole" })
	other := writeVariant(t, dir, "other.json", func(r *report.Report) {
		segmentOf("1/2")(r)
		r.Scenario = json.RawMessage(strings.Replace(string(r.Scenario), `"pairs":10`, `"pairs":20`, 1))
	})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"merge"}, "one or more reports"},
		{[]string{"merge", a, filepath.Join(dir, "none.json")}, "none.json"},
		{[]string{"merge", a, again}, "both of segment"},
		{[]string{"merge", a, other}, "pairs is 10 in report 1 and 20 in report 2"},
		{[]string{"merge", a, "--threshold", "delivery.p99 < 250"}, "--threshold: threshold"},
		{[]string{"merge", a}, "segment 1/2 of 2 missing"},
		{[]string{"merge", whole, whole}, "both of run run-whole (segment none: the whole run)"},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q\n%s", c.args[1:], code, errb, c.want, out)
		}
	}
}

func TestMergeAllowPartial(t *testing.T) {
	dir := t.TempDir()
	a := writeVariant(t, dir, "a.json", segmentOf("0/3"))
	c := writeVariant(t, dir, "c.json", segmentOf("2/3"))
	code, _, errb := runCLI(t, nil, "merge", a, c, "--quiet")
	if code != 2 || !strings.Contains(errb, "segment 1/3 of 3 missing") {
		t.Errorf("1 of 3 missing: exit %d %q; want 2 naming 1/3", code, errb)
	}
	out := filepath.Join(dir, "m.json")
	code, _, errb = runCLI(t, nil, "merge", a, c, "--quiet", "--allow-partial", "--out", out)
	if code != 0 || !strings.Contains(errb, "covers 2 of 3 segments") {
		t.Errorf("--allow-partial: exit %d %q; want 0 and a warning", code, errb)
	}
	if m := readReportFile(t, out); m.Messages.Sent != 2*readReportFile(t, sampleJSON).Messages.Sent {
		t.Errorf("partial merge sent %d; want the 2 segments' sum", m.Messages.Sent)
	}
}
