package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter/tw"
)

// Limit is how much worse than the baseline one compared metric may get: Relative
// (a fraction of the baseline's value: 0.1 for "10%") or absolute (in the metric's
// unit: microseconds for latencies, a count, a fraction for loss_rate, per second
// for rate); Off means the metric is shown but not gated. A plain value.
type Limit struct {
	Value    float64
	Relative bool
	Off      bool
}

// String shows the limit as --max-regress takes it: "10%", "5ms", "0", "off".
func (l Limit) String() string {
	switch {
	case l.Off:
		return "off"
	case l.Relative:
		return strconv.FormatFloat(l.Value*100, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(l.Value, 'f', -1, 64)
}

// Limits maps a --max-regress key to its limit. Keys: p50, p90, p99, p999 and max
// (that latency percentile of every operation), OP.PCT for one operation
// ("delivery.p99": it wins over PCT), lost, duplicated, loss_rate (messages), and
// rate (the achieved rate, which regresses by going down). A plain map: not safe for
// concurrent writes.
type Limits map[string]Limit

// DefaultLimits returns the limits compare uses when not told otherwise: p99 may be
// 10% worse than the baseline. It is safe for concurrent use.
func DefaultLimits() Limits { return Limits{"p99": {Value: 0.1, Relative: true}} }

var comparePercentiles = []string{"p50", "p90", "p99", "p999", "max"}

// ParseLimits reads a --max-regress list ("p99=10%,p50=20%,lost=0") into l, replacing
// the keys it names. A value is a percent of the baseline (10%), an absolute amount
// in the metric's unit (a duration such as 5ms for latencies, a count for lost and
// duplicated, a fraction for loss_rate, a number per second for rate), or "off". The
// error names the item and what is wrong. It is not safe for concurrent use of l.
func ParseLimits(s string, l Limits) error {
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if !ok || key == "" || val == "" {
			return fmt.Errorf("%q: want KEY=LIMIT such as p99=10%%", item)
		}
		latency, err := limitKey(key)
		if err != nil {
			return fmt.Errorf("%q: %w", item, err)
		}
		lim, err := parseLimit(val, latency)
		if err != nil {
			return fmt.Errorf("%q: %w", item, err)
		}
		l[key] = lim
	}
	return nil
}

// limitKey checks a --max-regress key and says whether it is a latency.
func limitKey(key string) (latency bool, err error) {
	switch key {
	case "lost", "duplicated", "loss_rate", "rate":
		return false, nil
	}
	pct := key
	if op, p, ok := strings.Cut(key, "."); ok {
		if _, err := ParseOp(op); err != nil {
			return false, err
		}
		pct = p
	}
	if slices.Contains(comparePercentiles, pct) {
		return true, nil
	}
	return false, errors.New("unknown key: want p50, p90, p99, p999, max, OP.p99 (e.g. delivery.p99), lost, duplicated, loss_rate or rate")
}

func parseLimit(val string, latency bool) (Limit, error) {
	if val == "off" || val == "none" {
		return Limit{Off: true}, nil
	}
	if p, ok := strings.CutSuffix(val, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return Limit{}, fmt.Errorf("%s: want a percent of 0 or more, such as 10%%", val)
		}
		return Limit{Value: f / 100, Relative: true}, nil
	}
	if latency {
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 {
			return Limit{}, fmt.Errorf("%s: want a percent (10%%) or a duration (5ms)", val)
		}
		return Limit{Value: float64(d) / 1e3}, nil
	}
	f, err := strconv.ParseFloat(val, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return Limit{}, fmt.Errorf("%s: want a percent (10%%), a number of 0 or more, or off", val)
	}
	return Limit{Value: f}, nil
}

// DefaultAlpha is compare's significance level: a change is statistically real when
// the Mann-Whitney test's two-sided p-value is below it. Strict, because a gate that
// fails at random gets switched off.
const DefaultAlpha = 0.01

// CompareOptions tunes Compare. A plain value.
type CompareOptions struct {
	// Limits gate the rows; nil means DefaultLimits.
	Limits Limits
	// LatencyFloor: a latency regresses only when its new value is at least this (and a
	// latency row where both values are below it is "~"): at microseconds, 10% is noise.
	LatencyFloor time.Duration
	// MinSamples: a limit given for all operations (p99=10%) judges an operation's
	// percentiles only when every run has at least this many of it; with 20 log-ons a
	// p99 is one sample and its change is noise. A per-operation limit (join.p99=10%)
	// always judges. 0 judges everything.
	MinSamples uint64
	// Alpha is the significance level (0: DefaultAlpha).
	Alpha float64
	// Health says when a run's generator was saturated (zero value:
	// DefaultHealthLimits); the latencies of such runs are not judged.
	Health *HealthLimits
	// Force compares runs of different scenarios.
	Force bool
}

// The verdicts of a compared row.
const (
	VerdictOK           = "~" // no significant change beyond the limit
	VerdictRegressed    = "REGRESSED"
	VerdictImproved     = "IMPROVED"
	VerdictInconclusive = "INCONCLUSIVE"
	VerdictNotGated     = "-"
)

