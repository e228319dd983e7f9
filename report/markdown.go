package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteMarkdown prints the content of WriteTables as GitHub-flavoured markdown, for CI
// comments and job summaries: a heading naming the scenario and run, one line for the
// outcome and target, the threshold verdicts (when any), then the operations, messages
// and failures tables and the load and generator lines of WriteTables. Free text is
// sanitized as in the tables and its markdown punctuation escaped, so a failure
// example cannot break the table or inject links. The output is deterministic. r is not
// modified; WriteMarkdown is safe for concurrent use with other readers of r.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## %s\n\n", md(title(r)))
	b.WriteString(md(outcomeLine(r)) + "\n\n")

	if len(r.Thresholds) > 0 {
		b.WriteString("### Thresholds\n\n")
		mdRow(&b, "THRESHOLD", "OBSERVED", "RESULT", "DETAIL")
		b.WriteString("|:---|---:|:---|:---|\n")
		for _, v := range r.Thresholds {
			result := "✅ PASS"
			if !v.Pass {
				result = "❌ **FAIL**"
			}
			mdRow(&b, md(v.Threshold), md(v.Observed), result, md(v.Detail))
		}
		b.WriteByte('\n')
	}

	if len(r.Operations) == 0 {
		b.WriteString("### Operations\n\nnone\n\n")
	} else {
		b.WriteString("### Operations\n\nlatency in ms: intended start -> completion\n\n")
		mdRow(&b, "OP", "COUNT", "ERRORS", "P50", "P90", "P99", "P99.9", "MAX")
		b.WriteString("|:---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, name := range opOrder(r.Operations) {
			o := r.Operations[name]
			l := o.LatencyUS
			mdRow(&b, md(name), u64(o.Count), u64(o.Errors),
				formatMS(l.P50), formatMS(l.P90), formatMS(l.P99), formatMS(l.P999), formatMS(l.Max))
		}
		b.WriteByte('\n')
	}

	if m := r.Messages; m != (Messages{}) {
		b.WriteString("### Messages\n\n")
		mdRow(&b, "SENT", "ACCEPTED", "EXPECTED", "DELIVERED", "LOST", "DUPLICATED", "OUT OF ORDER", "CORRUPTED", "DELIVERED %")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		mdRow(&b, u64(m.Sent), u64(m.Accepted), u64(m.ExpectedDeliveries), u64(m.Delivered), u64(m.Lost),
			u64(m.Duplicated), u64(m.OutOfOrder), u64(m.Corrupted), deliveredPercent(m))
		b.WriteByte('\n')
	}

	if len(r.Failures) > 0 {
		b.WriteString("### Failures\n\n")
		mdRow(&b, "CLASS", "CODE", "COUNT", "FIRST EXAMPLE")
		b.WriteString("|:---|---:|---:|:---|\n")
		for _, row := range failureRows(r.Failures) {
			mdRow(&b, md(row.class), md(row.code), u64(row.count), md(row.example))
		}
		b.WriteByte('\n')
	}

	fmt.Fprintf(&b, "**Load:** %s  \n**Generator:** %s\n", md(loadText(r)), md(generatorText(r)))
	if t := r.Target.Server.Text(); t != "" {
		fmt.Fprintf(&b, "\n**Server:** %s\n", md(t))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// mdRow writes one table row; cells must already be escaped.
func mdRow(b *bytes.Buffer, cells ...string) {
	b.WriteByte('|')
	for _, c := range cells {
		b.WriteString(" " + c + " |")
	}
	b.WriteByte('\n')
}

// md makes free text safe for a markdown table cell or line: sanitized as a table
// cell (printable ASCII, at most maxCellLen), with markdown punctuation backslash-
// escaped where it could format, link, end a cell or start math (GFM allows escaping
// any ASCII punctuation), so that it renders literally.
func md(s string) string {
	var b strings.Builder
	for _, c := range cell(s) {
		if strings.ContainsRune("\\`*_[]<>|~&$", c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// failureRow is one row of a failures table: class and code, count, and the class's
// first example on its first row only.
type failureRow struct {
	class, code string
	count       uint64
	example     string
}

// failureRows lists failures by class (Classes order, as given) and code (numeric
// order), as the tables print them.
func failureRows(fs []Failure) []failureRow {
	var rows []failureRow
	for _, f := range fs {
		example := ""
		if len(f.Examples) > 0 {
			example = f.Examples[0]
		}
		codes := sortedCodes(f.Codes)
		if len(codes) == 0 {
			codes = []string{NoCode} // a hand-made report without codes: still one row
		}
		for i, code := range codes {
			n := f.Codes[code]
			if len(f.Codes) == 0 {
				n = f.Count
			}
			row := failureRow{class: f.Class.String(), code: code, count: n}
			if i == 0 {
				row.example = example
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// loadText is the tables' load line without its label.
func loadText(r *Report) string {
	var b bytes.Buffer
	r.writeLoad(&b)
	_, s, _ := strings.Cut(strings.TrimSpace(b.String()), ":")
	return strings.TrimSpace(s)
}

// generatorText is the tables' generator line without its label.
func generatorText(r *Report) string {
	var b bytes.Buffer
	r.writeGenerator(&b)
	_, s, _ := strings.Cut(strings.TrimSpace(b.String()), ":")
	return strings.TrimSpace(s)
}

// scenarioName is the "scenario" setting of the report's scenario configuration, ""
// when the report does not name one.
func scenarioName(r *Report) string {
	var s struct {
		Scenario string `json:"scenario"`
	}
	if len(r.Scenario) == 0 || json.Unmarshal(r.Scenario, &s) != nil {
		return ""
	}
	return s.Scenario
}

// title is "chatload report: <scenario> <run_id>", leaving out what the report lacks.
func title(r *Report) string {
	var parts []string
	for _, s := range []string{scenarioName(r), r.RunID} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "chatload report"
	}
	return "chatload report: " + strings.Join(parts, " ")
}

// runDuration is the run's wall-clock length, 0 when a time is missing.
func runDuration(r *Report) time.Duration {
	if r.StartedAt.IsZero() || r.EndedAt.Before(r.StartedAt) {
		return 0
	}
	return r.EndedAt.Sub(r.StartedAt)
}

// targetText describes the target: "ADDRESS (protocol/transport, embedded)".
func targetText(t Target) string {
	s := t.Address
	if s == "" {
		s = "unknown target"
	}
	var details []string
	if pt := strings.Trim(t.Protocol+"/"+t.Transport, "/"); pt != "" {
		details = append(details, pt)
	}
	if t.Auth != "" {
		details = append(details, t.Auth+" sign-in")
	}
	if t.Embedded {
		switch {
		case t.Server != nil && t.Server.Process == ServerChild:
			details = append(details, "embedded server, own process")
		case t.Server != nil && t.Server.Process == ServerInProcess:
			details = append(details, "embedded server, in-process")
		default:
			details = append(details, "embedded server")
		}
	}
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	return s
}

// outcomeLine is one line saying how the run ended, how long it took, where it was
// aimed and how its thresholds fared.
func outcomeLine(r *Report) string {
	reason := r.EndReason
	if reason == "" {
		reason = "unknown end"
	}
	parts := []string{reason}
	if d := runDuration(r); d > 0 {
		parts = append(parts, strconv.FormatFloat(d.Seconds(), 'f', 2, 64)+" s")
	}
	parts = append(parts, "target "+targetText(r.Target))
	if n := len(r.Thresholds); n > 0 {
		failed := 0
		for _, v := range r.Thresholds {
			if !v.Pass {
				failed++
			}
		}
		parts = append(parts, fmt.Sprintf("thresholds: %d of %d failed", failed, n))
	}
	return strings.Join(parts, ", ")
}
