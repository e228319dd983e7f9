package report

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Two halves of one run's samples, recorded and reported apart, merge into what one
// recorder that saw everything reports: counts exactly, percentiles to the bucket.
func TestMergeHalvesEqualWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	ss := samples(rng, 20000, false)
	whole, a, b := NewRecorder(), NewRecorder(), NewRecorder()
	for i, s := range ss {
		s.apply(whole)
		if i%3 == 0 { // uneven halves
			s.apply(a)
		} else {
			s.apply(b)
		}
	}
	ra := &Report{SchemaVersion: SchemaVersion, RunID: "a", Operations: a.Operations(), Failures: a.Failures(),
		Messages: Messages{Sent: 10, Delivered: 7, Lost: 1}}
	rb := &Report{SchemaVersion: SchemaVersion, RunID: "b", Operations: b.Operations(), Failures: b.Failures(),
		Messages: Messages{Sent: 5, Delivered: 4, Duplicated: 2}}
	m, err := Merge(ra, rb)
	if err != nil {
		t.Fatal(err)
	}
	want := whole.Operations()
	if len(m.Operations) != len(want) {
		t.Fatalf("merged %d operations; want %d", len(m.Operations), len(want))
	}
	for name, w := range want {
		g := m.Operations[name]
		if g.Count != w.Count || g.Errors != w.Errors {
			t.Errorf("%s: count %d errors %d; want %d and %d", name, g.Count, g.Errors, w.Count, w.Errors)
		}
		if g.LatencyUS != w.LatencyUS {
			t.Errorf("%s: latency %+v; want %+v", name, g.LatencyUS, w.LatencyUS)
		}
		hg, err := DecodeHistogram(g.Histogram)
		if err != nil {
			t.Fatal(err)
		}
		hw, _ := DecodeHistogram(w.Histogram)
		for _, p := range []float64{1, 25, 50, 90, 99, 99.9, 99.99, 100} {
			if x, y := hg.ValueAtPercentile(p), hw.ValueAtPercentile(p); x != y {
				t.Errorf("%s p%v = %d; want %d (same buckets: merging is exact)", name, p, x, y)
			}
		}
		if hg.TotalCount() != hw.TotalCount() {
			t.Errorf("%s: histogram holds %d values; want %d", name, hg.TotalCount(), hw.TotalCount())
		}
	}
	wf := whole.Failures()
	if len(m.Failures) != len(wf) {
		t.Fatalf("merged failures %v; want %v", m.Failures, wf)
	}
	for i, f := range m.Failures {
		if f.Class != wf[i].Class || f.Count != wf[i].Count || !reflect.DeepEqual(f.Codes, wf[i].Codes) {
			t.Errorf("failure %d = %v %d %v; want %v %d %v", i, f.Class, f.Count, f.Codes, wf[i].Class, wf[i].Count, wf[i].Codes)
		}
		if len(f.Examples) == 0 || len(f.Examples) > maxExamples {
			t.Errorf("failure %v has %d examples; want 1..%d", f.Class, len(f.Examples), maxExamples)
		}
	}
	if want := (Messages{Sent: 15, Delivered: 11, Lost: 1, Duplicated: 2}); m.Messages != want {
		t.Errorf("messages = %+v; want %+v", m.Messages, want)
	}
	if m.RunID != "a+1" {
		t.Errorf("run id = %q; want a+1 (the first and how many others)", m.RunID)
	}
}

func TestMergeOperationServiceAndEmpty(t *testing.T) {
	r := NewRecorder()
	r.Record(OpSend, 5*time.Millisecond, 2*time.Millisecond, nil)
	withSvc := r.Operations()["send"]
	onlyFailed := Operation{Count: 2, Errors: 2} // no histogram at all: a hand-made or failures-only entry
	got, err := MergeOperation(withSvc, onlyFailed)
	if err != nil {
		t.Fatal(err)
	}
	// Only one side has samples: its service summary is still right.
	if got.Count != 3 || got.Errors != 2 || got.ServiceUS == nil || *got.ServiceUS != *withSvc.ServiceUS {
		t.Errorf("merge with a failures-only side = %+v; want 3 ops, 2 errors, the service summary kept", got)
	}
	// Both sides have samples: service percentiles cannot be combined, so none.
	got, err = MergeOperation(withSvc, withSvc)
	if err != nil {
		t.Fatal(err)
	}
	if got.ServiceUS != nil || got.Count != 2 || got.LatencyUS.P50 != withSvc.LatencyUS.P50 {
		t.Errorf("merge of two with service = %+v; want no service summary, 2 ops, same p50", got)
	}
	if _, err := MergeOperation(Operation{Histogram: "HISTFAAAAxx"}, withSvc); err == nil {
		t.Error("merge of a corrupt histogram succeeded")
	}
}

