package report

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The page's template and style sheet are inlined into every report: the file must
// render alone, offline, years later.
//
//go:embed assets/report.html.tmpl assets/report.css
var htmlAssets embed.FS

// WriteHTML writes the report as one self-contained HTML page: a summary (target,
// scenario, load, end reason, threshold verdicts), the operations, messages and
// failures tables, and three SVG charts drawn here (no script, no fetch): latency
// percentiles over time (svg#chart-latency), throughput and errors over time
// (svg#chart-throughput) and the whole-run latency percentile spectrum
// (svg#chart-spectrum). Over-time charts of a report without intervals say "no
// intervals recorded". The page's title is "chatload report: <scenario> <run_id>".
// The output is deterministic and well-formed XML as well as HTML. r is not
// modified; WriteHTML is safe for concurrent use with other readers of r.
func (r *Report) WriteHTML(w io.Writer) error {
	tmpl, err := template.New("report.html.tmpl").ParseFS(htmlAssets, "assets/report.html.tmpl")
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	css, err := htmlAssets.ReadFile("assets/report.css")
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	v := newHTMLView(r)
	v.CSS = template.CSS(css) // our own embedded file
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// htmlView is what the template shows; every string is escaped by html/template but
// the charts, which are built from escaped text (html_chart.go).
type htmlView struct {
	Title, Scenario, RunID string
	CSS                    template.CSS
	Summary                [][2]string
	EndReason              string
	Completed              bool
	ScenarioJSON           string
	Thresholds             []Verdict
	ThresholdsFailed       int
	Ops                    []htmlOp
	Service                bool // some operation has a service time apart from latency
	Messages               *htmlMessages
	Failures               []htmlFailure
	Generator              string
	Tool                   string
	Latency                template.HTML
	Throughput             template.HTML
	InFlight               template.HTML
	Users                  template.HTML
	Spectrum               template.HTML
	Workloads              []htmlWorkload // a mixed run's, side by side
}

// htmlWorkload is one workload's row in the workloads table.
type htmlWorkload struct {
	Name, Scenario, Ops, Errors, Sent, Delivered, Lost string
	DeliveryP50, DeliveryP99, SendP99, Rate            string
}

// workloadRows are r's workloads' rows, in order.
func workloadRows(r *Report) []htmlWorkload {
	var out []htmlWorkload
	for _, wl := range r.Workloads {
		w := wl.Report
		var ops, errs uint64
		for _, o := range w.Operations {
			ops += o.Count
			errs += o.Errors
		}
		p := func(op string, pct func(Latency) float64) string {
			o, ok := w.Operations[op]
			if !ok || o.Count == 0 {
				return "-"
			}
			return formatMS(pct(o.LatencyUS))
		}
		out = append(out, htmlWorkload{Name: printable(wl.Name), Scenario: printable(scenarioName(w)), Ops: u64(ops), Errors: u64(errs),
			Sent: u64(w.Messages.Sent), Delivered: u64(w.Messages.Delivered), Lost: u64(w.Messages.Lost),
			DeliveryP50: p("delivery", func(l Latency) float64 { return l.P50 }),
			DeliveryP99: p("delivery", func(l Latency) float64 { return l.P99 }),
			SendP99:     p("send", func(l Latency) float64 { return l.P99 }),
			Rate:        formatRate(w.Load.AchievedRate)})
	}
	return out
}

type htmlOp struct {
	Name, Count, Errors, ErrorPct       string
	Min, Mean, P50, P90, P99, P999, Max string
	ServiceP50, ServiceP99              string
	HasErrors                           bool
	Swatch                              template.CSS // the operation's colour in the charts
}

type htmlMessages struct {
	Sent, Accepted, Expected, Delivered, Lost, Duplicated, OutOfOrder, Corrupted, DeliveredPct string
	Bad                                                                                        bool
}

type htmlFailure struct {
	Class, Codes, Count string
	Examples            []string
}

func newHTMLView(r *Report) htmlView {
	v := htmlView{
		Title:        printable(title(r)),
		Scenario:     printable(scenarioName(r)),
		RunID:        printable(r.RunID),
		EndReason:    printable(r.EndReason),
		Completed:    r.EndReason == "completed",
		ScenarioJSON: printable(indentJSON(r.Scenario)),
		Generator:    generatorText(r),
		Tool:         printable(strings.TrimSpace(r.Tool.Name + " " + r.Tool.Version)),
		Latency:      latencyChart(r),
		Throughput:   throughputChart(r),
		InFlight:     inFlightChart(r),
		Users:        usersChart(r),
		Spectrum:     spectrumChart(r),
		Workloads:    workloadRows(r),
	}
	if v.EndReason == "" {
		v.EndReason = "unknown"
	}
	for _, t := range r.Thresholds {
		if !t.Pass {
			v.ThresholdsFailed++
		}
		v.Thresholds = append(v.Thresholds, Verdict{Threshold: printable(t.Threshold), Pass: t.Pass,
			Observed: printable(t.Observed), Detail: printable(t.Detail)})
	}

	add := func(k, val string) {
		if val != "" {
			v.Summary = append(v.Summary, [2]string{k, printable(val)})
		}
	}
	add("Target", targetText(r.Target))
	add("Server", r.Target.Server.Text())
	add("Recovery", r.RecoveryText())
	add("Scenario", scenarioSettings(r.Scenario))
	add("Load", loadText(r))
	if !r.StartedAt.IsZero() {
		add("Started", r.StartedAt.UTC().Format("2006-01-02 15:04:05.000 UTC"))
	}
	if d := runDuration(r); d > 0 {
		add("Duration", d.Round(time.Millisecond).String())
	}
	if n := len(r.Intervals); n > 0 {
		s := strconv.Itoa(n) + " intervals"
		if d := r.Intervals[0].End.Sub(r.Intervals[0].Start); d > 0 {
			s += " of " + d.String()
		}
		add("Intervals", s)
	} else {
		add("Intervals", "none recorded")
	}

	for _, name := range opOrder(r.Operations) {
		o := r.Operations[name]
		l := o.LatencyUS
		op := htmlOp{
			Name: printable(name), Count: u64(o.Count), Errors: u64(o.Errors), HasErrors: o.Errors > 0,
			Min: formatMS(l.Min), Mean: formatMS(l.Mean), P50: formatMS(l.P50), P90: formatMS(l.P90),
			P99: formatMS(l.P99), P999: formatMS(l.P999), Max: formatMS(l.Max),
			ErrorPct: "-", ServiceP50: "-", ServiceP99: "-",
			Swatch: template.CSS("background:" + opColor(name)), // a constant colour
		}
		if o.Count > 0 {
			op.ErrorPct = strconv.FormatFloat(float64(o.Errors)/float64(o.Count)*100, 'f', 2, 64) + "%"
		}
		if o.ServiceUS != nil {
			v.Service = true
			op.ServiceP50, op.ServiceP99 = formatMS(o.ServiceUS.P50), formatMS(o.ServiceUS.P99)
		}
		v.Ops = append(v.Ops, op)
	}

	if m := r.Messages; m != (Messages{}) {
		v.Messages = &htmlMessages{
			Sent: u64(m.Sent), Accepted: u64(m.Accepted), Expected: u64(m.ExpectedDeliveries),
			Delivered: u64(m.Delivered), Lost: u64(m.Lost), Duplicated: u64(m.Duplicated),
			OutOfOrder: u64(m.OutOfOrder), Corrupted: u64(m.Corrupted), DeliveredPct: deliveredPercent(m),
			Bad: m.Lost+m.Duplicated+m.OutOfOrder+m.Corrupted > 0,
		}
	}

	for _, f := range r.Failures {
		var codes []string
		for _, c := range sortedCodes(f.Codes) {
			n, name := f.Codes[c], printable(c)
			if c == NoCode {
				if len(f.Codes) == 1 {
					break // no failure of the class had a code: say nothing
				}
				name = "no code"
			}
			codes = append(codes, name+" \u00d7 "+u64(n))
		}
		examples := make([]string, len(f.Examples))
		for i, e := range f.Examples {
			examples[i] = printable(e)
		}
		v.Failures = append(v.Failures, htmlFailure{
			Class: printable(f.Class.String()), Codes: strings.Join(codes, ", "), Count: u64(f.Count),
			Examples: examples,
		})
	}
	return v
}

// printable keeps free text whole (the JSON report has it as it was) but for what
// neither HTML nor XML may carry: control characters but tab and line breaks, and
// invalid UTF-8, become U+FFFD.
func printable(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			return c
		case c < 0x20, c >= 0x7f && c < 0xa0, c == 0xfffe, c == 0xffff:
			return utf8.RuneError
		}
		return c
	}, s)
}

