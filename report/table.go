package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// maxCellLen bounds a free-text cell (failure examples) in tables.
const maxCellLen = 100

// WriteTables prints the end-of-run summary for people: the operations (op, count,
// errors, p50, p90, p99, p99.9 and max latency in ms to 3 significant digits), the
// messages (with the delivered share of the expected deliveries), the failures by
// class and code with the class's first example, the thresholds' verdicts (threshold,
// observed value, PASS or FAIL, how it was judged), then one line for the load and one
// for the generator's health. The messages, failures and thresholds tables are left
// out when empty. The output is plain ASCII (free text is sanitized and cut to 100
// characters; the JSON report keeps it whole) and deterministic. r is not modified;
// WriteTables is safe for concurrent use with other readers of r.
func (r *Report) WriteTables(w io.Writer) error {
	var b bytes.Buffer // one write at the end: tablewriter does not report write errors
	if err := r.writeOperations(&b); err != nil {
		return err
	}
	if r.Messages != (Messages{}) {
		if err := r.writeMessages(&b); err != nil {
			return err
		}
	}
	if len(r.Failures) > 0 {
		if err := r.writeFailures(&b); err != nil {
			return err
		}
	}
	if len(r.Thresholds) > 0 {
		if err := r.writeThresholds(&b); err != nil {
			return err
		}
	}
	r.writeLoad(&b)
	r.writeGenerator(&b)
	if t := r.RecoveryText(); t != "" {
		fmt.Fprintf(&b, "Recovery:  %s\n", t)
	}
	if t := r.Target.Server.Text(); t != "" {
		fmt.Fprintf(&b, "Server:    %s\n", t) // made of numbers and cell()s
	}
	if err := r.writeWorkloads(&b); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeWorkloads writes each workload of a mixed run under its name: its
// operations, messages and failures, and its load line.
func (r *Report) writeWorkloads(b *bytes.Buffer) error {
	for _, wl := range r.Workloads {
		w := wl.Report
		fmt.Fprintf(b, "\nWorkload %s (%s)\n", cell(wl.Name), cell(scenarioName(w)))
		if err := w.writeOperations(b); err != nil {
			return err
		}
		if w.Messages != (Messages{}) {
			if err := w.writeMessages(b); err != nil {
				return err
			}
		}
		if len(w.Failures) > 0 {
			if err := w.writeFailures(b); err != nil {
				return err
			}
		}
		w.writeLoad(b)
	}
	return nil
}

// newTable returns an ASCII table with the given headers and alignments (one per
// column); headers are printed as given.
func newTable(w io.Writer, headers []string, aligns tw.Alignment) *tablewriter.Table {
	t := tablewriter.NewTable(w,
		tablewriter.WithSymbols(tw.NewSymbols(tw.StyleASCII)),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithAlignment(aligns),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	h := make([]any, len(headers))
	for i, s := range headers {
		h[i] = s
	}
	t.Header(h...)
	return t
}

func aligns(first tw.Align, n int) tw.Alignment {
	a := tw.Alignment{first}
	for range n - 1 {
		a = append(a, tw.AlignRight)
	}
	return a
}

func (r *Report) writeOperations(b *bytes.Buffer) error {
	if len(r.Operations) == 0 {
		b.WriteString("Operations: none\n\n")
		return nil
	}
	b.WriteString("Operations (latency in ms: intended start -> completion)\n")
	t := newTable(b, []string{"OP", "COUNT", "ERRORS", "P50", "P90", "P99", "P99.9", "MAX"}, aligns(tw.AlignLeft, 8))
	for _, name := range opOrder(r.Operations) {
		o := r.Operations[name]
		l := o.LatencyUS
		if err := t.Append(cell(name), u64(o.Count), u64(o.Errors),
			formatMS(l.P50), formatMS(l.P90), formatMS(l.P99), formatMS(l.P999), formatMS(l.Max)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

// opOrder lists the keys of ops in Op order, then keys this version does not know
// (a report from a newer writer) sorted.
func opOrder(ops map[string]Operation) []string {
	var names, unknown []string
	for o := range NumOps {
		if _, ok := ops[o.String()]; ok {
			names = append(names, o.String())
		}
	}
	for k := range ops {
		if _, err := ParseOp(k); err != nil {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return append(names, unknown...)
}

func (r *Report) writeMessages(b *bytes.Buffer) error {
	m := r.Messages
	b.WriteString("Messages\n")
	t := newTable(b, []string{"SENT", "ACCEPTED", "EXPECTED", "DELIVERED", "LOST", "DUPLICATED", "OUT OF ORDER", "CORRUPTED", "DELIVERED %"},
		aligns(tw.AlignRight, 9))
	if err := t.Append(u64(m.Sent), u64(m.Accepted), u64(m.ExpectedDeliveries), u64(m.Delivered), u64(m.Lost),
		u64(m.Duplicated), u64(m.OutOfOrder), u64(m.Corrupted), deliveredPercent(m)); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

// deliveredPercent is delivered / expected, rounded down to 0.01% so that a single
// loss never shows as 100.00%.
func deliveredPercent(m Messages) string {
	if m.ExpectedDeliveries == 0 {
		return "-"
	}
	p := math.Floor(float64(m.Delivered)/float64(m.ExpectedDeliveries)*10000) / 100
	if m.Delivered < m.ExpectedDeliveries && p >= 100 {
		p = 99.99
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}

func (r *Report) writeFailures(b *bytes.Buffer) error {
	b.WriteString("Failures\n")
	t := newTable(b, []string{"CLASS", "CODE", "COUNT", "FIRST EXAMPLE"},
		tw.Alignment{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft})
	for _, f := range r.Failures {
		example := ""
		if len(f.Examples) > 0 {
			example = cell(f.Examples[0])
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
			ex := ""
			if i == 0 {
				ex = example
			}
			if err := t.Append(cell(f.Class.String()), cell(code), u64(n), ex); err != nil {
				return err
			}
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

// sortedCodes orders codes numerically, then non-numeric keys (NoCode) after them.
func sortedCodes(codes map[string]uint64) []string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		switch {
		case errA == nil && errB == nil:
			return x - y
		case errA == nil:
			return -1
		case errB == nil:
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}

func (r *Report) writeThresholds(b *bytes.Buffer) error {
	b.WriteString("Thresholds\n")
	t := newTable(b, []string{"THRESHOLD", "OBSERVED", "RESULT", "DETAIL"},
		tw.Alignment{tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignLeft})
	for _, v := range r.Thresholds {
		result := "PASS"
		if !v.Pass {
			result = "FAIL"
		}
		if err := t.Append(cell(v.Threshold), cell(v.Observed), result, cell(v.Detail)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

func (r *Report) writeLoad(b *bytes.Buffer) {
	l := r.Load
	var parts []string
	if l.Model != "" {
		parts = append(parts, cell(l.Model)+" model")
	}
	if l.TargetRate > 0 {
		parts = append(parts, "target "+formatRate(l.TargetRate))
	}
	parts = append(parts, "achieved "+formatRate(l.AchievedRate), "dropped "+u64(l.Dropped))
	if s := l.SignIn; s != nil {
		in := fmt.Sprintf("sign-in %d users in %.1f s", s.Users, s.Seconds)
		// The rate of a wave shorter than a second, unpaced, says little (4 users
		// started at once are "160,000/s"): the JSON keeps it.
		if s.AchievedRate > 0 && (s.TargetRate > 0 || s.Seconds >= 1) {
			in += " at " + formatRate(s.AchievedRate)
		}
		if s.TargetRate > 0 {
			in += " of " + formatRate(s.TargetRate)
		}
		parts = append(parts, in)
	}
	fmt.Fprintf(b, "Load:      %s\n", strings.Join(parts, ", "))
}

func (r *Report) writeGenerator(b *bytes.Buffer) {
	g := r.Generator
	fmt.Fprintf(b, "Generator: CPU %.2f s, max RSS %.1f MiB, schedule lag p99 %s ms, overflow %d",
		g.CPUSeconds, float64(g.MaxRSSBytes)/(1<<20), formatMS(g.ScheduleLagP99US), g.Overflow)
	if g.Overflow > 0 {
		b.WriteString(" (values clamped or lost: percentiles approximate)")
	}
	if g.Note != "" {
		b.WriteString("; " + cell(g.Note))
	}
	b.WriteByte('\n')
	if r.Noise != nil {
		fmt.Fprintf(b, "Noise:     %s\n", r.Noise)
	}
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

// formatRate formats a rate per second: one decimal from 1/s up, 3 significant
// digits below (a population's 1 post a minute is 0.0167/s, not 0.0/s).
func formatRate(r float64) string {
	if r > 0 && r < 0.95 {
		return strconv.FormatFloat(r, 'g', 3, 64) + "/s"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
}

// formatMS formats a duration given in microseconds as milliseconds to 3 significant
// digits (12.3, 0.451, 1.50), whole milliseconds from 1000 ms up (1234).
func formatMS(us float64) string {
	ms := us / 1000
	if !(ms > 0) { // also NaN
		return "0"
	}
	if ms >= 999.5 {
		return strconv.FormatFloat(ms, 'f', 0, 64)
	}
	d := 2 - int(math.Floor(math.Log10(ms)))
	s := strconv.FormatFloat(ms, 'f', d, 64)
	// Rounding can carry into the next decade (9.996 -> "10.00"): one decimal fewer.
	if v, _ := strconv.ParseFloat(s, 64); d > 0 && v >= math.Pow10(3-d) {
		s = strconv.FormatFloat(ms, 'f', d-1, 64)
	}
	return s
}

// cell makes free text safe for a table: printable ASCII only (a run of tabs and
// line breaks becomes one space, anything else '?'), at most maxCellLen characters.
func cell(s string) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		if b.Len() == maxCellLen {
			return b.String()[:maxCellLen-3] + "..."
		}
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			if space {
				continue
			}
			c = ' '
		case c < 0x20 || c > 0x7e:
			c = '?'
		}
		space = c == ' '
		b.WriteByte(byte(c))
	}
	return b.String()
}
