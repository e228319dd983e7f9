package capacity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// Summary is the outcome in a few lines: the highest passing load, the knee and why
// the search stopped.
func (r Result) Summary() string {
	var b strings.Builder
	load := func(rate float64, users int) string {
		if users > 0 {
			return fmt.Sprintf("%d users (offered %s in all)", users, fmtRate(rate))
		}
		return fmtRate(rate)
	}
	if r.HighestPass > 0 || r.HighestPassUsers > 0 {
		fmt.Fprintf(&b, "Highest passing load: %s\n", load(r.HighestPass, r.HighestPassUsers))
	} else {
		b.WriteString("Highest passing load: none (no step passed)\n")
	}
	if r.Knee > 0 || r.KneeUsers > 0 {
		fmt.Fprintf(&b, "Knee:                 %s (%s)\n", load(r.Knee, r.KneeUsers), r.KneeNote)
	} else {
		fmt.Fprintf(&b, "Knee:                 - (%s)\n", r.KneeNote)
	}
	fmt.Fprintf(&b, "Stopped:              %s\n", r.Stop)
	return b.String()
}

// cells are a step's table cells (users: with the USERS column).
func (s Step) cells(users bool) []string {
	ms := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmtMS(*p)
	}
	loss := "-"
	if s.LossRate != nil {
		loss = fmt.Sprintf("%.3f%%", *s.LossRate*100)
	}
	step := fmt.Sprint(s.Index)
	if s.Attempt > 1 {
		step += " (retry)"
	}
	achieved := fmt.Sprintf("%.1f/s", s.Achieved)
	if s.Achieved < 10 && s.Achieved != math.Trunc(s.Achieved) {
		achieved = fmt.Sprintf("%.3g/s", s.Achieved)
	}
	c := []string{step, fmtRate(s.TargetRate), achieved, fmt.Sprint(s.Dropped),
		s.Metric, ms(s.P50MS), ms(s.P99MS), fmt.Sprintf("%.2f%%", s.ErrorRate*100), loss, s.Verdict, oneLine(s.Reason)}
	if users {
		c = slices.Insert(c, 1, fmt.Sprint(s.Users))
	}
	return c
}

// headers are the table's column names; verdictCol is the VERDICT column's index.
func (r Result) headers() (h []string, verdictCol int) {
	h = []string{"STEP", "RATE", "ACHIEVED", "DROPPED", "LATENCY OF", "P50 MS", "P99 MS", "ERRORS", "LOSS", "VERDICT", "WHY"}
	if r.Stepping == "users" {
		return slices.Insert(h, 1, "USERS"), 10
	}
	return h, 9
}

// WriteTable prints the per-step table and the summary.
func (r Result) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	headers, _ := r.headers()
	users := r.Stepping == "users"
	h := make([]any, len(headers))
	for i, s := range headers {
		h[i] = s
	}
	align := tw.Alignment{tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft,
		tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignLeft}
	if users {
		align = slices.Insert(align, 1, tw.AlignRight)
	}
	t := tablewriter.NewTable(&b,
		tablewriter.WithSymbols(tw.NewSymbols(tw.StyleASCII)),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithAlignment(align),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	t.Header(h...)
	for _, s := range r.Steps {
		c := s.cells(users)
		row := make([]any, len(c))
		for i, v := range c {
			row[i] = v
		}
		if err := t.Append(row...); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	b.WriteString("\n" + r.Summary())
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes r as one indented JSON object.
func (r Result) WriteJSON(w io.Writer) error {
	if r.Steps == nil {
		r.Steps = []Step{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteHTML writes one self-contained page: the summary, a chart of the latency p99
// against the offered rate (passing, tripped and inconclusive steps marked) and the
// per-step table.
func (r Result) WriteHTML(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>chatload capacity</title><style>
body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:last-child,th:last-child,td:nth-child(5),td:nth-child(10){text-align:left}.PASS{color:#176f2c}.TRIP{color:#b00020;font-weight:bold}.INCONCLUSIVE{color:#a15c00}
pre{background:#f6f6f6;padding:1em}</style></head><body><h1>chatload capacity</h1>`)
	fmt.Fprintf(&b, "<pre>%s</pre>", html.EscapeString(r.Summary()))
	b.WriteString(r.chart())
	headers, verdictCol := r.headers()
	b.WriteString("<table><tr>")
	for _, h := range headers {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>")
	for _, s := range r.Steps {
		b.WriteString("<tr>")
		for i, c := range s.cells(r.Stepping == "users") {
			if i == verdictCol {
				fmt.Fprintf(&b, `<td class="%s">%s</td>`, html.EscapeString(s.Verdict), html.EscapeString(c))
				continue
			}
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(c))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table></body></html>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// chart is an inline SVG of p99 against the load (the rate, or the users of a
// population search), one dot per step.
func (r Result) chart() string {
	const W, H, pad = 640.0, 300.0, 50.0
	var maxRate, maxMS float64
	label, fmtLoad := "offered rate", fmtRate
	kneeAt := r.Knee
	if r.Stepping == "users" {
		label, fmtLoad, kneeAt = "users", func(v float64) string { return fmt.Sprintf("%.0f", v) }, float64(r.KneeUsers)
	}
	for _, s := range r.Steps {
		maxRate = max(maxRate, s.load())
		if s.P99MS != nil {
			maxMS = max(maxMS, *s.P99MS)
		}
	}
	if maxRate == 0 || maxMS == 0 {
		return ""
	}
	x := func(v float64) float64 { return pad + v/maxRate*(W-2*pad) }
	y := func(v float64) float64 { return H - pad - v/maxMS*(H-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="p99 against rate">`, W, H)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>`,
		pad, H-pad, W-pad, H-pad, pad, pad, pad, H-pad)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="12" text-anchor="middle">%s (max %s)</text>`, W/2, H-10, label, fmtLoad(maxRate))
	fmt.Fprintf(&b, `<text x="12" y="%.0f" font-size="12" transform="rotate(-90 12 %.0f)" text-anchor="middle">p99 ms (max %s)</text>`, H/2, H/2, fmtMS(maxMS))
	colors := map[string]string{Pass: "#176f2c", Trip: "#b00020", Inconclusive: "#a15c00"}
	var pts []string
	for _, s := range r.Steps {
		if s.P99MS == nil {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.load()), y(*s.P99MS)))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s"><title>%s: %s ms %s</title></circle>`,
			x(s.load()), y(*s.P99MS), colors[s.Verdict], fmtLoad(s.load()), fmtMS(*s.P99MS), s.Verdict)
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#555" stroke-dasharray="4 3"/>`, strings.Join(pts, " "))
	if kneeAt > 0 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#36c" stroke-dasharray="2 2"/><text x="%.1f" y="%.0f" font-size="12" fill="#36c">knee</text>`,
			x(kneeAt), pad, x(kneeAt), H-pad, x(kneeAt)+4, pad+12)
	}
	b.WriteString("</svg>")
	return b.String()
}

// oneLine keeps text on one line of printable ASCII.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}