// indentJSON pretty-prints the scenario configuration, or returns it as it is.
func indentJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 {
		return ""
	}
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// scenarioSettings is a one-line digest of the scenario configuration: the name and
// the load-shaping settings it has, in the configuration's own order.
func scenarioSettings(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	keep := map[string]bool{"scenario": true, "rate": true, "ramp": true, "concurrency": true, "duration": true,
		"iterations": true, "pairs": true, "rooms": true, "room_size": true, "users": true, "message_size": true,
		"interval": true, "segment": true}
	var parts []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			break
		}
		k, _ := t.(string)
		if !keep[strings.ReplaceAll(k, "-", "_")] {
			continue
		}
		var s any
		if json.Unmarshal(val, &s) != nil {
			continue
		}
		switch s := s.(type) {
		case string:
			// A zero rate or duration is "not set" (a ramp run has neither).
			if s != "" && s != "0/s" && s != "0s" {
				parts = append(parts, k+" "+s)
			}
		case []any: // ramp: a list of stages
			var stages []string
			for _, st := range s {
				if m, ok := st.(map[string]any); ok {
					stages = append(stages, fmt.Sprintf("%v:%v", m["duration"], m["rate"]))
				}
			}
			if len(stages) > 0 {
				parts = append(parts, k+" "+strings.Join(stages, ","))
			}
		case float64:
			if s != 0 {
				parts = append(parts, k+" "+strconv.FormatFloat(s, 'f', -1, 64))
			}
		}
	}
	return strings.Join(parts, ", ")
}
