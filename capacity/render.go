package capacity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// Summary is the outcome in a few lines: the highest passing rate, the knee and why
// the search stopped.
func (r Result) Summary() string {
	var b strings.Builder
	if r.HighestPass > 0 {
		fmt.Fprintf(&b, "Highest passing load: %s\n", fmtRate(r.HighestPass))
	} else {
		b.WriteString("Highest passing load: none (the first step did not pass)\n")
	}
	if r.Knee > 0 {
		fmt.Fprintf(&b, "Knee:                 %s (%s)\n", fmtRate(r.Knee), r.KneeNote)
	} else {
		fmt.Fprintf(&b, "Knee:                 - (%s)\n", r.KneeNote)
	}
	fmt.Fprintf(&b, "Stopped:              %s\n", r.Stop)
	return b.String()
}

// cells are a step's table cells.
func (s Step) cells() []string {
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
	return []string{step, fmtRate(s.TargetRate), fmt.Sprintf("%.1f/s", s.Achieved), fmt.Sprint(s.Dropped),
		s.Metric, ms(s.P50MS), ms(s.P99MS), fmt.Sprintf("%.2f%%", s.ErrorRate*100), loss, s.Verdict, oneLine(s.Reason)}
}

var headers = []string{"STEP", "RATE", "ACHIEVED", "DROPPED", "LATENCY OF", "P50 MS", "P99 MS", "ERRORS", "LOSS", "VERDICT", "WHY"}

// WriteTable prints the per-step table and the summary.
func (r Result) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	h := make([]any, len(headers))
	for i, s := range headers {
		h[i] = s
	}
	t := tablewriter.NewTable(&b,
		tablewriter.WithSymbols(tw.NewSymbols(tw.StyleASCII)),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithAlignment(tw.Alignment{tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft,
			tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignLeft}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	t.Header(h...)
	for _, s := range r.Steps {
		c := s.cells()
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
	b.WriteString("<table><tr>")
	for _, h := range headers {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>")
	for _, s := range r.Steps {
		b.WriteString("<tr>")
		for i, c := range s.cells() {
			if i == 9 {
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

// chart is an inline SVG of p99 against the rate, one dot per step.
func (r Result) chart() string {
	const W, H, pad = 640.0, 300.0, 50.0
	var maxRate, maxMS float64
	for _, s := range r.Steps {
		maxRate = max(maxRate, s.TargetRate)
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
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="12" text-anchor="middle">offered rate (max %s)</text>`, W/2, H-10, fmtRate(maxRate))
	fmt.Fprintf(&b, `<text x="12" y="%.0f" font-size="12" transform="rotate(-90 12 %.0f)" text-anchor="middle">p99 ms (max %s)</text>`, H/2, H/2, fmtMS(maxMS))
	colors := map[string]string{Pass: "#176f2c", Trip: "#b00020", Inconclusive: "#a15c00"}
	var pts []string
	for _, s := range r.Steps {
		if s.P99MS == nil {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.TargetRate), y(*s.P99MS)))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s"><title>%s: %s ms %s</title></circle>`,
			x(s.TargetRate), y(*s.P99MS), colors[s.Verdict], fmtRate(s.TargetRate), fmtMS(*s.P99MS), s.Verdict)
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#555" stroke-dasharray="4 3"/>`, strings.Join(pts, " "))
	if r.Knee > 0 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#36c" stroke-dasharray="2 2"/><text x="%.1f" y="%.0f" font-size="12" fill="#36c">knee</text>`,
			x(r.Knee), pad, x(r.Knee), H-pad, x(r.Knee)+4, pad+12)
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
