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

// CompareOptions tunes Compare. A plain value.
type CompareOptions struct {
	// Limits gate the rows; nil means DefaultLimits.
	Limits Limits
	// LatencyFloor: a latency regresses only when its new value is at least this (and a
	// latency row where both values are below it is "ok"): at microseconds, 10% is noise.
	LatencyFloor time.Duration
	// MinSamples: a limit given for all operations (p99=10%) judges an operation's
	// percentiles only when both runs have at least this many of it; with 20 log-ons a
	// p99 is one sample and its change is noise. A per-operation limit (join.p99=10%)
	// always judges. 0 judges everything.
	MinSamples uint64
	// Force compares runs of different scenarios.
	Force bool
}

// The verdicts of a compared row.
const (
	VerdictOK        = "ok"
	VerdictRegressed = "REGRESSED"
	VerdictImproved  = "improved"
	VerdictNotGated  = "-"
)

// CompareRow is one compared metric. Values are in Unit ("ms", "%", "/s" or "" for
// counts); Base or New is nil when that run has no value (an operation that did not
// run, a loss rate without expected deliveries), ChangePct when the change is undefined
// (no value, or a zero baseline). Verdict is ok, REGRESSED, improved (better by more
// than the limit) or "-" (not gated). A plain value.
type CompareRow struct {
	Metric    string   `json:"metric"`
	Unit      string   `json:"unit"`
	Base      *float64 `json:"base"`
	New       *float64 `json:"new"`
	ChangePct *float64 `json:"change_pct"`
	Limit     string   `json:"limit,omitempty"`
	Verdict   string   `json:"verdict"`
}

// CompareRun names one side of a comparison. A plain value.
type CompareRun struct {
	Name  string `json:"name"` // the file it was read from, set by the caller
	RunID string `json:"run_id"`
}

// Comparison is a baseline run compared with a new one, row by row. A plain value,
// safe for concurrent reads.
type Comparison struct {
	Base           CompareRun   `json:"base"`
	New            CompareRun   `json:"new"`
	Regressed      bool         `json:"regressed"`
	Regressions    int          `json:"regressions"`
	Gated          int          `json:"gated"`
	LatencyFloorMS float64      `json:"latency_floor_ms"`
	Limits         []string     `json:"limits"` // "p99=10%", sorted
	Rows           []CompareRow `json:"rows"`
}

// ErrScenarioMismatch is wrapped by Compare's error for runs of different scenarios.
var ErrScenarioMismatch = errors.New("the runs are of different scenarios")

// compareIgnored are the scenario settings two compared runs may differ in: they do
// not change the workload (how long, the assignment seed, where to) or only judge it.
var compareIgnored = []string{"duration", "seed", "target", "thresholds"}

// Compare compares new with base: for every operation the latency percentiles p50,
// p90, p99, p999 and max, then the messages lost, duplicated and the loss rate (when
// either run expected deliveries) and the achieved rate. A row is gated when a limit
// applies to it (OP.PCT, else PCT; lost, duplicated, loss_rate, rate) and is not off;
// it regresses when new is worse than base by more than the limit (and, for a
// latency, new is at least the latency floor); an operation gated but absent from new
// regresses. Runs whose scenarios differ in settings other than duration, seed,
// target and thresholds are refused (ErrScenarioMismatch) unless Force. It is safe for
// concurrent use.
func Compare(base, cur *Report, o CompareOptions) (*Comparison, error) {
	if !o.Force && (len(base.Workloads) > 0 || len(cur.Workloads) > 0) {
		if err := sameWorkloads(base, cur); err != nil {
			return nil, err
		}
	} else if !o.Force {
		a, err := scenarioFields(base.Scenario)
		if err != nil {
			return nil, fmt.Errorf("BASE: %w", err)
		}
		b, err := scenarioFields(cur.Scenario)
		if err != nil {
			return nil, fmt.Errorf("NEW: %w", err)
		}
		if k, x, y, same := diffFields(a, b, compareIgnored...); !same {
			return nil, fmt.Errorf("%w: %s is %s in BASE and %s in NEW", ErrScenarioMismatch, k, x, y)
		}
	}
	lim := o.Limits
	if lim == nil {
		lim = DefaultLimits()
	}
	c := &Comparison{
		Base:           CompareRun{Name: base.RunID, RunID: base.RunID},
		New:            CompareRun{Name: cur.RunID, RunID: cur.RunID},
		LatencyFloorMS: float64(o.LatencyFloor) / 1e6,
		Limits:         []string{},
		Rows:           []CompareRow{},
	}
	for k, l := range lim {
		c.Limits = append(c.Limits, k+"="+l.String())
	}
	slices.Sort(c.Limits)
	floorMS := float64(o.LatencyFloor) / 1e6

	ops := opOrder(base.Operations)
	for _, n := range opOrder(cur.Operations) {
		if !slices.Contains(ops, n) {
			ops = append(ops, n)
		}
	}
	slices.SortStableFunc(ops, func(a, b string) int { return opIndex(a) - opIndex(b) })
	for _, op := range ops {
		bo, bok := latencies(base.Operations, op)
		no, nok := latencies(cur.Operations, op)
		for _, p := range comparePercentiles {
			row := CompareRow{Metric: op + " " + p, Unit: "ms"}
			if bok {
				row.Base = ptr(bo[p] / 1e3)
			}
			if nok {
				row.New = ptr(no[p] / 1e3)
			}
			l, gated := lim[op+"."+p]
			if !gated {
				l, gated = lim[p]
				gated = gated && enough(base.Operations[op], cur.Operations[op], o.MinSamples)
			}
			c.judge(&row, l, gated && !l.Off, false, floorMS)
		}
	}
	if base.Messages != (Messages{}) || cur.Messages != (Messages{}) {
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
			row := CompareRow{Metric: m.name, Base: m.get(base.Messages), New: m.get(cur.Messages)}
			l, gated := lim[m.key]
			c.judge(&row, l, gated && !l.Off, false, -1)
			if m.key == "loss_rate" { // shown in percent; judged on the fraction above
				row.Unit = "%"
				row.Base, row.New = timesPtr(row.Base, 100), timesPtr(row.New, 100)
			}
			c.Rows[len(c.Rows)-1] = row
		}
	}
	row := CompareRow{Metric: "load achieved rate", Unit: "/s", Base: ptr(base.Load.AchievedRate), New: ptr(cur.Load.AchievedRate)}
	l, gated := lim["rate"]
	c.judge(&row, l, gated && !l.Off, true, -1)
	// A mixed run's workloads, each compared as a run of its own, its rows named
	// "WORKLOAD: METRIC" after the totals'.
	for _, bw := range base.Workloads {
		cw := cur.WorkloadNamed(bw.Name)
		if cw == nil {
			continue
		}
		so := o
		so.Force = true // checked above
		sub, err := Compare(bw.Report, cw, so)
		if err != nil {
			return nil, fmt.Errorf("workload %s: %w", bw.Name, err)
		}
		for _, r := range sub.Rows {
			r.Metric = bw.Name + ": " + r.Metric
			c.Rows = append(c.Rows, r)
		}
		c.Regressions += sub.Regressions
		c.Gated += sub.Gated
	}
	c.Regressed = c.Regressions > 0
	return c, nil
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

