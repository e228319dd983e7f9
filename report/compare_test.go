package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// gateRun builds a run of steady intervals of 1 s, each with 200 deliveries whose
// latencies are 0.05..10 ms times that interval's scale (so its p99 is about 9.9 ms
// times the scale), and the generator's run-queue wait per wake-up waitUS in every
// interval. The run's totals are the intervals merged.
func gateRun(id string, scales []float64, waitUS float64) *Report {
	t0 := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	total := NewRecorder()
	var ivs []Interval
	for k, s := range scales {
		r := NewRecorder()
		for i := 1; i <= 200; i++ {
			r.Record(OpDelivery, time.Duration(float64(i)*s*50)*time.Microsecond, 0, nil)
		}
		w := waitUS
		ivs = append(ivs, Interval{Start: t0.Add(time.Duration(k) * time.Second), End: t0.Add(time.Duration(k+1) * time.Second),
			Phase: "steady", Operations: r.Operations(), Noise: &Noise{RunQueueWaitPerSliceUS: &w}})
		total.Merge(r)
	}
	n := uint64(200 * len(scales))
	return &Report{
		SchemaVersion: SchemaVersion, RunID: id, Scenario: seg(""), StartedAt: t0, EndedAt: t0.Add(time.Duration(len(scales)) * time.Second),
		EndReason: "completed", Load: Load{Model: "open", TargetRate: 200, AchievedRate: 200},
		Operations: total.Operations(), Intervals: ivs,
		Messages: Messages{Sent: n, Accepted: n, ExpectedDeliveries: n, Delivered: n},
		Noise:    &Noise{CPUs: 2, GeneratorCPUShare: 0.05},
	}
}

// wobble is n interval scales around m, +-30%, in an order set by phase: noise that
// a change must stand out of.
func wobble(n int, m, phase float64) []float64 {
	out := make([]float64, n)
	for k := range out {
		out[k] = m * (1 + 0.3*math.Sin(float64(k)*2.1+phase))
	}
	return out
}

