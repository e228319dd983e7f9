package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// slower returns a copy of r whose delivery p99 is 50% higher.
func slower(r *Report) *Report {
	c := *r
	c.RunID = "20250103T030405Z-9b1c"
	c.Operations = map[string]Operation{}
	for k, o := range r.Operations {
		c.Operations[k] = o
	}
	d := c.Operations["delivery"]
	d.LatencyUS.P99 *= 1.5
	c.Operations["delivery"] = d
	return &c
}

func TestCompareSelfPasses(t *testing.T) {
	r := sampleReport()
	c, err := Compare(r, r, CompareOptions{LatencyFloor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if c.Regressed || c.Regressions != 0 || c.Gated != 6 { // p99 of 6 operations
		t.Errorf("a run against itself: regressed %v, %d of %d gated; want none of 6", c.Regressed, c.Regressions, c.Gated)
	}
	for _, row := range c.Rows {
		if row.ChangePct == nil || *row.ChangePct != 0 {
			t.Errorf("%s: change %v; want 0", row.Metric, row.ChangePct)
		}
	}
}

func TestCompareRegressionMarkdownGolden(t *testing.T) {
	base, cur := sampleReport(), slower(sampleReport())
	c, err := Compare(base, cur, CompareOptions{LatencyFloor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Base.Name, c.New.Name = "base.json", "new.json"
	if !c.Regressed || c.Regressions != 1 {
		t.Errorf("regressed %v with %d regressions; want delivery p99 only", c.Regressed, c.Regressions)
	}
	var md, tab, js bytes.Buffer
	if err := c.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare_regressed.md", md.Bytes())
	if err := c.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare_regressed.txt", tab.Bytes())
	if err := c.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !back.Regressed || len(back.Rows) != len(c.Rows) {
		t.Errorf("JSON = %s (%v); want the comparison back", js.String(), err)
	}
}

// rowOf returns the verdict of the row named metric.
func rowOf(t *testing.T, c *Comparison, metric string) CompareRow {
	t.Helper()
	for _, r := range c.Rows {
		if r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no row %q", metric)
	return CompareRow{}
}

func TestCompareVerdicts(t *testing.T) {
	op := func(p50, p99 float64) Operation {
		return Operation{Count: 10, LatencyUS: Latency{P50: p50, P90: p50, P99: p99, P999: p99, Max: p99}}
	}
	rep := func(ops map[string]Operation, m Messages, rate float64) *Report {
		return &Report{SchemaVersion: SchemaVersion, Scenario: seg(""), Operations: ops, Messages: m, Load: Load{AchievedRate: rate}}
	}
	base := rep(map[string]Operation{"send": op(200, 500), "delivery": op(20000, 40000), "join": op(5000, 9000)},
		Messages{ExpectedDeliveries: 1000, Delivered: 1000}, 100)
	cur := rep(map[string]Operation{"send": op(300, 900), "delivery": op(30000, 41000)},
		Messages{ExpectedDeliveries: 1000, Delivered: 998, Lost: 2}, 90)
	lim := DefaultLimits()
	if err := ParseLimits("p50=20%, delivery.p99=1ms, lost=0, loss_rate=0.001, rate=5%", lim); err != nil {
		t.Fatal(err)
	}
	c, err := Compare(base, cur, CompareOptions{Limits: lim, LatencyFloor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ metric, verdict, limit string }{
		{"send p50", VerdictOK, "+20%"},                    // +50%, but 0.3 ms is under the 1 ms floor
		{"send p99", VerdictOK, "+10%"},                    // +80%, under the floor too
		{"delivery p50", VerdictRegressed, "+20%"},         // +50% at 30 ms
		{"delivery p99", VerdictOK, "+1ms"},                // +1 ms exactly: the op's own absolute limit wins over p99=10%
		{"delivery p90", VerdictNotGated, ""},              // no limit for p90
		{"join p99", VerdictRegressed, "+10%"},             // gated but not in the new run
		{"messages lost", VerdictRegressed, "+0"},          // any new loss
		{"messages loss rate", VerdictRegressed, "+0.001"}, // 0.2% vs 0%: more than 0.1 points
		{"messages duplicated", VerdictNotGated, ""},
		{"load achieved rate", VerdictRegressed, "-5%"}, // 10% fewer
	}
	for _, w := range cases {
		r := rowOf(t, c, w.metric)
		if r.Verdict != w.verdict || r.Limit != w.limit {
			t.Errorf("%s: verdict %q, limit %q; want %q, %q", w.metric, r.Verdict, r.Limit, w.verdict, w.limit)
		}
	}
	if r := rowOf(t, c, "messages loss rate"); r.Unit != "%" || r.New == nil || *r.New != 0.2 {
		t.Errorf("loss rate row %+v; want 0.2 in %%", r)
	}

	// Better by more than the limit: improved.
	c, err = Compare(cur, base, CompareOptions{Limits: lim, LatencyFloor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r := rowOf(t, c, "delivery p50"); r.Verdict != VerdictImproved {
		t.Errorf("delivery p50 30 -> 20 ms: %q; want improved", r.Verdict)
	}
	if r := rowOf(t, c, "join p99"); r.Verdict != VerdictOK || r.Base != nil {
		t.Errorf("an operation new in NEW: %+v; want ok with no base", r)
	}
}

func TestCompareScenarios(t *testing.T) {
	base := sampleReport()
	other := *base
	other.Scenario = json.RawMessage(`{"scenario":"steady","protocol":"imc","transport":"udp","rate":"500/s","duration":"5s","pairs":10}`)
	_, err := Compare(base, &other, CompareOptions{})
	if !errors.Is(err, ErrScenarioMismatch) || !strings.Contains(err.Error(), `rate is "200/s" in BASE and "500/s" in NEW`) {
		t.Errorf("Compare of different rates = %v; want ErrScenarioMismatch naming the rate", err)
	}
	if _, err := Compare(base, &other, CompareOptions{Force: true}); err != nil {
		t.Errorf("Compare with Force = %v", err)
	}
	// Duration, seed, target and thresholds may differ: same workload.
	same := *base
	same.Scenario = json.RawMessage(`{"scenario":"steady","protocol":"imc","transport":"udp","rate":"200/s","duration":"1m","pairs":10,"seed":5,"target":"x:5060","thresholds":["messages.lost == 0"]}`)
	if _, err := Compare(base, &same, CompareOptions{}); err != nil {
		t.Errorf("Compare of a longer run with another seed and target = %v", err)
	}
}

func TestParseLimits(t *testing.T) {
	l := DefaultLimits()
	if err := ParseLimits("p99=off,max=2s,send.p50=15%,duplicated=3,rate=10", l); err != nil {
		t.Fatal(err)
	}
	want := Limits{"p99": {Off: true}, "max": {Value: 2e6}, "send.p50": {Value: 0.15, Relative: true},
		"duplicated": {Value: 3}, "rate": {Value: 10}}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %+v; want %+v", k, l[k], v)
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"p99", "want KEY=LIMIT"},  // no value
		{"p98=10%", "unknown key"}, // not a percentile compared
		{"teleport.p99=10%", "unknown operation"},
		{"p99=-5%", "a percent of 0 or more"},
		{"p99=fast", "a duration"},           // latency: % or a duration
		{"lost=-1", "a number of 0 or more"}, // counts are not negative
	} {
		err := ParseLimits(bad.in, Limits{})
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), bad.in) {
			t.Errorf("ParseLimits(%q) = %v; want an error naming it and containing %q", bad.in, err, bad.want)
		}
	}
}
