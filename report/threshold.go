package report

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Threshold is one pass/fail criterion on a run (--threshold, the scenario file's
// thresholds), parsed by ParseThreshold from
//
//	[WORKLOAD:]METRIC OP VALUE[UNIT] [for N intervals] [abort]
//
// such as "delivery.p99 < 250ms", "messages.lost == 0", "failures.rate < 0.1%",
// "send.p99 <= 1s for 3 intervals abort" or, in a mixed run, "posts:delivery.p99 <
// 250ms" (that workload's figures only). It is a plain value, safe for concurrent use.
type Threshold struct {
	Expr         string  // the text as given (trimmed)
	Workload     string  // "" = the whole run; else the mixed run's workload of that name
	Metric       string  // "delivery.p99", "messages.lost", "failures.rate", ... (p99.9 is written p999)
	Op           string  // <, <=, >, >=, == or !=
	Value        float64 // as written, in Unit
	Unit         string  // "us", "ms", "s" (latencies), "%" (rates), "/s" (load.achieved_rate) or ""
	ForIntervals int     // > 0: checked per interval; fails when this many consecutive intervals violate it
	Abort        bool    // stop the run as soon as it fails
}

// Verdict is a threshold's outcome, as the report and its tables show it: the
// threshold's text, whether it passed, the observed value in the threshold's unit
// ("-" when there was nothing to observe) and how it was judged. A plain value.
type Verdict struct {
	Threshold string `json:"threshold"`
	Pass      bool   `json:"pass"`
	Observed  string `json:"observed"`
	Detail    string `json:"detail,omitempty"`
}

// metricKind says what a metric measures, hence its units and canonical value.
type metricKind uint8

const (
	kindLatency metricKind = iota // canonical: microseconds; units us, ms, s (required)
	kindCount                     // a number of things; no unit
	kindRatio                     // canonical: a fraction; written 0.001 or 0.1%
	kindRate                      // per second; written 200 or 200/s
)

// opStats lists the statistics of an operation metric (OP.STAT) in the order errors list them.
var opStatNames = []string{"p50", "p90", "p95", "p99", "p999", "max", "min", "mean", "count", "errors", "error_rate"}

var messageFields = []string{"sent", "accepted", "expected_deliveries", "delivered", "lost", "duplicated",
	"out_of_order", "corrupted", "loss_rate", "delivered_rate"}

const metricHelp = "want OP.STAT (OP: register, join, send, delivery, history, leave, unregister, cycle; " +
	"STAT: p50, p90, p95, p99, p999, max, min, mean, count, errors, error_rate), messages.FIELD (sent, accepted, " +
	"expected_deliveries, delivered, lost, duplicated, out_of_order, corrupted, loss_rate, delivered_rate), " +
	"failures.count, failures.rate, load.achieved_rate, load.dropped or generator.schedule_lag_p99"

// kindOf returns the metric's kind and its canonical name, or an error naming what
// is wrong with it.
func kindOf(metric string) (metricKind, string, error) {
	group, name, ok := strings.Cut(metric, ".")
	if !ok || name == "" {
		return 0, "", fmt.Errorf("%q is not a metric: %s", metric, metricHelp)
	}
	switch group {
	case "messages":
		switch {
		case name == "loss_rate" || name == "delivered_rate":
			return kindRatio, metric, nil
		case slices.Contains(messageFields, name):
			return kindCount, metric, nil
		}
		return 0, "", fmt.Errorf("unknown metric %q: messages has %s", metric, strings.Join(messageFields, ", "))
	case "failures":
		switch name {
		case "count":
			return kindCount, metric, nil
		case "rate":
			return kindRatio, metric, nil
		}
		return 0, "", fmt.Errorf("unknown metric %q: failures has count and rate", metric)
	case "load":
		switch name {
		case "achieved_rate":
			return kindRate, metric, nil
		case "dropped":
			return kindCount, metric, nil
		}
		return 0, "", fmt.Errorf("unknown metric %q: load has achieved_rate and dropped", metric)
	case "generator":
		if name == "schedule_lag_p99" {
			return kindLatency, metric, nil
		}
		return 0, "", fmt.Errorf("unknown metric %q: generator has schedule_lag_p99", metric)
	}
	if _, err := ParseOp(group); err != nil {
		return 0, "", fmt.Errorf("unknown metric %q: %s", metric, metricHelp)
	}
	if name == "p99.9" {
		name = "p999"
	}
	switch {
	case name == "count" || name == "errors":
		return kindCount, group + "." + name, nil
	case name == "error_rate":
		return kindRatio, group + "." + name, nil
	case slices.Contains(opStatNames, name):
		return kindLatency, group + "." + name, nil
	}
	return 0, "", fmt.Errorf("unknown metric %q: an operation has %s", metric, strings.Join(opStatNames, ", "))
}

var numberPrefix = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?`)

const thresholdGrammar = "want METRIC OP VALUE[UNIT] [for N intervals] [abort], e.g. \"delivery.p99 < 250ms\""

// ParseThreshold parses one threshold (see Threshold). Metrics: OP.STAT for an
// operation (register, join, send, delivery, history, leave, unregister, cycle) with
// STAT p50, p90, p99, p999, max, min, mean (latencies), count, errors or error_rate;
// messages.FIELD (the report's message counts, plus loss_rate = lost/expected and
// delivered_rate = delivered/expected); failures.count (every failure of the
// failures list), failures.rate (failed operations / all operations);
// load.achieved_rate, load.dropped; generator.schedule_lag_p99. Operators: < <= > >=
// == !=. Latencies need a unit (us, ms, s); rates are fractions (0.001) or percents
// (0.1%); load.achieved_rate may be written 200/s; counts have no unit. "for N
// intervals" judges each interval instead of the whole run; "abort" stops the run
// when the threshold fails. The error names the threshold's text and what is wrong.
// ParseThreshold is safe for concurrent use.
func ParseThreshold(s string) (Threshold, error) {
	t, err := parseThreshold(s)
	if err != nil {
		return Threshold{}, fmt.Errorf("threshold %q: %w", strings.TrimSpace(s), err)
	}
	return t, nil
}

func parseThreshold(s string) (Threshold, error) {
	t := Threshold{Expr: strings.TrimSpace(s)}
	words := strings.Fields(strings.ToLower(t.Expr))
	if len(words) == 0 {
		return t, errors.New("empty: " + thresholdGrammar)
	}
	if words[len(words)-1] == "abort" {
		t.Abort = true
		words = words[:len(words)-1]
	}
	if n := len(words); n >= 3 && words[n-3] == "for" {
		if w := words[n-1]; w != "intervals" && w != "interval" {
			return t, fmt.Errorf("%q: want \"for N intervals\"", strings.Join(words[n-3:], " "))
		}
		k, err := strconv.Atoi(words[n-2])
		if err != nil || k < 1 || k > 1_000_000 {
			return t, fmt.Errorf("for %s intervals: want a whole number of intervals, 1 or more", words[n-2])
		}
		t.ForIntervals = k
		words = words[:n-3]
	}
	for _, w := range words {
		if w == "for" || w == "abort" || w == "intervals" || w == "interval" {
			return t, fmt.Errorf("misplaced %q: %s (in that order)", w, thresholdGrammar)
		}
	}
	rest := strings.Join(words, " ")
	i := strings.IndexAny(rest, "<>=!")
	if i < 0 {
		return t, errors.New("no comparison (<, <=, >, >=, ==, !=): " + thresholdGrammar)
	}
	op := rest[i : i+1]
	if i+1 < len(rest) && rest[i+1] == '=' {
		op += "="
	}
	switch op {
	case "=":
		return t, errors.New("\"=\": write == to compare for equality")
	case "!":
		return t, errors.New("\"!\": write != for \"not equal\"")
	}
	t.Op = op
	metric := strings.TrimSpace(rest[:i])
	value := strings.ReplaceAll(rest[i+len(op):], " ", "")
	switch {
	case metric == "":
		return t, errors.New("no metric before " + op + ": " + thresholdGrammar)
	case strings.ContainsAny(metric, " "):
		return t, fmt.Errorf("%q: a metric is one word such as delivery.p99: %s", metric, thresholdGrammar)
	case value == "":
		return t, errors.New("no value after " + op + ": " + thresholdGrammar)
	case strings.ContainsAny(value, "<>=!"):
		return t, errors.New("more than one comparison: " + thresholdGrammar)
	}
	if w, m, ok := strings.Cut(metric, ":"); ok {
		if !workloadName.MatchString(w) {
			return t, fmt.Errorf("workload %q: want a workload name (letters, digits, - and _) before the metric, such as posts:delivery.p99", w)
		}
		t.Workload, metric = w, m
	}
	kind, name, err := kindOf(metric)
	if err != nil {
		return t, err
	}
	t.Metric = name
	num := numberPrefix.FindString(value)
	if num == "" {
		return t, fmt.Errorf("value %q: want a number with an optional unit, such as 250ms, 0.1%% or 0", value)
	}
	if t.Value, err = strconv.ParseFloat(num, 64); err != nil || math.IsInf(t.Value, 0) {
		return t, fmt.Errorf("value %q: not a usable number", value)
	}
	t.Unit = value[len(num):]
	if t.Unit == "µs" {
		t.Unit = "us"
	}
	return t, checkUnit(t, kind)
}

// checkUnit checks that t's unit and value fit its metric.
func checkUnit(t Threshold, kind metricKind) error {
	switch t.Unit {
	case "", "us", "ms", "s", "%", "/s":
	default:
		return fmt.Errorf("unknown unit %q: want us, ms or s (latencies), %% (rates) or /s (load.achieved_rate)", t.Unit)
	}
	switch kind {
	case kindLatency:
		switch t.Unit {
		case "us", "ms", "s":
		case "":
			return fmt.Errorf("%s is a latency: give its unit (us, ms or s), e.g. %sms", t.Metric, strconv.FormatFloat(t.Value, 'f', -1, 64))
		default:
			return fmt.Errorf("%s is a latency: %s is not a time unit (want us, ms or s)", t.Metric, t.Unit)
		}
	case kindCount:
		if t.Unit != "" {
			return fmt.Errorf("%s is a count: it takes no unit (%s)", t.Metric, t.Unit)
		}
	case kindRatio:
		switch t.Unit {
		case "":
			if t.Value < 0 || t.Value > 1 {
				return fmt.Errorf("%s is a fraction of 0..1 (or a percent such as 0.1%%): %v is out of range", t.Metric, t.Value)
			}
		case "%":
			if t.Value < 0 || t.Value > 100 {
				return fmt.Errorf("%s: %v%% is out of 0..100%%", t.Metric, t.Value)
			}
		default:
			return fmt.Errorf("%s is a rate of 0..1: write it as a fraction (0.001) or a percent (0.1%%), not in %s", t.Metric, t.Unit)
		}
	case kindRate:
		if t.Unit != "" && t.Unit != "/s" {
			return fmt.Errorf("%s is per second: write 200 or 200/s, not in %s", t.Metric, t.Unit)
		}
	}
	return nil
}

// workloadName is what a threshold's workload prefix may be.
var workloadName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// String returns t in its canonical form: "delivery.p99 < 250ms for 3 intervals abort"
// ("posts:delivery.p99 < 250ms" for a workload's).
func (t Threshold) String() string {
	s := t.Metric + " " + t.Op + " " + strconv.FormatFloat(t.Value, 'f', -1, 64) + t.Unit
	if t.Workload != "" {
		s = t.Workload + ":" + s
	}
	if t.ForIntervals > 0 {
		s += fmt.Sprintf(" for %d intervals", t.ForIntervals)
	}
	if t.Abort {
		s += " abort"
	}
	return s
}

func (t Threshold) kind() metricKind {
	k, _, _ := kindOf(t.Metric)
	return k
}

// limit returns t's value in the metric's canonical unit (microseconds, fraction).
func (t Threshold) limit() float64 {
	return toCanonical(t.Value, t.Unit)
}

func toCanonical(v float64, unit string) float64 {
	switch unit {
	case "ms":
		return v * 1e3
	case "s":
		return v * 1e6
	case "%":
		return v / 100
	}
	return v
}

// inUnit converts a canonical value to t's unit.
func (t Threshold) inUnit(v float64) float64 {
	switch t.Unit {
	case "ms":
		return v / 1e3
	case "s":
		return v / 1e6
	case "%":
		return v * 100
	}
	return v
}

// format shows a canonical value in t's unit: "312.5ms", "0.25%", "3".
func (t Threshold) format(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	u := t.inUnit(v)
	digits := 3 // to the microsecond in ms, to the ns in us
	switch {
	case t.Unit == "s":
		digits = 6
	case t.Unit == "%":
		digits = 4
	case t.Unit == "" && t.kind() == kindRatio:
		digits = 6
	}
	p := math.Pow10(digits)
	u = math.Round(u*p) / p
	if u == 0 {
		u = 0 // no "-0"
	}
	return strconv.FormatFloat(u, 'f', -1, 64) + t.Unit
}

// holds reports whether a canonical observed value satisfies t.
func (t Threshold) holds(v float64) bool {
	l := t.limit()
	switch t.Op {
	case "<":
		return v < l
	case "<=":
		return v <= l
	case ">":
		return v > l
	case ">=":
		return v >= l
	case "==":
		return v == l
	case "!=":
		return v != l
	}
	return false
}

// worse reports whether canonical value a is further on the failing side than b.
func (t Threshold) worse(a, b float64) bool {
	switch t.Op {
	case "<", "<=":
		return a > b
	case ">", ">=":
		return a < b
	}
	return !t.holds(a) && t.holds(b)
}

// observable is what a metric is read from: a whole run or one interval.
type observable struct {
	ops      map[string]Operation
	msgs     Messages
	failures []Failure
	achieved float64
	dropped  uint64
	lagUS    float64
}

func runObservable(r *Report) observable {
	return observable{ops: r.Operations, msgs: r.Messages, failures: r.Failures,
		achieved: r.Load.AchievedRate, dropped: r.Load.Dropped, lagUS: r.Generator.ScheduleLagP99US}
}

func intervalObservable(iv Interval) observable {
	return observable{ops: iv.Operations, msgs: iv.Messages, failures: iv.Failures,
		achieved: iv.Load.AchievedRate, dropped: iv.Load.Dropped, lagUS: iv.Generator.ScheduleLagP99US}
}

// observe returns the metric's canonical value in s; ok is false when s has nothing
// to observe (an operation that did not run, a latency without a successful sample, a
// rate over nothing), with why saying so.
func (t Threshold) observe(s observable) (v float64, ok bool, why string) {
	group, name, _ := strings.Cut(t.Metric, ".")
	ratio := func(n, d uint64, what string) (float64, bool, string) {
		if d == 0 {
			return math.NaN(), false, what
		}
		return float64(n) / float64(d), true, ""
	}
	switch group {
	case "messages":
		m := s.msgs
		switch name {
		case "loss_rate":
			return ratio(m.Lost, m.ExpectedDeliveries, "no expected deliveries")
		case "delivered_rate":
			return ratio(m.Delivered, m.ExpectedDeliveries, "no expected deliveries")
		}
		n := map[string]uint64{"sent": m.Sent, "accepted": m.Accepted, "expected_deliveries": m.ExpectedDeliveries,
			"delivered": m.Delivered, "lost": m.Lost, "duplicated": m.Duplicated, "out_of_order": m.OutOfOrder,
			"corrupted": m.Corrupted}[name]
		return float64(n), true, ""
	case "failures":
		if name == "count" {
			var n uint64
			for _, f := range s.failures {
				n += f.Count
			}
			return float64(n), true, ""
		}
		var errs, count uint64
		for _, o := range s.ops {
			errs += o.Errors
			count += o.Count
		}
		return ratio(errs, count, "no operations")
	case "load":
		if name == "dropped" {
			return float64(s.dropped), true, ""
		}
		return s.achieved, true, ""
	case "generator":
		return s.lagUS, true, ""
	}
	o, ran := s.ops[group]
	switch name {
	case "count":
		return float64(o.Count), true, ""
	case "errors":
		return float64(o.Errors), true, ""
	case "error_rate":
		return ratio(o.Errors, o.Count, "no "+group+" operations")
	}
	if !ran || o.Count == 0 {
		return math.NaN(), false, "no " + group + " operations"
	}
	if o.Count <= o.Errors {
		return math.NaN(), false, "no successful " + group + " operations (" + strconv.FormatUint(o.Errors, 10) + " failed)"
	}
	l := o.LatencyUS
	return map[string]float64{"p50": l.P50, "p90": l.P90, "p95": l.P95, "p99": l.P99, "p999": l.P999, "max": l.Max,
		"min": l.Min, "mean": l.Mean}[name], true, ""
}

// Check judges r against t. A whole-run threshold (ForIntervals 0) is checked against
// r's totals; one with "for N intervals" fails when N consecutive steady-phase
// intervals of r violate it (setup, drain and teardown intervals are not at the
// offered load and are skipped: the whole-run thresholds cover them). Observed is the
// whole run's value, or the worst interval's (of the first failing streak when it
// fails). A metric with nothing to observe fails a whole-run threshold (a gate does not
// pass a run that measured nothing), as does a per-interval threshold on a report
// without steady intervals; in one interval it is no violation. Check is safe for
// concurrent use.
func (t Threshold) Check(r *Report) Verdict {
	v := Verdict{Threshold: t.Expr, Observed: "-"}
	if t.Workload != "" {
		// A workload's threshold is judged on that workload's own report.
		w := r.WorkloadNamed(t.Workload)
		if w == nil {
			v.Detail = "the report has no workload " + t.Workload + ": nothing to check"
			return v
		}
		sub := t
		sub.Workload = ""
		return sub.Check(w)
	}
	if t.ForIntervals == 0 {
		x, ok, why := t.observe(runObservable(r))
		if !ok {
			v.Detail = why + ": nothing to check"
			return v
		}
		v.Pass, v.Observed, v.Detail = t.holds(x), t.format(x), "whole run"
		return v
	}
	origin := r.StartedAt
	checked, streak, longest := 0, 0, 0
	worst := math.NaN()
	streakStart := -1
	streakWorst := math.NaN()
	for i, iv := range r.Intervals {
		if !isSteady(iv) {
			streak = 0
			continue
		}
		if origin.IsZero() {
			origin = iv.Start
		}
		checked++
		x, ok, _ := t.observe(intervalObservable(iv))
		if ok && (math.IsNaN(worst) || t.worse(x, worst)) {
			worst = x
		}
		if !ok || t.holds(x) {
			streak = 0
			continue
		}
		if streak == 0 {
			streakStart, streakWorst = i, x
		} else if t.worse(x, streakWorst) {
			streakWorst = x
		}
		streak++
		longest = max(longest, streak)
		if streak == t.ForIntervals {
			v.Observed = t.format(streakWorst)
			v.Detail = fmt.Sprintf("violated in %s in a row, %s to %s", pluralize(t.ForIntervals, "interval"),
				sinceStart(origin, r.Intervals[streakStart].Start), sinceStart(origin, iv.End))
			return v
		}
	}
	if checked == 0 {
		v.Detail = "no steady-phase intervals in the report: nothing to check"
		return v
	}
	v.Pass, v.Observed = true, t.format(worst)
	if longest == 0 {
		v.Detail = fmt.Sprintf("no violation in %s", pluralize(checked, "interval"))
	} else {
		v.Detail = fmt.Sprintf("at most %d of %d intervals in a row violated it (%d checked)", longest, t.ForIntervals, checked)
	}
	return v
}

// steady reports whether an interval is judged by per-interval thresholds.
func isSteady(iv Interval) bool { return iv.Phase == "" || iv.Phase == "steady" }

func pluralize(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// offset shows t as "+1m20s" from the run's start.
func sinceStart(origin, t time.Time) string {
	return "+" + t.Sub(origin).Round(time.Millisecond).String()
}

// CheckInterval judges one interval against t's metric and comparison, whatever the
// interval's phase: pass is false when it violates t, and observed is the interval's
// value in t's unit (NaN when there is nothing to observe, which is no violation). It
// is safe for concurrent use.
func (t Threshold) CheckInterval(iv Interval) (pass bool, observed float64) {
	x, ok, _ := t.observe(intervalObservable(iv))
	if !ok {
		return true, math.NaN()
	}
	return t.holds(x), t.inUnit(x)
}

// Watch follows a run's abort thresholds interval by interval, so that a run can be
// stopped as soon as one fails: a per-interval one when N consecutive steady-phase
// intervals violate it, a whole-run one when the run so far (the intervals up to a
// steady-phase one, merged) violates it; a metric with nothing to observe yet is no
// violation. A Watch is not safe for concurrent use: feed it from one goroutine.
type Watch struct {
	ts     []Threshold
	streak []int
	fired  []bool
	origin time.Time
	// the run so far, for whole-run abort thresholds (nil when there are none)
	sofar        *observable
	steadyTime   time.Duration
	steadyStarts float64 // sum of achieved rate * steady interval length
}

// NewWatch returns a Watch of the thresholds of ts that have Abort set. It is safe
// for concurrent use; the Watch is not.
func NewWatch(ts []Threshold) *Watch {
	w := &Watch{}
	for _, t := range ts {
		if !t.Abort || t.Workload != "" {
			// A workload's thresholds are judged at the end, on its own report: the
			// intervals a Watch is fed are the run's.
			continue
		}
		w.ts = append(w.ts, t)
		if t.ForIntervals == 0 && w.sofar == nil {
			w.sofar = &observable{ops: map[string]Operation{}, failures: []Failure{}}
		}
	}
	w.streak = make([]int, len(w.ts))
	w.fired = make([]bool, len(w.ts))
	return w
}

// Len returns how many abort thresholds w follows.
func (w *Watch) Len() int { return len(w.ts) }

// Interval takes the next interval of the run and returns the verdicts of the abort
// thresholds that fail with it (each once: a threshold that failed before is not
// reported again); an empty result means go on. An error means an interval could not
// be merged into the run so far (a corrupt histogram); the thresholds that need it
// are then not checked.
func (w *Watch) Interval(iv Interval) ([]Verdict, error) {
	if len(w.ts) == 0 {
		return nil, nil
	}
	if w.origin.IsZero() {
		w.origin = iv.Start
	}
	var mergeErr error
	if w.sofar != nil {
		mergeErr = w.add(iv)
	}
	var out []Verdict
	for i, t := range w.ts {
		if w.fired[i] {
			continue
		}
		if !isSteady(iv) {
			w.streak[i] = 0
			continue
		}
		if t.ForIntervals == 0 {
			if mergeErr != nil {
				continue
			}
			x, ok, _ := t.observe(*w.sofar)
			if ok && !t.holds(x) {
				w.fired[i] = true
				out = append(out, Verdict{Threshold: t.Expr, Observed: t.format(x),
					Detail: "the run so far violated it at " + sinceStart(w.origin, iv.End) + ": aborted"})
			}
			continue
		}
		x, ok, _ := t.observe(intervalObservable(iv))
		if !ok || t.holds(x) {
			w.streak[i] = 0
			continue
		}
		w.streak[i]++
		if w.streak[i] >= t.ForIntervals {
			w.fired[i] = true
			out = append(out, Verdict{Threshold: t.Expr, Observed: t.format(x),
				Detail: fmt.Sprintf("violated in %s in a row up to %s: aborted", pluralize(t.ForIntervals, "interval"), sinceStart(w.origin, iv.End))})
		}
	}
	return out, mergeErr
}

// add merges iv into the run so far.
func (w *Watch) add(iv Interval) error {
	s := w.sofar
	s.msgs.Add(iv.Messages)
	s.failures = MergeFailures(s.failures, iv.Failures)
	s.dropped += iv.Load.Dropped
	s.lagUS = max(s.lagUS, iv.Generator.ScheduleLagP99US)
	if isSteady(iv) {
		d := iv.End.Sub(iv.Start)
		w.steadyTime += d
		w.steadyStarts += iv.Load.AchievedRate * d.Seconds()
		if w.steadyTime > 0 {
			s.achieved = w.steadyStarts / w.steadyTime.Seconds()
		}
	}
	return MergeOperations(s.ops, iv.Operations)
}