func TestMergeFailures(t *testing.T) {
	a := []Failure{
		{Class: Timeout, Count: 3, Codes: map[string]uint64{NoCode: 3}, Examples: []string{"t1", "t2"}},
		{Class: Lost, Count: 1, Codes: map[string]uint64{NoCode: 1}, Examples: []string{"l1"}},
	}
	b := []Failure{
		{Class: Rejected, Count: 2, Codes: map[string]uint64{"403": 2}, Examples: []string{"r1"}},
		{Class: Timeout, Count: 2, Codes: map[string]uint64{NoCode: 1, "408": 1}, Examples: []string{"t2", "t3", "t4"}},
	}
	got := MergeFailures(a, b)
	want := []Failure{
		{Class: Timeout, Count: 5, Codes: map[string]uint64{NoCode: 4, "408": 1}, Examples: []string{"t1", "t2", "t3"}},
		{Class: Rejected, Count: 2, Codes: map[string]uint64{"403": 2}, Examples: []string{"r1"}},
		{Class: Lost, Count: 1, Codes: map[string]uint64{NoCode: 1}, Examples: []string{"l1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeFailures =\n%v\nwant\n%v", got, want)
	}
	if a[0].Count != 3 || len(a[0].Examples) != 2 || a[0].Codes[NoCode] != 3 {
		t.Errorf("MergeFailures modified its input: %+v", a[0])
	}
	if got := MergeFailures(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("MergeFailures(nil, nil) = %#v; want an empty, non-nil list", got)
	}

	// 40 codes over two sides: the 32 most frequent are kept, the rest go under NoCode.
	x, y := Failure{Class: Rejected, Codes: map[string]uint64{}}, Failure{Class: Rejected, Codes: map[string]uint64{}}
	for i := range 20 {
		x.Codes[fmt.Sprint(400+i)] = uint64(100 + i)
		y.Codes[fmt.Sprint(500+i)] = uint64(1 + i)
		x.Count += uint64(100 + i)
		y.Count += uint64(1 + i)
	}
	m := MergeFailures([]Failure{x}, []Failure{y})[0]
	var sum uint64
	for _, n := range m.Codes {
		sum += n
	}
	if len(m.Codes) != maxCodes+1 || sum != m.Count || m.Codes[NoCode] != 1+2+3+4+5+6+7+8 || m.Codes["519"] != 20 {
		t.Errorf("bounded codes: %d codes summing to %d (count %d), NoCode %d; want 33 summing to the count, 36 under NoCode",
			len(m.Codes), sum, m.Count, m.Codes[NoCode])
	}
}

func seg(segment string) json.RawMessage {
	if segment == "" {
		return json.RawMessage(`{"scenario":"steady","rate":"200/s","duration":"10s"}`)
	}
	return json.RawMessage(`{"scenario":"steady","rate":"200/s","duration":"10s","segment":"` + segment + `"}`)
}

func TestMergeSegments(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	iv := func(start int, sent uint64, phase string) Interval {
		return Interval{Start: t0.Add(time.Duration(start) * time.Second), End: t0.Add(time.Duration(start+10) * time.Second),
			Phase: phase, Messages: Messages{Sent: sent}, Load: IntervalLoad{AchievedRate: float64(sent) / 10, InFlight: 2},
			Generator: Generator{CPUSeconds: 0.5, MaxRSSBytes: sent << 20}}
	}
	a := &Report{SchemaVersion: SchemaVersion, RunID: "r1", Scenario: seg("0/2"), StartedAt: t0, EndedAt: t0.Add(20 * time.Second),
		EndReason: "completed", Load: Load{Model: "open", TargetRate: 100, AchievedRate: 99, Dropped: 1},
		Generator: Generator{CPUSeconds: 1, MaxRSSBytes: 10, ScheduleLagP99US: 50, Workers: 4, Note: "GOMAXPROCS=2"},
		Intervals: []Interval{iv(0, 100, "setup"), iv(10, 200, "steady")}}
	b := &Report{SchemaVersion: SchemaVersion, RunID: "r2", Scenario: seg("1/2"), StartedAt: t0.Add(-time.Second), EndedAt: t0.Add(21 * time.Second),
		EndReason: "interrupted", Load: Load{Model: "open", TargetRate: 100, AchievedRate: 98},
		Generator: Generator{CPUSeconds: 2, MaxRSSBytes: 30, ScheduleLagP99US: 20, Workers: 4, Note: "GOMAXPROCS=2"},
		Intervals: []Interval{iv(10, 300, "steady"), iv(20, 50, "drain")}}
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"scenario":"steady","rate":"200/s","duration":"10s","segment":""}`; string(m.Scenario) != want {
		t.Errorf("merged scenario %s; want %s: the same settings, the whole run's segment", m.Scenario, want)
	}
	if !m.StartedAt.Equal(b.StartedAt) || !m.EndedAt.Equal(b.EndedAt) || m.EndReason != "interrupted" {
		t.Errorf("run %v..%v %s; want the earliest start, latest end, the worst end reason", m.StartedAt, m.EndedAt, m.EndReason)
	}
	if m.Load != (Load{Model: "open", TargetRate: 200, AchievedRate: 197, Dropped: 1}) {
		t.Errorf("load = %+v; want rates and drops summed", m.Load)
	}
	g := m.Generator
	if g.CPUSeconds != 3 || g.MaxRSSBytes != 30 || g.ScheduleLagP99US != 50 || g.Workers != 8 || g.Note != "GOMAXPROCS=2" {
		t.Errorf("generator = %+v; want cpu and workers summed, rss and lag the worst, one note", g)
	}
	var starts []int
	for _, iv := range m.Intervals {
		starts = append(starts, int(iv.Start.Sub(t0)/time.Second))
	}
	if !slices.Equal(starts, []int{0, 10, 20}) {
		t.Fatalf("interval starts %v; want 0 10 20 (aligned by start, in order)", starts)
	}
	mid := m.Intervals[1]
	if mid.Messages.Sent != 500 || mid.Load.AchievedRate != 50 || mid.Load.InFlight != 4 || mid.Generator.MaxRSSBytes != 300<<20 {
		t.Errorf("merged interval = %+v; want sums and the worst rss", mid)
	}
	if a.Intervals[1].Messages.Sent != 200 || len(a.Intervals) != 2 {
		t.Error("Merge modified its input")
	}
}

func TestMergeRefuses(t *testing.T) {
	r := func(id string, sc json.RawMessage) *Report {
		return &Report{SchemaVersion: SchemaVersion, RunID: id, Scenario: sc}
	}
	other := json.RawMessage(`{"scenario":"steady","rate":"300/s","duration":"10s","segment":"1/2"}`)
	cases := []struct {
		name    string
		reports []*Report
		want    string
	}{
		{"none", nil, "no reports"},
		{"nil", []*Report{r("a", seg("")), nil}, "report 2 is nil"},
		{"schema", []*Report{r("a", seg("")), {SchemaVersion: 2, RunID: "b"}}, "schema_version 2"},
		// Segments of different runs: the setting that differs is named with both values.
		{"scenario", []*Report{r("a", seg("0/2")), r("b", other)}, `rate is "200/s" in report 1 and "300/s" in report 2`},
		// The same segment twice would count its messages twice.
		{"same segment", []*Report{r("a", seg("0/2")), r("b", seg("1/2")), r("c", seg("1/2"))}, "reports 2 and 3 are both of segment"},
		{"not json", []*Report{r("a", json.RawMessage(`[1]`))}, "not a JSON object"},
		// One report given twice (same run id and segment): counted twice otherwise.
		{"same report", []*Report{r("a", seg("")), r("a", seg(""))}, "reports 1 and 2 are both of run a (segment none: the whole run)"},
	}
	for _, c := range cases {
		_, err := Merge(c.reports...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Merge = %v; want an error containing %q", c.name, err, c.want)
		}
	}
	// Unsegmented reports of one scenario merge (e.g. repeated runs), and keep it whole.
	m, err := Merge(r("a", seg("")), r("b", seg("")))
	if err != nil || string(m.Scenario) != string(seg("")) || m.RunID != "a+1" {
		t.Errorf("Merge of two unsegmented reports = %v, %v", m, err)
	}
}

// A report merged with nothing is itself (as the JSON report says).
func TestMergeOne(t *testing.T) {
	r := sampleReport()
	m, err := Merge(r)
	if err != nil {
		t.Fatal(err)
	}
	var a, b strings.Builder
	if err := r.WriteJSON(&a); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("Merge(r) differs from r:\n%s\nwant\n%s", b.String(), a.String())
	}
}

// Segments started a little apart (as pods of an Indexed Job are) line up by time: each
// interval joins the merged one nearest its start.
func TestMergeIntervalsOffset(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	run := func(segment string, skew, every time.Duration, n int) *Report {
		r := &Report{SchemaVersion: SchemaVersion, RunID: segment, Scenario: seg(segment), StartedAt: t0.Add(skew)}
		for k := range n {
			start := t0.Add(skew + time.Duration(k)*every)
			end := start.Add(every)
			if k == n-1 {
				end = start.Add(every / 3) // the last one ends with the run
			}
			r.Intervals = append(r.Intervals, Interval{Start: start, End: end, Messages: Messages{Sent: 1}})
		}
		return r
	}
	m, err := Merge(run("0/3", 0, 10*time.Second, 3), run("1/3", 1300*time.Millisecond, 10*time.Second, 3),
		run("2/3", 4*time.Second, 10*time.Second, 2))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, iv := range m.Intervals {
		got = append(got, fmt.Sprintf("%v-%v:%d", iv.Start.Sub(t0), iv.End.Sub(t0), iv.Messages.Sent))
	}
	want := []string{"0s-14s:3", "10s-21.3s:3", "20s-24.633333333s:2"}
	if !slices.Equal(got, want) {
		t.Errorf("merged intervals %v; want %v", got, want)
	}
	// Different --interval: the rows cannot line up.
	if _, err := Merge(run("0/2", 0, 10*time.Second, 3), run("1/2", 0, 5*time.Second, 3)); err == nil ||
		!strings.Contains(err.Error(), "same --interval") {
		t.Errorf("Merge of 10s and 5s intervals = %v; want a refusal", err)
	}
}