// latencies returns an operation's percentiles in microseconds; ok is false when it
// did not run or has no successful sample (its summary is then all zeros).
func latencies(ops map[string]Operation, name string) (map[string]float64, bool) {
	o, ok := ops[name]
	if !ok || o.Count <= o.Errors {
		return nil, false
	}
	l := o.LatencyUS
	return map[string]float64{"p50": l.P50, "p90": l.P90, "p99": l.P99, "p999": l.P999, "max": l.Max}, true
}

// judge fills row's change and verdict and appends it. lowerWorse is for rates;
// enough reports whether both operations have at least min successful samples.
func enough(a, b Operation, min uint64) bool {
	return a.Count-a.Errors >= min && b.Count-b.Errors >= min
}

// floor (ms) applies to latencies (negative: none).
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
	if !l.Relative && floor >= 0 { // an absolute latency limit: a duration
		limit = time.Duration(l.Value * 1e3).String()
	}
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
		} else if floor >= 0 {
			allowed = l.Value / 1e3 // microseconds -> ms, the row's unit
		}
		switch {
		case floor >= 0 && max(b, n) < floor:
			row.Verdict = VerdictOK // both at noise level
		case worse > allowed && !(floor >= 0 && n < floor):
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
func (r CompareRow) cells() (base, cur, change string) {
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
		change = strconv.FormatFloat(*r.ChangePct, 'f', 1, 64) + "%"
		if *r.ChangePct >= 0.05 {
			change = "+" + change
		} else if *r.ChangePct > -0.05 {
			change = "0.0%"
		}
	} else if r.Base == nil && r.New == nil {
		change = "-"
	}
	return f(r.Base), f(r.New), change
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
	if !c.Regressed {
		return fmt.Sprintf("PASS: no regression in %s", pluralize(c.Gated, "gated row"))
	}
	var worst []string
	for _, r := range c.Rows {
		if r.Verdict == VerdictRegressed {
			_, _, ch := r.cells()
			worst = append(worst, r.Metric+" "+ch)
		}
	}
	return fmt.Sprintf("REGRESSED: %d of %s (%s)", c.Regressions, pluralize(c.Gated, "gated row"), strings.Join(worst, ", "))
}

func (c *Comparison) settings() string {
	return fmt.Sprintf("limits %s; latency floor %s ms", strings.Join(c.Limits, ","),
		strconv.FormatFloat(c.LatencyFloorMS, 'f', -1, 64))
}

// WriteTable prints the comparison for people: the runs, one ASCII table row per
// metric (BASE, NEW, CHANGE, LIMIT, VERDICT), the limits and the outcome. It is safe
// for concurrent use with other readers of c.
func (c *Comparison) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "BASE %s (run %s)\nNEW  %s (run %s)\n\n", cell(c.Base.Name), cell(c.Base.RunID), cell(c.New.Name), cell(c.New.RunID))
	t := newTable(&b, []string{"METRIC", "BASE", "NEW", "CHANGE", "LIMIT", "VERDICT"},
		tw.Alignment{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft})
	for _, r := range c.Rows {
		base, cur, change := r.cells()
		if err := t.Append(cell(r.label()), base, cur, change, orDash(r.Limit), r.Verdict); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%s\n%s\n", c.settings(), c.summary())
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
	head := "PASS"
	if c.Regressed {
		head = "REGRESSED"
	}
	fmt.Fprintf(&b, "### chatload compare: %s\n\n", head)
	fmt.Fprintf(&b, "Base `%s` (run `%s`), new `%s` (run `%s`); %s.\n\n",
		mdCode(c.Base.Name), mdCode(c.Base.RunID), mdCode(c.New.Name), mdCode(c.New.RunID), c.settings())
	b.WriteString("| Metric | Base | New | Change | Limit | Verdict |\n|---|---:|---:|---:|---:|---|\n")
	for _, r := range c.Rows {
		base, cur, change := r.cells()
		v := r.Verdict
		if v == VerdictRegressed {
			v, change = "**"+v+"**", "**"+change+"**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdCell(r.label()), base, cur, change, orDash(r.Limit), v)
	}
	fmt.Fprintf(&b, "\n%s\n", c.summary())
	_, err := w.Write(b.Bytes())
	return err
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
