package report

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCombine: a mixed run's report sums its workloads and keeps each whole; bad
// workload lists are refused.
func TestCombine(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Report{SchemaVersion: SchemaVersion, RunID: "m-a", Scenario: []byte(`{"scenario":"steady"}`), StartedAt: t0, EndedAt: t0.Add(time.Minute),
		EndReason: "completed", Load: Load{TargetRate: 10, AchievedRate: 9}, Messages: Messages{Sent: 10, Delivered: 10, ExpectedDeliveries: 10}}
	b := &Report{SchemaVersion: SchemaVersion, RunID: "m-b", Scenario: []byte(`{"scenario":"lurker"}`), StartedAt: t0.Add(5 * time.Second), EndedAt: t0.Add(2 * time.Minute),
		EndReason: "interrupted", Load: Load{TargetRate: 1, AchievedRate: 1}, Messages: Messages{Sent: 2, Delivered: 7, Lost: 1, ExpectedDeliveries: 8}}
	r, err := Combine("m", []Workload{{Name: "posts", Report: a}, {Name: "idle", Report: b}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages.Sent != 12 || r.Messages.Delivered != 17 || r.Messages.Lost != 1 {
		t.Errorf("messages = %+v; want the sum", r.Messages)
	}
	if r.Load.TargetRate != 11 || r.Load.Model != "mixed" || r.EndReason != "interrupted" || !r.EndedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("load %+v, end %s at %v; want summed rates, the worst end, the latest time", r.Load, r.EndReason, r.EndedAt)
	}
	if r.WorkloadNamed("idle") != b || r.WorkloadNamed("nope") != nil {
		t.Errorf("WorkloadNamed does not find the workloads by name")
	}
	if !strings.Contains(string(r.Scenario), `"name":"idle","scenario":{"scenario":"lurker"}`) {
		t.Errorf("scenario = %s; want each workload's with its name", r.Scenario)
	}
	for _, bad := range [][]Workload{nil, {{Name: "", Report: a}}, {{Name: "x", Report: a}, {Name: "x", Report: b}}, {{Name: "x"}}} {
		if _, err := Combine("m", bad); err == nil {
			t.Errorf("Combine(%v) = nil error; want refused", bad)
		}
	}
}

// TestThresholdWorkload: a threshold may name a workload before its metric.
func TestThresholdWorkload(t *testing.T) {
	th, err := ParseThreshold("posts:delivery.p99 < 250ms")
	if err != nil || th.Workload != "posts" || th.Metric != "delivery.p99" || th.String() != "posts:delivery.p99 < 250ms" {
		t.Errorf("ParseThreshold = %+v, %v; want workload posts, metric delivery.p99", th, err)
	}
	if _, err := ParseThreshold("Po sts:delivery.p99 < 1ms"); err == nil {
		t.Errorf("a workload name with a space was accepted")
	}
	if _, err := ParseThreshold("po$ts:delivery.p99 < 1ms"); err == nil || !strings.Contains(err.Error(), "workload") {
		t.Errorf("bad workload name: %v; want an error naming the workload", err)
	}
	if w := NewWatch([]Threshold{{Expr: "x", Workload: "posts", Abort: true, Metric: "messages.lost", Op: "=="}}); w.Len() != 0 {
		t.Errorf("a workload's abort threshold is watched on the run's intervals")
	}
}

// TestWorkloadTablesAndMerge: the tables show each workload under its name after the
// totals, and merging two mixed runs merges their workloads by name.
func TestWorkloadTablesAndMerge(t *testing.T) {
	mk := func(seg string, sent uint64) *Report {
		w := func(scen string, n uint64) *Report {
			return &Report{SchemaVersion: SchemaVersion, Scenario: []byte(`{"scenario":"` + scen + `","segment":"` + seg + `"}`),
				Operations: map[string]Operation{}, Messages: Messages{Sent: n, ExpectedDeliveries: n, Delivered: n}}
		}
		r, err := Combine("m", []Workload{{Name: "posts", Report: w("steady", sent)}, {Name: "idle", Report: w("lurker", 1)}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var b strings.Builder
	if err := mk("", 5).WriteTables(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if i, j := strings.Index(out, "Workload posts (steady)"), strings.Index(out, "Workload idle (lurker)"); i < 0 || j < i {
		t.Errorf("tables:\n%s\nwant a section per workload, in order", out)
	}
	m, err := Merge(mk("0/2", 5), mk("1/2", 7))
	if err != nil {
		t.Fatal(err)
	}
	if p := m.WorkloadNamed("posts"); p == nil || p.Messages.Sent != 12 || len(m.Workloads) != 2 {
		t.Errorf("merged workloads = %+v; want posts with 12 sent, and idle", m.Workloads)
	}
}

// TestCompareWorkloads: comparing two mixed runs compares each workload too (rows
// "NAME: METRIC", judged with the same limits), and refuses runs whose workloads
// differ.
func TestCompareWorkloads(t *testing.T) {
	mk := func(lost uint64, scen string) *Report {
		w := &Report{SchemaVersion: SchemaVersion, Scenario: []byte(`{"scenario":"` + scen + `","duration":"10s"}`), Operations: map[string]Operation{},
			Messages: Messages{Sent: 10, ExpectedDeliveries: 10, Delivered: 10 - lost, Lost: lost}}
		r, err := Combine("m", []Workload{{Name: "posts", Report: w}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	c, err := Compare(mk(0, "steady"), mk(3, "steady"), CompareOptions{Limits: Limits{"lost": {Value: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range c.Rows {
		if r.Metric == "posts: messages lost" {
			found = r.Verdict == "REGRESSED"
		}
	}
	if !found || c.Regressions != 2 {
		t.Errorf("rows %+v, %d regressions; want the total's and posts' lost rows regressed", c.Rows, c.Regressions)
	}
	if _, err := Compare(mk(0, "steady"), mk(0, "fanout"), CompareOptions{}); !errors.Is(err, ErrScenarioMismatch) {
		t.Errorf("workloads of different scenarios: %v; want ErrScenarioMismatch", err)
	}
}

// TestWorkloadHTML: the HTML page of a mixed run shows its workloads side by side,
// one row each; a one-scenario run's page has no workloads section.
func TestWorkloadHTML(t *testing.T) {
	w := func(scen string, lost uint64) *Report {
		return &Report{SchemaVersion: SchemaVersion, Scenario: []byte(`{"scenario":"` + scen + `"}`), Operations: map[string]Operation{},
			Messages: Messages{Sent: 4, ExpectedDeliveries: 8, Delivered: 8 - lost, Lost: lost}}
	}
	r, err := Combine("m", []Workload{{Name: "posts", Report: w("steady", 0)}, {Name: "idle", Report: w("lurker", 2)}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	i, j := strings.Index(page, `<td class="l">posts</td><td class="l">steady</td>`), strings.Index(page, `<td class="l">idle</td><td class="l">lurker</td>`)
	if !strings.Contains(page, `id="workloads"`) || i < 0 || j < i {
		t.Errorf("page lacks the workloads, one row each in order")
	}
	b.Reset()
	if err := w("steady", 0).WriteHTML(&b); err != nil || strings.Contains(b.String(), `id="workloads"`) {
		t.Errorf("a one-scenario page has a workloads section (err %v)", err)
	}
}