// CompareRow is one compared metric. Values are in Unit ("ms", "%", "/s" or "" for
// counts): for latencies the percentile of each side's runs merged, for counts and
// rates each side's mean per run; Base or New is nil when that side has no value (an
// operation that did not run, a loss rate without expected deliveries). ChangePct is
// the change: for latencies the Hodges-Lehmann estimate of the shift of the
// per-interval percentiles, with its confidence interval CILowPct..CIHighPct at level
// 1-alpha and the Mann-Whitney p-value P over NBase and NNew samples; for counts and
// rates the change of the means. Verdict is ~, REGRESSED, IMPROVED, INCONCLUSIVE
// (Note says why) or "-" (not gated). A plain value.
type CompareRow struct {
	Metric    string   `json:"metric"`
	Unit      string   `json:"unit"`
	Base      *float64 `json:"base"`
	New       *float64 `json:"new"`
	ChangePct *float64 `json:"change_pct"`
	CILowPct  *float64 `json:"ci_low_pct,omitempty"`
	CIHighPct *float64 `json:"ci_high_pct,omitempty"`
	P         *float64 `json:"p_value,omitempty"`
	NBase     int      `json:"n_base,omitempty"`
	NNew      int      `json:"n_new,omitempty"`
	// LagSlope, when set, is the slope (log latency per log schedule lag) by which the
	// samples were adjusted for the generator's lateness (see adjustForLag).
	LagSlope *float64 `json:"lag_slope,omitempty"`
	Limit    string   `json:"limit,omitempty"`
	Verdict  string   `json:"verdict"`
	Note     string   `json:"note,omitempty"`
}

// CompareRun names one run of a comparison. A plain value.
type CompareRun struct {
	Name  string `json:"name"` // the file it was read from, set by the caller
	RunID string `json:"run_id"`
	// Saturated says why this run's generator could not be trusted ("" when it could).
	Saturated string `json:"saturated,omitempty"`
	Noise     *Noise `json:"noise,omitempty"`
}

// Comparison is the baseline runs compared with the new runs, row by row. Outcome is
// PASS, REGRESSED (exit 3) or INCONCLUSIVE (a gated row could not be judged: too few
// samples, saturated runs, other load that differs between the sides; exit 5). A plain
// value, safe for concurrent reads.
type Comparison struct {
	Base           []CompareRun `json:"base"`
	New            []CompareRun `json:"new"`
	Outcome        string       `json:"outcome"`
	Regressed      bool         `json:"regressed"`
	Regressions    int          `json:"regressions"`
	Inconclusive   int          `json:"inconclusive"`
	Gated          int          `json:"gated"`
	Alpha          float64      `json:"alpha"`
	Method         string       `json:"method"`
	LatencyFloorMS float64      `json:"latency_floor_ms"`
	Limits         []string     `json:"limits"` // "p99=10%", sorted
	Notes          []string     `json:"notes"`  // what the comparison can tell, and why not
	Rows           []CompareRow `json:"rows"`
}

// The outcomes of a comparison.
const (
	OutcomePass         = "PASS"
	OutcomeRegressed    = "REGRESSED"
	OutcomeInconclusive = "INCONCLUSIVE"
)

// ErrScenarioMismatch is wrapped by Compare's error for runs of different scenarios.
var ErrScenarioMismatch = errors.New("the runs are of different scenarios")

// compareIgnored are the scenario settings two compared runs may differ in: they do
// not change the workload (how long, the assignment seed, where to) or only judge it.
var compareIgnored = []string{"duration", "seed", "target", "thresholds", "allow-failures"}

// confoundShift and confoundP: when the new side's generator waited at least this
// much longer (or shorter) per wake-up for a CPU than the base side's (Hodges-Lehmann
// estimate on the per-interval figures), with p below confoundP, a latency change in
// the same direction may be other load's: it is INCONCLUSIVE, not judged.
const (
	confoundShift = 0.25
	confoundP     = 0.05
)

// Compare compares one new run with one baseline run: CompareRuns with one run per side.
func Compare(base, cur *Report, o CompareOptions) (*Comparison, error) {
	return CompareRuns([]*Report{base}, []*Report{cur}, o)
}

