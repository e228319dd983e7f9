package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The charts of the HTML report are SVG drawn here, so that the page renders without
// JavaScript and without fetching anything. Every chart is an <svg class="chart"> with
// a stable id (chart-latency, chart-throughput, chart-spectrum); a chart without data
// holds a <text class="chart-empty"> saying why.

// Chart geometry in SVG user units (the page scales the SVG to its width).
const (
	chartW      = 960
	chartLeft   = 70 // room for y tick labels and the axis title
	chartRight  = 20
	chartLegend = 26 // height of one legend row
	markersMax  = 60 // above this many points a series is drawn without markers
)

// opColor gives each operation one colour in every chart and table (colour-blind
// friendly), grey for operations this version does not know.
func opColor(name string) string {
	switch name {
	case "delivery":
		return "#1f5fa8"
	case "send":
		return "#d95f02"
	case "register":
		return "#1b7837"
	case "join":
		return "#7570b3"
	case "history":
		return "#8c510a"
	case "leave":
		return "#01665e"
	case "unregister":
		return "#c51b7d"
	case "cycle":
		return "#333333"
	}
	return "#666666"
}

// chartPt is one point of a series; y is NaN where the series has no value (a gap).
type chartPt struct{ x, y float64 }

// chartSeries is one line (or one kind of bar) of a chart.
type chartSeries struct {
	name  string // legend and tooltips
	color string
	dash  string // stroke-dasharray, "" for solid
	width float64
	bars  bool
	pts   []chartPt
}

// axisScale maps data values to pixels, linearly or on log10 of the value.
type axisScale struct {
	lo, hi float64 // domain (log10 of it when log)
	log    bool
	p0, p1 float64 // pixels of lo and hi
}

func (s axisScale) at(v float64) float64 {
	if s.log {
		v = math.Log10(v)
	}
	if s.hi == s.lo {
		return s.p0
	}
	return s.p0 + (v-s.lo)/(s.hi-s.lo)*(s.p1-s.p0)
}

// axisTick is an axis tick: its value, its label ("" for an unlabelled grid line).
type axisTick struct {
	v     float64
	label string
}

// niceStep returns 1, 2 or 5 times a power of ten, at least raw.
func niceStep(raw float64) float64 {
	if !(raw > 0) {
		return 1
	}
	p := math.Pow10(int(math.Floor(math.Log10(raw))))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// linearAxis is 0..a nice value above max, with about 5 labelled ticks.
func linearAxis(top float64, p0, p1 float64) (axisScale, []axisTick) {
	if !(top > 0) {
		top = 1
	}
	step := niceStep(top / 5)
	hi := math.Ceil(top/step*(1-1e-9)) * step
	dec := max(0, -int(math.Floor(math.Log10(step))))
	var ticks []axisTick
	for i := 0; float64(i)*step <= hi*(1+1e-9); i++ {
		v := float64(i) * step
		ticks = append(ticks, axisTick{v, strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return axisScale{lo: 0, hi: hi, p0: p0, p1: p1}, ticks
}

// logAxis spans whole decades around min..max (both > 0), labelled at each decade,
// with grid lines at 2 and 5 times each decade.
func logAxis(bottom, top float64, p0, p1 float64) (axisScale, []axisTick) {
	lo := math.Floor(math.Log10(bottom))
	hi := math.Ceil(math.Log10(top))
	if hi <= lo {
		hi = lo + 1
	}
	var ticks []axisTick
	for d := lo; d <= hi; d++ {
		v := math.Pow10(int(d))
		ticks = append(ticks, axisTick{v, strconv.FormatFloat(v, 'f', -1, 64)})
		if d < hi {
			ticks = append(ticks, axisTick{2 * v, ""}, axisTick{5 * v, ""})
		}
	}
	return axisScale{lo: lo, hi: hi, log: true, p0: p0, p1: p1}, ticks
}

// valueAxis picks a linear axis from 0, or a log axis when the positive values span
// more than two decades (a p50 of 0.5 ms and a p99 of 800 ms both stay readable).
func valueAxis(ss []chartSeries, p0, p1 float64) (axisScale, []axisTick) {
	lo, hi := math.Inf(1), 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			if p.y > 0 {
				lo, hi = min(lo, p.y), max(hi, p.y)
			}
		}
	}
	if hi > 0 && hi/lo > 100 {
		return logAxis(lo, hi, p0, p1)
	}
	return linearAxis(hi, p0, p1)
}

// timeAxis is 0..total seconds with ticks at a round step of time.
func timeAxis(total float64, p0, p1 float64) (axisScale, []axisTick) {
	if !(total > 0) {
		total = 1
	}
	steps := []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
		7200, 10800, 21600, 43200, 86400, 172800, 604800}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if total/s <= 8 {
			step = s
			break
		}
	}
	var ticks []axisTick
	for i := 0; float64(i)*step <= total*(1+1e-9); i++ {
		v := float64(i) * step
		ticks = append(ticks, axisTick{v, formatOffset(v)})
	}
	return axisScale{lo: 0, hi: total, p0: p0, p1: p1}, ticks
}