func TestCompareSelfPasses(t *testing.T) {
	r := gateRun("a", wobble(15, 1, 0), 100)
	c, err := Compare(r, r, CompareOptions{LatencyFloor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	row := rowOf(t, c, "delivery p99")
	if c.Outcome != OutcomePass || c.Gated != 1 || row.Verdict != VerdictOK || *row.ChangePct != 0 || *row.P != 1 || row.NBase != 14 {
		t.Errorf("a run against itself: %s, %d gated, row %+v; want PASS with delivery p99 ~, change 0, p 1, 14 samples (15 less warm-up)", c.Outcome, c.Gated, row)
	}
}

func TestCompareNoiseAware(t *testing.T) {
	lim := DefaultLimits()
	cases := []struct {
		name      string
		base, cur []*Report
		outcome   string
		verdict   string
		note      string
	}{
		{"A/A", []*Report{gateRun("a", wobble(15, 1, 0), 100)}, []*Report{gateRun("b", wobble(15, 1, 1), 100)},
			OutcomePass, VerdictOK, ""},
		// The whole-run p99s differ by 15% (above the 10% limit), the intervals say it is noise.
		{"A/A, tails differ", []*Report{gateRun("a", append(wobble(14, 1, 0), 1), 100)}, []*Report{gateRun("b", append(wobble(14, 1, 2), 1.45), 100)},
			OutcomePass, VerdictOK, ""},
		{"+50%", []*Report{gateRun("a", wobble(15, 1, 0), 100)}, []*Report{gateRun("b", wobble(15, 1.5, 1), 100)},
			OutcomeRegressed, VerdictRegressed, ""},
		// Significant but within the limit: not a regression.
		{"+5%", []*Report{gateRun("a", wobble(15, 1, 0), 100)}, []*Report{gateRun("b", wobble(15, 1.05, 0), 100)},
			OutcomePass, VerdictOK, ""},
		{"-40%", []*Report{gateRun("a", wobble(15, 1, 0), 100)}, []*Report{gateRun("b", wobble(15, 0.6, 1), 100)},
			OutcomePass, VerdictImproved, ""},
		{"3 runs per side", []*Report{gateRun("a1", wobble(6, 1, 0), 100), gateRun("a2", wobble(6, 1, 1), 100), gateRun("a3", wobble(6, 1, 2), 100)},
			[]*Report{gateRun("b1", wobble(6, 1.3, 3), 100), gateRun("b2", wobble(6, 1.3, 4), 100), gateRun("b3", wobble(6, 1.3, 5), 100)},
			OutcomeRegressed, VerdictRegressed, ""},
		{"one value per side", []*Report{gateRun("a", []float64{1}, 100)}, []*Report{gateRun("b", []float64{3}, 100)},
			OutcomeInconclusive, VerdictInconclusive, "1 vs 1 samples cannot reach p < 0.010"},
		{"other load in NEW", []*Report{gateRun("a", wobble(15, 1, 0), 100)}, []*Report{gateRun("b", wobble(15, 1.5, 1), 400)},
			OutcomeInconclusive, VerdictInconclusive, "NEW's generator run-queue wait per wake-up was +300% against BASE's"},
		// Latency that follows the generator's own lateness (p99 ~ sqrt(lag)): a NEW side
		// whose generator was 8x later is not slower once adjusted, and one 1.5x slower
		// beyond its lag is.
		{"NEW's generator late", []*Report{lagDriven("a", wobble(15, 1000, 0), 1)}, []*Report{lagDriven("b", wobble(15, 8000, 1), 1)},
			OutcomePass, VerdictOK, ""},
		{"NEW late and slower", []*Report{lagDriven("a", wobble(15, 1000, 0), 1)}, []*Report{lagDriven("b", wobble(15, 8000, 1), 1.5)},
			OutcomeRegressed, VerdictRegressed, ""},
		{"more load in NEW, faster anyway", []*Report{gateRun("a", wobble(15, 1, 0), 100)}, []*Report{gateRun("b", wobble(15, 0.6, 1), 400)},
			OutcomePass, VerdictImproved, ""},
	}
	for _, c := range cases {
		cmp, err := CompareRuns(c.base, c.cur, CompareOptions{Limits: lim, LatencyFloor: time.Millisecond})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		row := rowOf(t, cmp, "delivery p99")
		if cmp.Outcome != c.outcome || row.Verdict != c.verdict || !strings.Contains(row.Note, c.note) {
			t.Errorf("%s: outcome %s, row %s (change %v, p %v, note %q); want %s, %s, note containing %q",
				c.name, cmp.Outcome, row.Verdict, deref(row.ChangePct), deref(row.P), row.Note, c.outcome, c.verdict, c.note)
		}
	}
}

// lagDriven is a run whose interval k had the generator's schedule lag p99 lags[k]
// (microseconds) and latencies extra * sqrt(lag / 1 ms) times gateRun's.
func lagDriven(id string, lags []float64, extra float64) *Report {
	scales := make([]float64, len(lags))
	for k, l := range lags {
		scales[k] = extra * math.Sqrt(l/1000)
	}
	r := gateRun(id, scales, 100)
	for k := range r.Intervals {
		r.Intervals[k].Generator.ScheduleLagP99US = lags[k]
	}
	return r
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// An interval in which the generator was late is left out; the rest of the run is judged.
func TestCompareLeavesOutLateIntervals(t *testing.T) {
	base := gateRun("a", wobble(15, 1, 0), 100)
	cur := gateRun("b", wobble(15, 2, 1), 100)
	for _, i := range []int{3, 7} {
		cur.Intervals[i].Generator.ScheduleLagP99US = 300_000
		w := 5000.0
		base.Intervals[i+1].Noise.RunQueueWaitPerSliceUS = &w
	}
	cmp, err := Compare(base, cur, CompareOptions{LatencyFloor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	row := rowOf(t, cmp, "delivery p99")
	notes := strings.Join(cmp.Notes, "\n")
	if row.Verdict != VerdictRegressed || row.NBase != 12 || row.NNew != 12 || !strings.Contains(notes, "NEW: 2 of 14 intervals left out") ||
		!strings.Contains(notes, "BASE: 2 of 14 intervals left out") {
		t.Errorf("row %+v, notes %q; want REGRESSED on 12 vs 12 samples, naming the intervals left out", row, notes)
	}
}

// A saturated run is not judged, whatever its latencies say.
func TestCompareRefusesSaturatedRuns(t *testing.T) {
	base := gateRun("a", wobble(15, 1, 0), 100)
	for _, c := range []struct {
		name string
		edit func(r *Report)
		why  string
	}{
		{"rate", func(r *Report) { r.Load.AchievedRate = 150 }, "achieved 150.0/s, 25.0% below the target 200.0/s"},
		{"dropped", func(r *Report) { r.Load.Dropped = 40 }, "dropped 40 operations"},
		{"cpu", func(r *Report) { r.Noise.GeneratorCPUShare = 0.95 }, "CPU-saturated: it used 95% of 2 CPUs"},
		// Late in every interval: each is left out, and nothing is left to judge.
		{"lag", func(r *Report) {
			for i := range r.Intervals {
				r.Intervals[i].Generator.ScheduleLagP99US = 250_000
			}
		}, "14 vs 0 samples cannot reach"},
		{"run queue", func(r *Report) { r.Noise.RunQueueWaitPerSliceUS = ptr(3000) }, "waited 3.00 ms per wake-up for a CPU"},
		{"steal", func(r *Report) { r.Noise.StealShare = ptr(0.2) }, "hypervisor stole 20%"},
	} {
		cur := gateRun("b", wobble(15, 2, 1), 100)
		c.edit(cur)
		cmp, err := Compare(base, cur, CompareOptions{LatencyFloor: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		row := rowOf(t, cmp, "delivery p99")
		if cmp.Outcome != OutcomeInconclusive || row.Verdict != VerdictInconclusive || !strings.Contains(row.Note, c.why) || (cmp.New[0].Saturated == "") != (c.name == "lag") {
			t.Errorf("%s: %s, row %s %q; want INCONCLUSIVE saying %q", c.name, cmp.Outcome, row.Verdict, row.Note, c.why)
		}
	}
}

func TestCompareRegressionMarkdownGolden(t *testing.T) {
	base, cur := gateRun("20250102T030405Z-7f3a", wobble(10, 1, 0), 100), gateRun("20250103T030405Z-9b1c", wobble(10, 1.5, 1), 100)
	c, err := Compare(base, cur, CompareOptions{LatencyFloor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Base[0].Name, c.New[0].Name = "base.json", "new.json"
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

// Counts and rates are judged on their means against the limit; latency limits
// still apply per operation, with the floor.
func TestCompareVerdicts(t *testing.T) {
	base := gateRun("a", wobble(15, 1, 0), 100)
	cur := gateRun("b", wobble(15, 1.5, 1), 100)
	cur.Messages.Lost, cur.Messages.Delivered = 6, cur.Messages.Delivered-6
	cur.Load.AchievedRate = 180
	cur.Load.TargetRate = 180 // held its own schedule: not saturated
	lim := DefaultLimits()
	if err := ParseLimits("p50=20%, delivery.p99=20ms, lost=0, loss_rate=0.001, rate=5%", lim); err != nil {
		t.Fatal(err)
	}
	c, err := Compare(base, cur, CompareOptions{Limits: lim, LatencyFloor: time.Millisecond, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ metric, verdict, limit string }{
		{"delivery p50", VerdictRegressed, "+20%"}, // +50% at 5 ms
		{"delivery p99", VerdictOK, "+20ms"},       // +5 ms: the op's own absolute limit wins over p99=10%
		{"delivery p90", VerdictNotGated, ""},
		{"messages lost", VerdictRegressed, "+0"},          // any new loss
		{"messages loss rate", VerdictRegressed, "+0.001"}, // 0.2% vs 0%
		{"messages duplicated", VerdictNotGated, ""},
		{"load achieved rate", VerdictRegressed, "-5%"}, // 10% fewer
	}
	for _, w := range cases {
		r := rowOf(t, c, w.metric)
		if r.Verdict != w.verdict || r.Limit != w.limit {
			t.Errorf("%s: verdict %q, limit %q; want %q, %q", w.metric, r.Verdict, r.Limit, w.verdict, w.limit)
		}
	}
	// Under the latency floor nothing regresses.
	c, err = Compare(base, cur, CompareOptions{Limits: lim, LatencyFloor: time.Second, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := rowOf(t, c, "delivery p50"); r.Verdict != VerdictOK {
		t.Errorf("delivery p50 under a 1 s floor: %q; want ~", r.Verdict)
	}
	// An operation gated in BASE but absent from NEW regresses.
	gone := gateRun("b", wobble(15, 1, 1), 100)
	delete(gone.Operations, "delivery")
	for i := range gone.Intervals {
		gone.Intervals[i].Operations = map[string]Operation{}
	}
	if c, err = Compare(base, gone, CompareOptions{LatencyFloor: time.Millisecond}); err != nil || rowOf(t, c, "delivery p99").Verdict != VerdictRegressed {
		t.Errorf("delivery gone from NEW: %v; want REGRESSED", err)
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