// CompareRuns compares new runs with baseline runs (docs/spec/thresholds-compare-merge.md):
// for every operation the latency percentiles p50, p90, p99, p999 and max, then the
// messages lost, duplicated and the loss rate (when a run expected deliveries) and the
// achieved rate.
//
// A latency's samples are its per-interval values in every run of a side (steady
// intervals with enough operations for the percentile; the first of five or more is
// warm-up and left out), or, for runs without such intervals, the run's own value. A
// gated latency row REGRESSES when the Mann-Whitney test finds the sides different
// (p < alpha) and the Hodges-Lehmann estimate of the change is worse than the limit;
// IMPROVED likewise; INCONCLUSIVE when the samples are too few for any p-value below
// alpha, when a run of either side was saturated (Saturation), or when the sides' other
// load differs enough to explain the change; "~" otherwise. Counts and the rate are
// judged on their means against the limit. Runs whose scenarios differ in settings
// other than duration, seed, target, thresholds and allow-failures are refused
// (ErrScenarioMismatch) unless Force. It is safe for concurrent use.
func CompareRuns(base, cur []*Report, o CompareOptions) (*Comparison, error) {
	if len(base) == 0 || len(cur) == 0 {
		return nil, errors.New("compare needs at least one run on each side")
	}
	mixed := false
	for _, r := range append(slices.Clip(base), cur...) {
		mixed = mixed || len(r.Workloads) > 0
	}
	if !o.Force && mixed {
		for _, r := range append(base[1:len(base):len(base)], cur...) {
			if err := sameWorkloads(base[0], r); err != nil {
				return nil, err
			}
		}
	} else if !o.Force {
		a, err := scenarioFields(base[0].Scenario)
		if err != nil {
			return nil, fmt.Errorf("BASE: %w", err)
		}
		for i, r := range append(base[1:len(base):len(base)], cur...) {
			side := "BASE"
			if i >= len(base)-1 {
				side = "NEW"
			}
			b, err := scenarioFields(r.Scenario)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", side, err)
			}
			if k, x, y, same := diffFields(a, b, compareIgnored...); !same {
				return nil, fmt.Errorf("%w: %s is %s in BASE and %s in %s", ErrScenarioMismatch, k, x, y, side)
			}
		}
	}
	lim := o.Limits
	if lim == nil {
		lim = DefaultLimits()
	}
	alpha := o.Alpha
	if alpha <= 0 {
		alpha = DefaultAlpha
	}
	health := DefaultHealthLimits()
	if o.Health != nil {
		health = *o.Health
	}
	c := &Comparison{
		Alpha:          alpha,
		Method:         "Mann-Whitney U over per-interval percentiles, Hodges-Lehmann change and interval",
		LatencyFloorMS: float64(o.LatencyFloor) / 1e6,
		Limits:         []string{},
		Notes:          []string{},
		Rows:           []CompareRow{},
	}
	// A run is refused whole when it did not hold its schedule, or its generator was
	// short of CPU over the run; an interval in which the generator was late by more than
	// the lag limit, or waited more than the wait limit per wake-up, is left out of the
	// samples (its latencies are the generator's), the rest of the run is judged.
	runHealth := health
	runHealth.LagP99US = 0
	usable := func(iv Interval) bool {
		return noiseProblem(iv.Noise, iv.Generator.ScheduleLagP99US, HealthLimits{
			CPUShare: 2, RunQueueWaitUS: health.RunQueueWaitUS, Steal: 2, LagP99US: health.LagP99US}) == ""
	}
	var saturated []string
	side := func(rs []*Report, label string) []CompareRun {
		out := make([]CompareRun, len(rs))
		for i, r := range rs {
			out[i] = CompareRun{Name: r.RunID, RunID: r.RunID, Saturated: Saturation(r, runHealth), Noise: r.Noise}
			if out[i].Saturated != "" {
				saturated = append(saturated, fmt.Sprintf("%s run %s: %s", label, r.RunID, out[i].Saturated))
			}
		}
		return out
	}
	c.Base, c.New = side(base, "BASE"), side(cur, "NEW")
	for k, l := range lim {
		c.Limits = append(c.Limits, k+"="+l.String())
	}
	slices.Sort(c.Limits)
	floorMS := float64(o.LatencyFloor) / 1e6
	conf := confounding(base, cur, usable)
	for _, side := range []struct {
		name string
		rs   []*Report
	}{{"BASE", base}, {"NEW", cur}} {
		all, left := 0, 0
		for _, r := range side.rs {
			for _, iv := range steadyIntervals(r) {
				all++
				if !usable(iv) {
					left++
				}
			}
		}
		if left > 0 {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: %d of %d intervals left out: the generator's schedule lag p99 above %s ms or its run-queue wait above %s ms per wake-up",
				side.name, left, all, formatMS(health.LagP99US), formatMS(health.RunQueueWaitUS)))
		}
	}

	var ops []string
	for _, r := range append(slices.Clip(base), cur...) {
		for _, n := range opOrder(r.Operations) {
			if !slices.Contains(ops, n) {
				ops = append(ops, n)
			}
		}
	}
	slices.SortStableFunc(ops, func(a, b string) int { return opIndex(a) - opIndex(b) })
	for _, op := range ops {
		bo, bok := pooled(base, op)
		no, nok := pooled(cur, op)
		for _, p := range comparePercentiles {
			row := CompareRow{Metric: op + " " + p, Unit: "ms"}
			if bok {
				row.Base = ptr(bo[p] / 1e3)
			}
			if nok {
				row.New = ptr(no[p] / 1e3)
			}
			xs, xl := latencySamples(base, op, p, usable)
			ys, yl := latencySamples(cur, op, p, usable)
			if xa, ya, slope, ok := adjustForLag(xs, xl, ys, yl); ok {
				xs, ys = xa, ya
				row.LagSlope = ptr(math.Round(slope*1e3) / 1e3)
			}
			l, gated := lim[op+"."+p]
			if !gated {
				l, gated = lim[p]
				gated = gated && enough(base, cur, op, o.MinSamples)
			}
			c.judgeLatency(&row, xs, ys, l, gated && !l.Off, floorMS, saturated, conf)
		}
	}
	anyMessages := false
	for _, r := range append(slices.Clip(base), cur...) {
		anyMessages = anyMessages || r.Messages != (Messages{})
	}
	if anyMessages {
		for _, m := range []struct {
			key, name string
			get       func(Messages) *float64
		}{
			{"lost", "messages lost", func(m Messages) *float64 { return ptr(float64(m.Lost)) }},
			{"duplicated", "messages duplicated", func(m Messages) *float64 { return ptr(float64(m.Duplicated)) }},
			{"loss_rate", "messages loss rate", func(m Messages) *float64 {
				if m.ExpectedDeliveries == 0 {
					return nil
				}
				return ptr(float64(m.Lost) / float64(m.ExpectedDeliveries))
			}},
		} {
			mean := func(rs []*Report) *float64 {
				return meanOf(rs, func(r *Report) *float64 { return m.get(r.Messages) })
			}
			row := CompareRow{Metric: m.name, Base: mean(base), New: mean(cur), NBase: len(base), NNew: len(cur)}
			l, gated := lim[m.key]
			c.judge(&row, l, gated && !l.Off, false, -1)
			if m.key == "loss_rate" { // shown in percent; judged on the fraction above
				row.Unit = "%"
				row.Base, row.New = timesPtr(row.Base, 100), timesPtr(row.New, 100)
			}
			c.Rows[len(c.Rows)-1] = row
		}
	}
	rate := func(rs []*Report) *float64 {
		return meanOf(rs, func(r *Report) *float64 { return ptr(r.Load.AchievedRate) })
	}
	row := CompareRow{Metric: "load achieved rate", Unit: "/s", Base: rate(base), New: rate(cur), NBase: len(base), NNew: len(cur)}
	l, gated := lim["rate"]
	c.judge(&row, l, gated && !l.Off, true, -1)

	// A mixed run's workloads, each compared as runs of their own, rows named
	// "WORKLOAD: METRIC" after the totals'.
	for _, bw := range base[0].Workloads {
		bws, cws := workloadRuns(base, bw.Name), workloadRuns(cur, bw.Name)
		if bws == nil || cws == nil {
			continue
		}
		so := o
		so.Force = true // checked above
		sub, err := CompareRuns(bws, cws, so)
		if err != nil {
			return nil, fmt.Errorf("workload %s: %w", bw.Name, err)
		}
		for _, r := range sub.Rows {
			r.Metric = bw.Name + ": " + r.Metric
			c.Rows = append(c.Rows, r)
		}
		c.Regressions += sub.Regressions
		c.Inconclusive += sub.Inconclusive
		c.Gated += sub.Gated
	}
	c.Notes = append(c.Notes, saturated...)
	if conf.note != "" {
		c.Notes = append(c.Notes, conf.note)
	}
	if len(base) == 1 || len(cur) == 1 {
		c.Notes = append(c.Notes, fmt.Sprintf("%s of BASE, %s of NEW: the test sees the noise between the intervals of a run, "+
			"not between runs; for a gate compare 3 or more runs per side (--base a1.json,a2.json,a3.json)", pluralize(len(base), "run"), pluralize(len(cur), "run")))
	}
	c.Regressed = c.Regressions > 0
	switch {
	case c.Regressed:
		c.Outcome = OutcomeRegressed
	case c.Inconclusive > 0:
		c.Outcome = OutcomeInconclusive
	default:
		c.Outcome = OutcomePass
	}
	return c, nil
}