// formatOffset formats seconds since the start: 0, 500ms, 30s, 1m, 1m30s, 2h.
func formatOffset(sec float64) string {
	if sec == 0 {
		return "0"
	}
	s := time.Duration(math.Round(sec*1e3) * float64(time.Millisecond)).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// svgChart builds one chart. Text is escaped on the way in.
type svgChart struct {
	b strings.Builder
}

func (s *svgChart) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// px formats a coordinate: one decimal is finer than a pixel.
func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func svgEsc(s string) string { return template.HTMLEscapeString(printable(s)) }

// open starts an <svg> of the given height with its title and description.
func (s *svgChart) open(id, title, desc string, h float64) {
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" id="%s" class="chart" viewBox="0 0 %d %s" width="%d" height="%s" role="img" aria-labelledby="%s-title %s-desc" font-family="Liberation Sans, Arial, Helvetica, sans-serif" font-size="12">`,
		id, chartW, px(h), chartW, px(h), id, id)
	s.f("\n<title id=\"%s-title\">%s</title>\n<desc id=\"%s-desc\">%s</desc>\n", id, svgEsc(title), id, svgEsc(desc))
}

func (s *svgChart) close() template.HTML {
	s.f("</svg>\n")
	return template.HTML(s.b.String()) // built from escaped text and numbers only
}

// emptyChart is a low chart without data that says why in its middle.
func emptyChart(id, title, desc, note string) template.HTML {
	const h = 120.0
	var s svgChart
	s.open(id, title, desc, h)
	s.f(`<text class="chart-empty" x="%d" y="%s" text-anchor="middle" dominant-baseline="middle" fill="#666666" font-size="16">%s</text>`+"\n",
		chartW/2, px(h/2), svgEsc(note))
	return s.close()
}

// legend writes the series' keys in rows from y, and returns the y below them.
func (s *svgChart) legend(ss []chartSeries, y float64) float64 {
	x := float64(chartLeft)
	y += chartLegend / 2
	s.f(`<g class="legend">` + "\n")
	for _, se := range ss {
		w := 34 + 6.8*float64(len(se.name))
		if x+w > chartW-chartRight && x > chartLeft {
			x, y = chartLeft, y+chartLegend*0.8
		}
		if se.bars {
			s.f(`<rect x="%s" y="%s" width="18" height="10" fill="%s"/>`, px(x), px(y-5), se.color)
		} else {
			s.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s"%s/>`,
				px(x), px(y), px(x+22), px(y), se.color, px(se.width), dashAttr(se.dash))
		}
		s.f(`<text x="%s" y="%s" dominant-baseline="middle">%s</text>`+"\n", px(x+27), px(y+0.5), svgEsc(se.name))
		x += w
	}
	s.f("</g>\n")
	return y + chartLegend/2
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return ` stroke-dasharray="` + d + `"`
}