// workloadRuns returns each run's workload name, or nil when a run lacks it.
func workloadRuns(rs []*Report, name string) []*Report {
	out := make([]*Report, len(rs))
	for i, r := range rs {
		if out[i] = r.WorkloadNamed(name); out[i] == nil {
			return nil
		}
	}
	return out
}

// sameWorkloads checks that two mixed runs have the same workloads (by name) of the
// same scenarios, but for the settings compareIgnored lists.
func sameWorkloads(base, cur *Report) error {
	if len(base.Workloads) != len(cur.Workloads) {
		return fmt.Errorf("%w: %d workloads in BASE and %d in NEW", ErrScenarioMismatch, len(base.Workloads), len(cur.Workloads))
	}
	for _, bw := range base.Workloads {
		cw := cur.WorkloadNamed(bw.Name)
		if cw == nil {
			return fmt.Errorf("%w: workload %s is in BASE, not in NEW", ErrScenarioMismatch, bw.Name)
		}
		a, err := scenarioFields(bw.Report.Scenario)
		if err != nil {
			return fmt.Errorf("BASE workload %s: %w", bw.Name, err)
		}
		b, err := scenarioFields(cw.Scenario)
		if err != nil {
			return fmt.Errorf("NEW workload %s: %w", bw.Name, err)
		}
		if k, x, y, same := diffFields(a, b, compareIgnored...); !same {
			return fmt.Errorf("%w: workload %s: %s is %s in BASE and %s in NEW", ErrScenarioMismatch, bw.Name, k, x, y)
		}
	}
	return nil
}

// confound says whether the sides' interference differs: up is why NEW's latencies
// may be worse because of other load (regressions are then not judged), down why
// they may be better (improvements are not judged); note is for the notes.
type confound struct {
	up, down string
	note     string
}

// covariates are the per-interval figures of interference that the latencies are not
// adjusted for, each a function of an interval's (or, without intervals, a run's)
// record: the generator's run-queue wait per wake-up (other load, which slows the
// target too). The schedule lag is adjusted for instead (adjustForLag).
var covariates = []struct {
	what string
	get  func(g Generator, n *Noise) (float64, bool)
}{
	{"run-queue wait per wake-up", func(_ Generator, n *Noise) (float64, bool) {
		if n == nil || n.RunQueueWaitPerSliceUS == nil {
			return 0, false
		}
		return *n.RunQueueWaitPerSliceUS, true
	}},
}

// confounding compares the sides' interference, covariate by covariate, over the
// steady intervals (or runs, without intervals): a shift of at least confoundShift
// with p < confoundP is one.
func confounding(base, cur []*Report, usable func(Interval) bool) confound {
	var c confound
	for _, cv := range covariates {
		get := func(rs []*Report) []float64 {
			var out []float64
			for _, r := range rs {
				n := 0
				for _, iv := range steadyIntervals(r) {
					if !usable(iv) {
						continue
					}
					if v, ok := cv.get(iv.Generator, iv.Noise); ok {
						out = append(out, math.Log(max(v, 1)))
						n++
					}
				}
				if v, ok := cv.get(r.Generator, r.Noise); n == 0 && ok {
					out = append(out, math.Log(max(v, 1)))
				}
			}
			return out
		}
		x, y := get(base), get(cur)
		if len(x) == 0 || len(y) == 0 {
			c.note = joinNote(c.note, "the runs do not record the generator's "+cv.what+" (no /proc, or an older chatload): that interference is not accounted for")
			continue
		}
		mw := MannWhitneyU(x, y)
		change := math.Exp(HodgesLehmann(x, y, 1-confoundP).Estimate) - 1
		switch {
		case mw.P < confoundP && change >= confoundShift && c.up == "":
			c.up = fmt.Sprintf("other load: NEW's generator %s was %+.0f%% against BASE's (p=%s), which may explain a slower NEW", cv.what, change*100, formatP(mw.P))
			c.note = joinNote(c.note, c.up+": latency regressions are not judged")
		case mw.P < confoundP && change <= -confoundShift/(1+confoundShift) && c.down == "":
			c.down = fmt.Sprintf("other load: NEW's generator %s was %+.0f%% against BASE's (p=%s), which may explain a faster NEW", cv.what, change*100, formatP(mw.P))
			c.note = joinNote(c.note, c.down+": latency improvements are not judged")
		}
	}
	return c
}

// pooled returns an operation's percentiles (microseconds) over the runs merged; ok
// is false when no run has a successful sample of it.
func pooled(rs []*Report, name string) (map[string]float64, bool) {
	var all Operation
	n := 0
	for _, r := range rs {
		o, ok := r.Operations[name]
		if !ok || o.Count <= o.Errors {
			continue
		}
		if n == 0 {
			all = o
		} else if m, err := MergeOperation(all, o); err == nil {
			all = m
		}
		n++
	}
	if n == 0 {
		return nil, false
	}
	l := all.LatencyUS
	return map[string]float64{"p50": l.P50, "p90": l.P90, "p99": l.P99, "p999": l.P999, "max": l.Max}, true
}

// percentileMin is the successful operations an interval needs for its percentile to
// be a sample: a p99 of 20 values is their maximum.
var percentileMin = map[string]uint64{"p50": 2, "p90": 10, "p99": 100, "p999": 1000, "max": 1}

// steadyIntervals returns r's steady-phase intervals, without the first (warm-up)
// when there are five or more.
func steadyIntervals(r *Report) []Interval {
	var out []Interval
	for _, iv := range r.Intervals {
		if iv.Phase == "steady" {
			out = append(out, iv)
		}
	}
	if len(out) >= 5 {
		out = out[1:]
	}
	return out
}