// frame draws the plot area's grid, tick labels and axis titles.
func (s *svgChart) frame(xs, ys axisScale, xt, yt []axisTick, xLabels bool, xTitle, yTitle string) {
	top, bottom := ys.p1, ys.p0
	s.f(`<g class="grid" stroke="#e3e3e3" stroke-width="1">` + "\n")
	for _, t := range yt {
		y := ys.at(t.v)
		s.f(`<line x1="%s" y1="%s" x2="%s" y2="%s"%s/>`+"\n", px(xs.p0), px(y), px(xs.p1), px(y), gridDash(t))
	}
	for _, t := range xt {
		x := xs.at(t.v)
		s.f(`<line x1="%s" y1="%s" x2="%s" y2="%s"%s/>`+"\n", px(x), px(top), px(x), px(bottom), gridDash(t))
	}
	s.f("</g>\n")
	s.f(`<rect class="plot" x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#999999"/>`+"\n",
		px(xs.p0), px(top), px(xs.p1-xs.p0), px(bottom-top))
	s.f(`<g class="ticks" fill="#444444">` + "\n")
	for _, t := range yt {
		if t.label != "" {
			s.f(`<text x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", px(xs.p0-6), px(ys.at(t.v)), svgEsc(t.label))
		}
	}
	for _, t := range xt {
		if xLabels && t.label != "" {
			s.f(`<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", px(xs.at(t.v)), px(bottom+16), svgEsc(t.label))
		}
	}
	s.f("</g>\n")
	if xTitle != "" {
		s.f(`<text class="axis-title" x="%s" y="%s" text-anchor="middle" fill="#444444">%s</text>`+"\n",
			px((xs.p0+xs.p1)/2), px(bottom+34), svgEsc(xTitle))
	}
	if yTitle != "" {
		cy := (top + bottom) / 2
		s.f(`<text class="axis-title" x="16" y="%s" text-anchor="middle" fill="#444444" transform="rotate(-90 16 %s)">%s</text>`+"\n",
			px(cy), px(cy), svgEsc(yTitle))
	}
}

func gridDash(t axisTick) string {
	if t.label == "" {
		return ` stroke-dasharray="2 3"`
	}
	return ""
}

// lines draws each series as a path, broken at gaps, with a marker and tooltip per
// point when there are few points.
func (s *svgChart) lines(ss []chartSeries, xs, ys axisScale, tip func(se chartSeries, p chartPt) string) {
	for _, se := range ss {
		var d strings.Builder
		pen := false
		for _, p := range se.pts {
			if math.IsNaN(p.y) || (ys.log && p.y <= 0) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s ", cmd, px(xs.at(p.x)), px(ys.at(p.y)))
			pen = true
		}
		if d.Len() == 0 {
			continue
		}
		s.f(`<path class="series" data-series="%s" d="%s" fill="none" stroke="%s" stroke-width="%s" stroke-linejoin="round"%s/>`+"\n",
			svgEsc(se.name), strings.TrimSpace(d.String()), se.color, px(se.width), dashAttr(se.dash))
		if len(se.pts) > markersMax || tip == nil {
			continue
		}
		s.f(`<g class="markers" fill="%s">`, se.color)
		for _, p := range se.pts {
			if math.IsNaN(p.y) || (ys.log && p.y <= 0) {
				continue
			}
			s.f(`<circle cx="%s" cy="%s" r="2.5"><title>%s</title></circle>`, px(xs.at(p.x)), px(ys.at(p.y)), svgEsc(tip(se, p)))
		}
		s.f("</g>\n")
	}
}

// bands shades the intervals outside the steady phase and names them.
func (s *svgChart) bands(bs []phaseBand, xs, ys axisScale) {
	for _, b := range bs {
		x0, x1 := xs.at(b.from), xs.at(b.to)
		s.f(`<rect class="phase phase-%s" x="%s" y="%s" width="%s" height="%s" fill="#f2f2f2"><title>%s</title></rect>`+"\n",
			svgEsc(b.phase), px(x0), px(ys.p1), px(max(x1-x0, 1)), px(ys.p0-ys.p1), svgEsc(b.phase))
		if x1-x0 > 6.5*float64(len(b.phase))+8 {
			s.f(`<text x="%s" y="%s" text-anchor="middle" fill="#888888" font-size="11">%s</text>`+"\n",
				px((x0+x1)/2), px(ys.p1+13), svgEsc(b.phase))
		}
	}
}

// phaseBand is a run of intervals of one phase other than steady, in seconds from the start.
type phaseBand struct {
	phase    string
	from, to float64
}

// chartTimeline is the intervals' geometry: the origin, each interval's start and end in
// seconds from it, and the phase bands.
type chartTimeline struct {
	start, end []float64
	total      float64
	bands      []phaseBand
}

func newChartTimeline(r *Report) chartTimeline {
	origin := r.Intervals[0].Start
	if !r.StartedAt.IsZero() && !r.StartedAt.After(origin) {
		origin = r.StartedAt
	}
	var tl chartTimeline
	for _, iv := range r.Intervals {
		a, b := iv.Start.Sub(origin).Seconds(), iv.End.Sub(origin).Seconds()
		tl.start, tl.end = append(tl.start, a), append(tl.end, b)
		tl.total = max(tl.total, b)
		if iv.Phase == "" || iv.Phase == "steady" {
			continue
		}
		if k := len(tl.bands) - 1; k >= 0 && tl.bands[k].phase == iv.Phase && tl.bands[k].to >= a {
			tl.bands[k].to = b
			continue
		}
		tl.bands = append(tl.bands, phaseBand{iv.Phase, a, b})
	}
	return tl
}

// latencyOps are the operations the latency-over-time chart shows: delivery and send,
// or for scenarios without them the first two of the others that ran.
func latencyOps(r *Report) []string {
	seen := map[string]bool{}
	for _, iv := range r.Intervals {
		for k, o := range iv.Operations {
			if o.Count > o.Errors {
				seen[k] = true
			}
		}
	}
	var ops []string
	for _, k := range []string{"delivery", "send"} {
		if seen[k] {
			ops = append(ops, k)
		}
	}
	if len(ops) > 0 {
		return ops
	}
	for _, k := range []string{"cycle", "register", "join", "history", "leave", "unregister"} {
		if seen[k] && len(ops) < 2 {
			ops = append(ops, k)
		}
	}
	return ops
}

// maxColumns bounds the points of an over-time chart: about one per 2 pixels. A
// longer run (an overnight soak at 10 s has 4320 intervals) is drawn in columns of
// several consecutive intervals.
const maxColumns = 440

// column is one x position of an over-time chart: intervals [from, to).
type column struct{ from, to int }

// columns splits n intervals into at most maxColumns columns of equal length (the
// last may be shorter).
func columns(n int) []column {
	per := max(1, (n+maxColumns-1)/maxColumns)
	var cs []column
	for i := 0; i < n; i += per {
		cs = append(cs, column{i, min(i+per, n)})
	}
	return cs
}

// perColumn says how many intervals a column holds, for axis titles and notes.
func perColumn(cs []column) int { return cs[0].to - cs[0].from }

// latencyChart draws p50, p90 and p99 per interval of the latencyOps; a column of
// several intervals shows the worst of them, so that a spike is never averaged away.
func latencyChart(r *Report) template.HTML {
	const id, h = "chart-latency", 400.0
	const title = "Latency percentiles over time"
	const desc = "p50, p90 and p99 latency per interval, in milliseconds, for the delivery and send operations"
	if len(r.Intervals) == 0 {
		return emptyChart(id, title, desc, "no intervals recorded")
	}
	ops := latencyOps(r)
	if len(ops) == 0 {
		return emptyChart(id, title, desc, "no latency recorded in the intervals")
	}
	var s svgChart
	s.open(id, title, desc, h)
	tl := newChartTimeline(r)
	cols := columns(len(r.Intervals))
	pcts := []struct {
		name  string
		dash  string
		width float64
		get   func(Latency) float64
	}{
		{"p50", "", 1.5, func(l Latency) float64 { return l.P50 }},
		{"p90", "7 4", 1.8, func(l Latency) float64 { return l.P90 }},
		{"p99", "2 3", 2.4, func(l Latency) float64 { return l.P99 }},
	}
	var ss []chartSeries
	for _, op := range ops {
		for _, pc := range pcts {
			se := chartSeries{name: op + " " + pc.name, color: opColor(op), dash: pc.dash, width: pc.width}
			for _, c := range cols {
				y := math.NaN()
				for _, iv := range r.Intervals[c.from:c.to] {
					if o, ok := iv.Operations[op]; ok && o.Count > o.Errors {
						v := pc.get(o.LatencyUS) / 1e3
						if math.IsNaN(y) || v > y {
							y = v
						}
					}
				}
				se.pts = append(se.pts, chartPt{tl.end[c.to-1], y})
			}
			ss = append(ss, se)
		}
	}
	top := s.legend(ss, 4) + 6
	xs, xt := timeAxis(tl.total, chartLeft, chartW-chartRight)
	ys, yt := valueAxis(ss, h-48, top)
	yTitle := "latency (ms)"
	if ys.log {
		yTitle += ", log scale"
	}
	xTitle := "time since start (at each interval's end)"
	if k := perColumn(cols); k > 1 {
		xTitle = fmt.Sprintf("time since start (each point: the worst of %d intervals)", k)
	}
	s.bands(tl.bands, xs, ys)
	s.frame(xs, ys, xt, yt, true, xTitle, yTitle)
	s.lines(ss, xs, ys, func(se chartSeries, p chartPt) string {
		return fmt.Sprintf("%s at %s: %s ms", se.name, formatOffset(p.x), formatMS(p.y*1e3))
	})
	return s.close()
}

// throughputChart draws the achieved and target rates per interval above the errors,
// losses and drops per interval. A column of several intervals shows their
// time-weighted mean rates and summed counts.
func throughputChart(r *Report) template.HTML {
	const id, h = "chart-throughput", 480.0
	const title = "Throughput and errors over time"
	const desc = "achieved and target rate per interval in operations per second, and errors, lost, out-of-order and duplicated messages and dropped operations per interval"
	if len(r.Intervals) == 0 {
		return emptyChart(id, title, desc, "no intervals recorded")
	}
	var s svgChart
	s.open(id, title, desc, h)
	tl := newChartTimeline(r)
	cols := columns(len(r.Intervals))
	achieved := chartSeries{name: "achieved rate (/s)", color: "#1f5fa8", width: 2.2}
	target := chartSeries{name: "target rate (/s)", color: "#888888", dash: "6 4", width: 1.5}
	delivered := chartSeries{name: "delivered (/s)", color: "#1b9e77", width: 1.5}
	errs := chartSeries{name: "errors", color: "#d7301f", bars: true}
	lost := chartSeries{name: "lost", color: "#7a0177", bars: true}
	ooo := chartSeries{name: "out-of-order", color: "#41b6c4", bars: true}
	dup := chartSeries{name: "duplicated", color: "#addd8e", bars: true}
	dropped := chartSeries{name: "dropped", color: "#fdae61", bars: true}
	var anyTarget, anyDelivered bool
	var totErr, totLost, totOOO, totDup, totDropped uint64
	for _, c := range cols {
		var secs, ach, tgt, del, e, l, oo, du, d float64
		for i := c.from; i < c.to; i++ {
			iv := r.Intervals[i]
			el := max(tl.end[i]-tl.start[i], 0)
			secs += el
			ach += iv.Load.AchievedRate * el
			tgt += iv.Load.TargetRate * el
			del += float64(iv.Messages.Delivered)
			anyTarget = anyTarget || iv.Load.TargetRate > 0
			anyDelivered = anyDelivered || iv.Messages.Delivered > 0
			for name, o := range iv.Operations {
				if name == OpDelivery.String() {
					// A delivery's errors are its lost (and late) copies: they are the
					// lost bar already, never stacked twice.
					continue
				}
				e += float64(o.Errors)
				totErr += o.Errors
			}
			oo += float64(iv.Messages.OutOfOrder)
			du += float64(iv.Messages.Duplicated)
			totOOO, totDup = totOOO+iv.Messages.OutOfOrder, totDup+iv.Messages.Duplicated
			l += float64(iv.Messages.Lost)
			d += float64(iv.Load.Dropped)
			totLost, totDropped = totLost+iv.Messages.Lost, totDropped+iv.Load.Dropped
		}
		x := tl.end[c.to-1]
		if secs > 0 {
			achieved.pts = append(achieved.pts, chartPt{x, ach / secs})
			target.pts = append(target.pts, chartPt{x, tgt / secs})
			delivered.pts = append(delivered.pts, chartPt{x, del / secs})
		} else {
			achieved.pts = append(achieved.pts, chartPt{x, math.NaN()})
			target.pts = append(target.pts, chartPt{x, math.NaN()})
			delivered.pts = append(delivered.pts, chartPt{x, math.NaN()})
		}
		errs.pts = append(errs.pts, chartPt{x, e})
		lost.pts = append(lost.pts, chartPt{x, l})
		ooo.pts = append(ooo.pts, chartPt{x, oo})
		dup.pts = append(dup.pts, chartPt{x, du})
		dropped.pts = append(dropped.pts, chartPt{x, d})
	}
	rates := []chartSeries{achieved}
	if anyTarget {
		rates = append(rates, target)
	}
	if anyDelivered {
		rates = append(rates, delivered)
	}
	bars := []chartSeries{errs, lost, ooo, dup, dropped}
	for i := range bars {
		bars[i].name += " (" + u64([]uint64{totErr, totLost, totOOO, totDup, totDropped}[i]) + ")"
	}

	// Top panel: rates.
	top := s.legend(slices.Concat(rates, bars), 4) + 6
	xs, xt := timeAxis(tl.total, chartLeft, chartW-chartRight)
	upperBottom := top + (h-top-48)*0.62
	lowerTop := upperBottom + 24
	maxRate := 0.0
	for _, se := range rates {
		for _, p := range se.pts {
			if p.y > maxRate {
				maxRate = p.y
			}
		}
	}
	ys, yt := linearAxis(maxRate, upperBottom, top)
	s.bands(tl.bands, xs, ys)
	s.frame(xs, ys, xt, yt, false, "", "per second") // time labels on the lower panel only
	s.lines(rates, xs, ys, func(se chartSeries, p chartPt) string {
		return fmt.Sprintf("%s at %s: %s", strings.TrimSuffix(se.name, " (/s)"), formatOffset(p.x), strconv.FormatFloat(p.y, 'f', 1, 64)+"/s")
	})

	// Bottom panel: errors, lost and dropped per column, stacked.
	maxBar := 0.0
	for i := range cols {
		sum := 0.0
		for _, se := range bars {
			sum += se.pts[i].y
		}
		maxBar = max(maxBar, sum)
	}
	bs, bt := linearAxis(maxBar, h-48, lowerTop)
	if maxBar == 0 {
		bt = []axisTick{{0, "0"}}
	}
	per := "per interval"
	if k := perColumn(cols); k > 1 {
		per = fmt.Sprintf("per %d intervals", k)
	}
	s.bands(tl.bands, xs, bs)
	s.frame(xs, bs, xt, bt, true, "time since start", per)
	if maxBar == 0 {
		s.f(`<text class="chart-none" x="%s" y="%s" text-anchor="middle" fill="#1b7837">no errors, lost, out-of-order or duplicated messages, or drops</text>`+"\n",
			px((xs.p0+xs.p1)/2), px((bs.p0+bs.p1)/2+4))
		return s.close()
	}
	s.f(`<g class="bars">` + "\n")
	for i, c := range cols {
		x0, x1 := xs.at(tl.start[c.from]), xs.at(tl.end[c.to-1])
		w := max((x1-x0)*0.8, 1)
		x := x0 + (x1-x0-w)/2
		base := 0.0
		for _, se := range bars {
			v := se.pts[i].y
			if v == 0 {
				continue
			}
			y0, y1 := bs.at(base), bs.at(base+v)
			s.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s at %s: %s</title></rect>`+"\n",
				px(x), px(y1), px(w), px(y0-y1), se.color, svgEsc(strings.Fields(se.name)[0]), formatOffset(tl.end[c.to-1]), strconv.FormatFloat(v, 'f', -1, 64))
			base += v
		}
	}
	s.f("</g>\n")
	return s.close()
}

// spectrumTick is a labelled percentile of the spectrum's x axis.
type spectrumTick struct {
	p     float64
	label string
}

// spectrumTicks are the labelled percentiles of the spectrum's x axis, in order.
func spectrumTicks() []spectrumTick {
	return []spectrumTick{{0, "0%"}, {50, "50%"}, {90, "90%"}, {99, "99%"}, {99.9, "99.9%"},
		{99.99, "99.99%"}, {99.999, "99.999%"}, {99.9999, "99.9999%"}}
}

// nines is the spectrum's x: log10(1/(1-p)), so that 90%, 99%, 99.9% are equally apart.
func nines(p float64) float64 { return -math.Log10(1 - p/100) }

// spectrumChart draws each operation's whole-run latency by percentile, as
// HdrHistogram's percentile distribution plots do.
func spectrumChart(r *Report) template.HTML {
	const id, h = "chart-spectrum", 420.0
	const title = "Latency percentile spectrum"
	const desc = "latency by percentile of each operation over the whole run, in milliseconds; the percentile axis is log-scaled on 1/(1-p)"
	type hist struct {
		name  string
		vals  func([]float64) []int64
		count int64
	}
	var hs []hist
	var unreadable []string
	var most int64
	for _, name := range opOrder(r.Operations) {
		o := r.Operations[name]
		if o.Histogram == "" || o.Count <= o.Errors {
			continue
		}
		hg, err := DecodeHistogram(o.Histogram)
		if err != nil {
			unreadable = append(unreadable, name)
			continue
		}
		if hg.TotalCount() == 0 {
			continue
		}
		hs = append(hs, hist{name, hg.ValueAtPercentilesSlice, hg.TotalCount()})
		most = max(most, hg.TotalCount())
	}
	if len(hs) == 0 {
		note := "no latency recorded"
		if len(unreadable) > 0 {
			note += " (unreadable histograms: " + strings.Join(unreadable, ", ") + ")"
		}
		return emptyChart(id, title, desc, note)
	}
	var s svgChart
	s.open(id, title, desc, h)
	// The axis goes as far as the most-sampled operation resolves (1 in count), within
	// 99% .. 99.9999%; beyond its resolution a series stays at its maximum.
	span := math.Min(6, math.Max(2, math.Ceil(math.Log10(float64(most)))))
	const steps = 240
	ps := make([]float64, steps+1)
	for i := range ps {
		ps[i] = 100 * (1 - math.Pow(10, -span*float64(i)/steps))
	}
	var ss []chartSeries
	for _, hg := range hs {
		se := chartSeries{name: hg.name + " (" + strconv.FormatInt(hg.count, 10) + ")", color: opColor(hg.name), width: 2}
		for i, v := range hg.vals(ps) {
			se.pts = append(se.pts, chartPt{span * float64(i) / steps, float64(v) / 1e6})
		}
		ss = append(ss, se)
	}
	top := s.legend(ss, 4) + 6
	xs := axisScale{lo: 0, hi: span, p0: chartLeft, p1: chartW - chartRight}
	var xt []axisTick
	for _, sp := range spectrumTicks() {
		if x := nines(sp.p); x <= span+1e-9 {
			xt = append(xt, axisTick{x, sp.label})
		}
	}
	ys, yt := valueAxis(ss, h-48, top)
	yTitle := "latency (ms)"
	if ys.log {
		yTitle += ", log scale"
	}
	s.frame(xs, ys, xt, yt, true, "percentile (log scale on 1/(1-p))", yTitle)
	s.lines(ss, xs, ys, nil)
	// Markers at the labelled percentiles only, with their exact values: the tooltips
	// a reader wants.
	var labelled []float64
	for _, sp := range spectrumTicks()[:len(xt)] {
		labelled = append(labelled, sp.p)
	}
	for i, hg := range hs {
		s.f(`<g class="markers" fill="%s">`, ss[i].color)
		for j, v := range hg.vals(labelled) {
			ms := float64(v) / 1e6
			if ys.log && ms <= 0 {
				continue
			}
			s.f(`<circle cx="%s" cy="%s" r="2.5"><title>%s %s: %s ms</title></circle>`,
				px(xs.at(xt[j].v)), px(ys.at(ms)), svgEsc(hg.name), svgEsc(xt[j].label), formatMS(ms*1e3))
		}
		s.f("</g>\n")
	}
	if len(unreadable) > 0 {
		s.f(`<text x="%s" y="%s" text-anchor="end" fill="#b30000">unreadable histograms: %s</text>`+"\n",
			px(chartW-chartRight-6), px(ys.p0-8), svgEsc(strings.Join(unreadable, ", ")))
	}
	return s.close()
}

// inFlightChart draws the operations in flight at the end of each interval: a
// generator or server that falls behind shows as a rising line.
func inFlightChart(r *Report) template.HTML {
	return gaugeChart(r, gauge{
		id: "chart-inflight", title: "In flight over time", name: "in flight", unit: "operations",
		desc: "operations in flight at the end of each interval", color: "#1f5fa8",
	}, func(iv Interval) float64 { return float64(iv.Load.InFlight) })
}

// usersChart draws the users signed in at the end of each interval, from the
// generator's side: successful log-ons less log-offs (attempted: a user whose
// log-off failed is gone from the generator all the same), counted from the run's
// start. Sign-in waves and churn show as its steps.
func usersChart(r *Report) template.HTML {
	var online float64
	return gaugeChart(r, gauge{
		id: "chart-users", title: "Users signed in over time", name: "signed in", unit: "users",
		desc: "users signed in at the end of each interval (log-ons less log-offs)", color: "#2e7d32",
	}, func(iv Interval) float64 {
		on := iv.Operations[OpRegister.String()]
		off := iv.Operations[OpUnregister.String()]
		online += float64(on.Count-on.Errors) - float64(off.Count)
		return max(online, 0)
	})
}

// gauge names a gaugeChart.
type gauge struct{ id, title, desc, name, unit, color string }

// gaugeChart draws one value per interval as a line, the most of the intervals a
// column stands for. value is called once per interval, in order.
func gaugeChart(r *Report, g gauge, value func(Interval) float64) template.HTML {
	const h = 260.0
	if len(r.Intervals) == 0 {
		return emptyChart(g.id, g.title, g.desc, "no intervals recorded")
	}
	var s svgChart
	s.open(g.id, g.title, g.desc, h)
	tl := newChartTimeline(r)
	cols := columns(len(r.Intervals))
	se := chartSeries{name: g.name, color: g.color, width: 2}
	top := 0.0
	for _, c := range cols {
		v := 0.0
		for _, iv := range r.Intervals[c.from:c.to] {
			v = max(v, value(iv))
		}
		top = max(top, v)
		se.pts = append(se.pts, chartPt{tl.end[c.to-1], v})
	}
	ss := []chartSeries{se}
	t := s.legend(ss, 4) + 6
	xs, xt := timeAxis(tl.total, chartLeft, chartW-chartRight)
	ys, yt := linearAxis(top, h-48, t)
	xTitle := "time since start (at each interval's end)"
	if k := perColumn(cols); k > 1 {
		xTitle = fmt.Sprintf("time since start (each point: the most of %d intervals)", k)
	}
	s.bands(tl.bands, xs, ys)
	s.frame(xs, ys, xt, yt, true, xTitle, g.unit)
	s.lines(ss, xs, ys, func(se chartSeries, p chartPt) string {
		return fmt.Sprintf("%s at %s: %s", g.name, formatOffset(p.x), strconv.FormatFloat(p.y, 'f', 0, 64))
	})
	return s.close()
}