// latencySamples returns the log of an operation's percentile p (microseconds) in
// each usable steady interval of every run, or the run's own value for a run without
// one, and beside each the log of the generator's schedule lag p99 then (NaN when not
// recorded).
func latencySamples(rs []*Report, op, p string, usable func(Interval) bool) (vals, lags []float64) {
	pick := func(l Latency) float64 {
		switch p {
		case "p50":
			return l.P50
		case "p90":
			return l.P90
		case "p99":
			return l.P99
		case "p999":
			return l.P999
		}
		return l.Max
	}
	lagOf := func(g Generator) float64 {
		if g.ScheduleLagP99US <= 0 {
			return math.NaN()
		}
		return math.Log(max(g.ScheduleLagP99US, lagFloorUS))
	}
	for _, r := range rs {
		n := 0
		enoughOps := 0 // intervals with enough operations for p, usable or not
		for _, iv := range steadyIntervals(r) {
			o, ok := iv.Operations[op]
			if !ok || o.Count-o.Errors < percentileMin[p] {
				continue
			}
			if enoughOps++; !usable(iv) {
				continue
			}
			vals = append(vals, math.Log(max(pick(o.LatencyUS), 1e-3)))
			lags = append(lags, lagOf(iv.Generator))
			n++
		}
		if o, ok := r.Operations[op]; enoughOps == 0 && ok && o.Count > o.Errors {
			vals = append(vals, math.Log(max(pick(o.LatencyUS), 1e-3)))
			lags = append(lags, lagOf(r.Generator))
		}
	}
	return vals, lags
}

// lagFloorUS: schedule lags below this are timer granularity, not interference.
const lagFloorUS = 100

// adjustForLag removes from the log latencies what the generator's schedule lag
// explains: latency is counted from the intended start, so a generator that started
// work late (other load on the machine) measures its own lateness. The slope is the
// within-side Theil-Sen estimate (the median of the slopes between every two samples
// of one side, so that the difference between the sides does not enter it), clamped
// to [0, 1]; each sample becomes y - slope*(lag - the pooled median lag). It needs
// five samples with a lag on each side; ok is false otherwise (no adjustment).
func adjustForLag(xs, xl, ys, yl []float64) (xa, ya []float64, slope float64, ok bool) {
	known := func(l []float64) int {
		n := 0
		for _, v := range l {
			if !math.IsNaN(v) {
				n++
			}
		}
		return n
	}
	if known(xl) < 5 || known(yl) < 5 || known(xl) != len(xl) || known(yl) != len(yl) {
		return xs, ys, 0, false
	}
	var slopes []float64
	for _, g := range [][2][]float64{{xs, xl}, {ys, yl}} {
		v, l := g[0], g[1]
		for i := range v {
			for j := i + 1; j < len(v); j++ {
				if dx := l[j] - l[i]; math.Abs(dx) > 1e-9 {
					slopes = append(slopes, (v[j]-v[i])/dx)
				}
			}
		}
	}
	if len(slopes) == 0 {
		return xs, ys, 0, false
	}
	slices.Sort(slopes)
	slope = slopes[len(slopes)/2]
	if len(slopes)%2 == 0 {
		slope = (slopes[len(slopes)/2-1] + slopes[len(slopes)/2]) / 2
	}
	slope = min(max(slope, 0), 1)
	all := slices.Concat(xl, yl)
	slices.Sort(all)
	center := all[len(all)/2]
	adj := func(v, l []float64) []float64 {
		out := make([]float64, len(v))
		for i := range v {
			out[i] = v[i] - slope*(l[i]-center)
		}
		return out
	}
	return adj(xs, xl), adj(ys, yl), slope, true
}

// meanOf is the mean of get over the runs that have a value; nil when none has.
func meanOf(rs []*Report, get func(*Report) *float64) *float64 {
	sum, n := 0.0, 0
	for _, r := range rs {
		if v := get(r); v != nil {
			sum += *v
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return ptr(sum / float64(n))
}

// judgeLatency fills a latency row's change, interval, p-value and verdict and
// appends it. xs and ys are the sides' log samples.
func (c *Comparison) judgeLatency(row *CompareRow, xs, ys []float64, l Limit, gated bool, floor float64, saturated []string, conf confound) {
	row.NBase, row.NNew = len(xs), len(ys)
	if len(xs) > 0 && len(ys) > 0 {
		mw := MannWhitneyU(xs, ys)
		sh := HodgesLehmann(xs, ys, 1-c.Alpha)
		row.P = ptr(mw.P)
		row.ChangePct = ptr(math.Round((math.Exp(sh.Estimate)-1)*1e5) / 1e3)
		if !math.IsInf(sh.Lo, 0) {
			row.CILowPct = ptr(math.Round((math.Exp(sh.Lo)-1)*1e5) / 1e3)
			row.CIHighPct = ptr(math.Round((math.Exp(sh.Hi)-1)*1e5) / 1e3)
		}
	}
	row.Verdict = VerdictNotGated
	if !gated {
		c.Rows = append(c.Rows, *row)
		return
	}
	c.Gated++
	row.Limit = "+" + l.String()
	if !l.Relative {
		row.Limit = "+" + time.Duration(l.Value*1e3).String()
	}
	inconclusive := func(why string) {
		row.Verdict, row.Note = VerdictInconclusive, why
		c.Inconclusive++
	}
	switch {
	case row.New == nil && row.Base != nil:
		row.Verdict, row.Note = VerdictRegressed, "measured in BASE, not in NEW"
	case row.New == nil || row.Base == nil:
		row.Verdict = VerdictOK
	case max(*row.Base, *row.New) < floor:
		row.Verdict, row.Note = VerdictOK, "both below the latency floor"
	case len(saturated) > 0:
		inconclusive("a run's generator was saturated: " + saturated[0])
	case MinP(len(xs), len(ys)) >= c.Alpha:
		inconclusive(fmt.Sprintf("%d vs %d samples cannot reach p < %s: record intervals (--interval) or compare more runs", len(xs), len(ys), formatP(c.Alpha)))
	default:
		b, n := *row.Base, *row.New
		change := *row.ChangePct / 100
		worse, better := change > l.Value, -change/(1+change) > l.Value
		if !l.Relative {
			worse, better = (n-b)*1e3 > l.Value, (b-n)*1e3 > l.Value
		}
		significant := *row.P < c.Alpha
		switch {
		case significant && worse && n >= floor && conf.up != "":
			inconclusive(conf.up)
		case significant && worse && n >= floor:
			row.Verdict = VerdictRegressed
		case significant && better && conf.down != "":
			inconclusive(conf.down)
		case significant && better:
			row.Verdict = VerdictImproved
		default:
			row.Verdict = VerdictOK
		}
	}
	if row.Verdict == VerdictRegressed {
		c.Regressions++
	}
	c.Rows = append(c.Rows, *row)
}

// enough reports whether every run has at least min successful samples of op.
func enough(base, cur []*Report, op string, min uint64) bool {
	for _, r := range append(slices.Clip(base), cur...) {
		o := r.Operations[op]
		if o.Count-o.Errors < min {
			return false
		}
	}
	return true
}

func formatP(p float64) string {
	switch {
	case p < 0.0001:
		return "<0.0001"
	case p < 0.01:
		return strconv.FormatFloat(p, 'f', 4, 64)
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

func ptr(f float64) *float64 { return &f }

func timesPtr(p *float64, k float64) *float64 {
	if p == nil {
		return nil
	}
	return ptr(*p * k)
}

func opIndex(name string) int {
	if o, err := ParseOp(name); err == nil {
		return int(o)
	}
	return int(NumOps)
}

// judge fills a count or rate row's change and verdict (against the limit, on the
// means) and appends it. lowerWorse is for rates; floor (ms) applies to latencies
// (negative: none).
func (c *Comparison) judge(row *CompareRow, l Limit, gated, lowerWorse bool, floor float64) {
	if row.Base != nil && row.New != nil {
		switch b, n := *row.Base, *row.New; {
		case b != 0:
			row.ChangePct = ptr(math.Round((n-b)/b*1e5) / 1e3)
		case n == 0:
			row.ChangePct = ptr(0)
		}
	}
	row.Verdict = VerdictNotGated
	if !gated {
		c.Rows = append(c.Rows, *row)
		return
	}
	c.Gated++
	limit := l.String()
	if lowerWorse {
		row.Limit = "-" + limit
	} else {
		row.Limit = "+" + limit
	}
	switch {
	case row.New == nil && row.Base != nil:
		row.Verdict = VerdictRegressed // measured before, not now
	case row.New == nil || row.Base == nil:
		row.Verdict = VerdictOK
	default:
		b, n := *row.Base, *row.New
		worse := n - b
		if lowerWorse {
			worse = b - n
		}
		allowed := l.Value
		if l.Relative {
			allowed = l.Value * math.Abs(b)
		}
		switch {
		case worse > allowed:
			row.Verdict = VerdictRegressed
		case -worse > allowed:
			row.Verdict = VerdictImproved
		default:
			row.Verdict = VerdictOK
		}
	}
	if row.Verdict == VerdictRegressed {
		c.Regressions++
	}
	c.Rows = append(c.Rows, *row)
}

// cells formats a row's values for tables.
func (r CompareRow) cells() (base, cur, change, ci, p, n string) {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		switch r.Unit {
		case "ms":
			return formatMS(*p * 1e3)
		case "%":
			return strconv.FormatFloat(*p, 'f', 3, 64) + "%"
		case "/s":
			return formatRate(*p)
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	change = "n/a"
	if r.ChangePct != nil {
		change = signedPct(*r.ChangePct)
	} else if r.Base == nil && r.New == nil {
		change = "-"
	}
	ci, p, n = "-", "-", "-"
	if r.CILowPct != nil && r.CIHighPct != nil {
		ci = signedPct(*r.CILowPct) + ".." + signedPct(*r.CIHighPct)
	} else if r.P != nil {
		ci = "unbounded"
	}
	if r.P != nil {
		p = formatP(*r.P)
	}
	if r.NBase > 0 || r.NNew > 0 {
		n = strconv.Itoa(r.NBase) + "/" + strconv.Itoa(r.NNew)
	}
	return f(r.Base), f(r.New), change, ci, p, n
}

// signedPct formats a change in percent: "+12.5%", "-3.0%", "0.0%".
func signedPct(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64) + "%"
	switch {
	case v >= 0.05:
		return "+" + s
	case v > -0.05:
		return "0.0%"
	}
	return s
}

// label names the row's metric, with the unit when its values are bare numbers (ms).
func (r CompareRow) label() string {
	if r.Unit != "ms" {
		return r.Metric
	}
	return r.Metric + " (ms)"
}

// summary is the one-line outcome: "REGRESSED: 1 of 3 gated rows (delivery p99 +50.0%)".
func (c *Comparison) summary() string {
	var list []string
	for _, r := range c.Rows {
		if (c.Regressed && r.Verdict == VerdictRegressed) || (!c.Regressed && r.Verdict == VerdictInconclusive) {
			_, _, ch, _, _, _ := r.cells()
			list = append(list, r.Metric+" "+ch)
		}
	}
	switch c.Outcome {
	case OutcomeRegressed:
		return fmt.Sprintf("REGRESSED: %d of %s (%s)", c.Regressions, pluralize(c.Gated, "gated row"), strings.Join(list, ", "))
	case OutcomeInconclusive:
		why := ""
		for _, r := range c.Rows {
			if r.Verdict == VerdictInconclusive {
				why = r.Note
				break
			}
		}
		return fmt.Sprintf("INCONCLUSIVE: %d of %s could not be judged (%s): %s", c.Inconclusive, pluralize(c.Gated, "gated row"), strings.Join(list, ", "), why)
	}
	return fmt.Sprintf("PASS: no significant regression in %s", pluralize(c.Gated, "gated row"))
}

func (c *Comparison) settings() string {
	return fmt.Sprintf("limits %s; latency floor %s ms; %s, alpha %s, %s%% intervals",
		strings.Join(c.Limits, ","), strconv.FormatFloat(c.LatencyFloorMS, 'f', -1, 64),
		c.Method, strconv.FormatFloat(c.Alpha, 'f', -1, 64), strconv.FormatFloat((1-c.Alpha)*100, 'f', -1, 64))
}

// runNames lists a side's runs for the header.
func runNames(rs []CompareRun, code bool) string {
	var out []string
	for _, r := range rs {
		n, id := cell(r.Name), cell(r.RunID)
		if code {
			n, id = "`"+mdCode(r.Name)+"`", "`"+mdCode(r.RunID)+"`"
		}
		s := n
		if r.Name != r.RunID {
			s += " (run " + id + ")"
		}
		if r.Saturated != "" {
			s += " [saturated]"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// WriteTable prints the comparison for people: the runs, one ASCII table row per
// metric (BASE, NEW, CHANGE, CI, P, N, LIMIT, VERDICT), the method and limits, the
// notes and the outcome. It is safe for concurrent use with other readers of c.
func (c *Comparison) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "BASE %s\nNEW  %s\n\n", runNames(c.Base, false), runNames(c.New, false))
	t := newTable(&b, []string{"METRIC", "BASE", "NEW", "CHANGE", "CI", "P", "N", "LIMIT", "VERDICT"},
		tw.Alignment{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft})
	for _, r := range c.Rows {
		base, cur, change, ci, p, n := r.cells()
		if err := t.Append(cell(r.label()), base, cur, change, ci, p, n, orDash(r.Limit), r.Verdict); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%s\n", c.settings())
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "note: %s\n", plainLine(n))
	}
	fmt.Fprintf(&b, "%s\n", c.summary())
	_, err := w.Write(b.Bytes())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteMarkdown prints the comparison as GitHub-flavored markdown for a CI comment:
// a heading with the outcome, the runs and limits, and a table with regressions in
// bold. It is safe for concurrent use with other readers of c.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### chatload compare: %s\n\n", c.Outcome)
	fmt.Fprintf(&b, "Base %s; new %s; %s.\n\n", runNames(c.Base, true), runNames(c.New, true), c.settings())
	b.WriteString("| Metric | Base | New | Change | CI | p | n | Limit | Verdict |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range c.Rows {
		base, cur, change, ci, p, n := r.cells()
		v := r.Verdict
		if v == VerdictRegressed || v == VerdictInconclusive {
			v, change = "**"+v+"**", "**"+change+"**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdCell(r.label()), base, cur, change, ci, p, n, orDash(r.Limit), v)
	}
	b.WriteString("\n")
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(plainLine(n), "|", "\\|"))
	}
	fmt.Fprintf(&b, "\n%s\n", c.summary())
	_, err := w.Write(b.Bytes())
	return err
}

// plainLine is s on one line of printable ASCII (other characters as '?'), whole.
func plainLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}

// mdCode makes text safe inside `code`.
func mdCode(s string) string { return strings.ReplaceAll(cell(s), "`", "'") }

// mdCell makes text safe in a markdown table cell.
func mdCell(s string) string { return strings.ReplaceAll(cell(s), "|", "\\|") }

// WriteJSON writes c as one indented JSON object. It is safe for concurrent use with
// other readers of c.
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}
