package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// renderReport is a 2-minute steady run with 10 s intervals (setup, 10 steady, drain),
// measured by real recorders on a fixed clock: a latency spike in the 6th interval,
// send errors in the 4th and 7th, losses in the 8th, and three threshold verdicts
// (one failed). The whole-run totals are the merge of the intervals, as in a run.
func renderReport() *Report {
	start := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	const n = 12
	total := NewRecorder()
	var ivs []Interval
	var msgs Messages
	for i := range n {
		rec := NewRecorder()
		phase := "steady"
		perInterval := 200
		switch i {
		case 0:
			phase = "setup"
			for u := range 20 {
				rec.Record(OpRegister, time.Duration(u+1)*700*time.Microsecond, 0, nil)
				rec.Record(OpJoin, time.Duration(u+1)*300*time.Microsecond, 0, nil)
			}
			perInterval = 0
		case n - 1:
			phase = "drain"
			perInterval = 0
			for range 20 {
				rec.Record(OpLeave, 450*time.Microsecond, 0, nil)
				rec.Record(OpUnregister, 1200*time.Microsecond, 0, nil)
			}
		}
		slow := time.Duration(1)
		if i == 5 {
			slow = 8 // a stall on the server: every latency 8 times
		}
		for k := range perInterval {
			d := time.Duration(300+k*k%2000) * time.Microsecond * slow
			rec.Record(OpSend, d+500*time.Microsecond, d, nil)
			rec.Record(OpDelivery, 2*d+time.Duration(k%7)*time.Millisecond, 0, nil)
			rec.Record(OpDelivery, 2*d+time.Duration(k%11)*time.Millisecond, 0, nil)
		}
		var m Messages
		if perInterval > 0 {
			m = Messages{Sent: uint64(perInterval), Accepted: uint64(perInterval),
				ExpectedDeliveries: 2 * uint64(perInterval), Delivered: 2 * uint64(perInterval)}
		}
		if i == 3 || i == 6 {
			for range 2 + i {
				rec.Record(OpSend, 0, 0, Errorf(Rejected, "send", 403, "403 Forbidden from 127.0.0.1:5090/udp"))
			}
			m.Sent += 2 + uint64(i)
		}
		if i == 7 {
			rec.Fail(Lost, 0, 4, "stream sip:user0003@example.test -> sip:room002@conf.example.test seq 81: not delivered to sip:user0004@example.test within 10s")
			m.Delivered -= 4
			m.Lost = 4
		}
		ivs = append(ivs, Interval{
			Start:      start.Add(time.Duration(i) * 10 * time.Second),
			End:        start.Add(time.Duration(i+1) * 10 * time.Second),
			Phase:      phase,
			Operations: rec.Operations(),
			Messages:   m,
			Failures:   rec.Failures(),
			Load:       IntervalLoad{TargetRate: float64(perInterval) / 10, AchievedRate: float64(m.Sent) / 10},
			Generator:  Generator{CPUSeconds: 0.2, MaxRSSBytes: 40 << 20},
		})
		msgs.Sent += m.Sent
		msgs.Accepted += m.Accepted
		msgs.ExpectedDeliveries += m.ExpectedDeliveries
		msgs.Delivered += m.Delivered
		msgs.Lost += m.Lost
		total.Merge(rec)
	}
	return &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "chatload", Version: "v0.4.0-test"},
		RunID:         "20250102T030400Z-c0ffee",
		Scenario:      json.RawMessage(`{"scenario":"steady","protocol":"imc","transport":"udp","rate":"20/s","duration":"1m40s","pairs":10,"room-size":0,"seed":1}`),
		Target:        Target{Address: "127.0.0.1:40000", Protocol: "imc", Transport: "udp", Embedded: true},
		StartedAt:     start,
		EndedAt:       start.Add(2 * time.Minute),
		EndReason:     "completed",
		Load:          Load{Model: "open", TargetRate: 20, AchievedRate: 20.1},
		Operations:    total.Operations(),
		Messages:      msgs,
		Failures:      total.Failures(),
		Intervals:     ivs,
		Thresholds: []Verdict{
			{Threshold: "delivery.p99 < 250ms", Pass: true, Observed: "31.7ms"},
			{Threshold: "send.p99 < 10ms for 2 intervals", Pass: false, Observed: "17.3ms",
				Detail: "violated in 1 interval from 03:04:50 <- the spike"},
			{Threshold: "failures.rate < 1%", Pass: true, Observed: "0.59%"},
		},
		Generator: Generator{CPUSeconds: 2.4, MaxRSSBytes: 40 << 20, Goroutines: 40, Workers: 8, ScheduleLagP99US: 85},
	}
}

// renderCases are the reports every format is rendered from.
func renderCases() []struct {
	name   string
	report *Report
	title  string // of the HTML page
} {
	interrupted := sampleReport() // no intervals, no thresholds, lost messages
	interrupted.EndReason = "interrupted"
	return []struct {
		name   string
		report *Report
		title  string
	}{
		{"intervals", renderReport(), "chatload report: steady 20250102T030400Z-c0ffee"},
		{"interrupted", interrupted, "chatload report: steady 20250102T030405Z-7f3a"},
		{"empty", &Report{SchemaVersion: SchemaVersion}, "chatload report"},
	}
}

func TestWriteMarkdownGolden(t *testing.T) {
	for _, c := range renderCases() {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.report.WriteMarkdown(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, "markdown_"+c.name+".md", b.Bytes())
		})
	}
}

func TestMarkdownEscapes(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a | b", `a \| b`},                            // would split the cell
		{"[x](http://e.test)", `\[x\](http://e.test)`}, // no links
		{"<script>", `\<script\>`},                     // no raw HTML
		{"*bold* _em_ `code` ~del~", "\\*bold\\* \\_em\\_ \\`code\\` \\~del\\~"},
		{"$x$ &amp;", `\$x\$ \&amp;`}, // no math, no entities
		{"line\nbreak", "line break"}, // one line
		{`back\slash`, `back\\slash`},
	}
	for _, c := range cases {
		if got := md(c.in); got != c.want {
			t.Errorf("md(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestWriteJUnitGolden(t *testing.T) {
	for _, c := range renderCases() {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.report.WriteJUnit(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, "junit_"+c.name+".xml", b.Bytes())
		})
	}
}

// junitDoc is what a CI system reads of a JUnit file.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestWriteJUnitCases(t *testing.T) {
	lostThreshold := renderReport()
	lostThreshold.Thresholds = append(lostThreshold.Thresholds, Verdict{Threshold: "messages.lost == 0", Pass: false, Observed: "4"})
	cases := []struct {
		name   string
		report *Report
		suite  string
		cases  []string // "name" passed, "name!" failed
	}{
		// One case per verdict, then the run and the losses.
		{"thresholds", renderReport(), "chatload steady",
			[]string{"delivery.p99 < 250ms", "send.p99 < 10ms for 2 intervals!", "failures.rate < 1%", "run completed", "no lost messages!"}},
		// A threshold on messages.lost says it: no second case for the same thing.
		{"lost threshold", lostThreshold, "chatload steady",
			[]string{"delivery.p99 < 250ms", "send.p99 < 10ms for 2 intervals!", "failures.rate < 1%", "messages.lost == 0!", "run completed"}},
		// Not completed: a failure even without thresholds.
		{"interrupted", renderCases()[1].report, "chatload steady", []string{"run completed!", "no lost messages!"}},
		// Nothing expected to be delivered (and no scenario): no loss case.
		{"empty", &Report{EndReason: "completed"}, "chatload", []string{"run completed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.report.WriteJUnit(&b); err != nil {
				t.Fatal(err)
			}
			var doc junitDoc
			if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
				t.Fatalf("not XML: %v\n%s", err, b.String())
			}
			if len(doc.Suites) != 1 || doc.Suites[0].Name != c.suite {
				t.Fatalf("suites = %+v; want one named %q", doc.Suites, c.suite)
			}
			s := doc.Suites[0]
			var got []string
			failed := 0
			for _, tc := range s.Cases {
				name := tc.Name
				if tc.Failure != nil {
					name += "!"
					failed++
					if tc.Failure.Message == "" {
						t.Errorf("case %q fails without a message", tc.Name)
					}
				}
				got = append(got, name)
			}
			if strings.Join(got, "\n") != strings.Join(c.cases, "\n") {
				t.Errorf("cases = %q; want %q", got, c.cases)
			}
			if s.Tests != len(c.cases) || s.Failures != failed || doc.Tests != s.Tests || doc.Failures != failed {
				t.Errorf("counts: suites %d/%d, suite %d/%d; want %d tests, %d failures",
					doc.Tests, doc.Failures, s.Tests, s.Failures, len(c.cases), failed)
			}
		})
	}
}

func TestWriteHTMLGolden(t *testing.T) {
	var b bytes.Buffer
	if err := renderReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.html", b.Bytes())
}

// chartIDs are the charts a reader (and the Chromium test) expects on the page.
var chartIDs = []string{"chart-latency", "chart-throughput", "chart-inflight", "chart-users", "chart-spectrum"}

// htmlCheck parses page as XML (the report is well-formed XML as well as HTML) and
// returns the ids of its <svg> elements and the text of its <text class=chart-empty>.
func htmlCheck(t *testing.T, page []byte) (svgIDs []string, empty []string, title string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	var stack []xml.StartElement
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := dec.InputPos()
			t.Fatalf("not well-formed: %v (line %d)", err, line)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok)
			attr := func(name string) string {
				for _, a := range tok.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch tok.Name.Local {
			case "svg":
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("<svg id=%q> in namespace %q; want the SVG namespace", attr("id"), tok.Name.Space)
				}
				svgIDs = append(svgIDs, attr("id"))
			case "script", "link", "img", "iframe", "object", "embed", "image", "use":
				t.Errorf("<%s> on the page: the report must not load anything", tok.Name.Local)
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") || a.Name.Local == "src" || a.Name.Local == "href" {
					t.Errorf("<%s %s=%q>: no scripts or references", tok.Name.Local, a.Name.Local, a.Value)
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			el := stack[len(stack)-1]
			if el.Name.Local == "title" && len(stack) >= 2 && stack[len(stack)-2].Name.Local == "head" {
				title += string(tok)
			}
			for _, a := range el.Attr {
				if el.Name.Local == "text" && a.Name.Local == "class" && a.Value == "chart-empty" {
					empty = append(empty, string(tok))
				}
			}
		}
	}
	return svgIDs, empty, title
}

var urlRE = regexp.MustCompile(`(?i)(https?:|ftp:|file:|data:|url\s*\(|@import|//[a-z0-9.-]+\.[a-z]{2,}/)`)

func checkSelfContained(t *testing.T, page []byte) {
	t.Helper()
	rest := bytes.ReplaceAll(page, []byte(`xmlns="http://www.w3.org/2000/svg"`), nil)
	for _, m := range urlRE.FindAll(rest, -1) {
		t.Errorf("page references %q: it must load nothing", m)
	}
}

func TestWriteHTMLStructure(t *testing.T) {
	for _, c := range renderCases() {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.report.WriteHTML(&b); err != nil {
				t.Fatal(err)
			}
			page := b.Bytes()
			ids, empty, title := htmlCheck(t, page)
			if strings.Join(ids, ",") != strings.Join(chartIDs, ",") {
				t.Errorf("svg ids = %q; want %q", ids, chartIDs)
			}
			if title != c.title {
				t.Errorf("title = %q; want %q", title, c.title)
			}
			checkSelfContained(t, page)
			noIntervals := 0
			for _, e := range empty {
				if e == "no intervals recorded" {
					noIntervals++
				}
			}
			if want := map[bool]int{true: 0, false: 4}[len(c.report.Intervals) > 0]; noIntervals != want {
				t.Errorf("%d charts say \"no intervals recorded\" (all notes: %q); want %d", noIntervals, empty, want)
			}
			if len(c.report.Intervals) > 0 && !bytes.Contains(page, []byte(`<path class="series" data-series="delivery p99"`)) {
				t.Error("the latency chart has no delivery p99 line")
			}
		})
	}
}

// Free text from the target (failure examples, a hostile scenario name) is escaped
// everywhere on the page, SVG included.
func TestWriteHTMLEscapes(t *testing.T) {
	r := renderReport()
	evil := `<script>alert(1)</script>&"'`
	r.RunID = evil
	r.Scenario = json.RawMessage(`{"scenario":"<img src=x>"}`)
	r.Failures = append(r.Failures, Failure{Class: Other, Count: 1, Codes: map[string]uint64{NoCode: 1}, Examples: []string{evil}})
	r.Operations[evil] = Operation{Count: 1, Errors: 1}
	r.Intervals[2].Phase = evil
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	htmlCheck(t, b.Bytes()) // well-formed, no <script> or <img> elements
	if bytes.Contains(b.Bytes(), []byte("<script")) || bytes.Contains(b.Bytes(), []byte("<img")) {
		t.Error("free text reached the page unescaped")
	}
}

func TestSpectrumAxis(t *testing.T) {
	cases := []struct {
		p    float64
		want float64
	}{{0, 0}, {90, 1}, {99, 2}, {99.9, 3}, {99.99, 4}}
	for _, c := range cases {
		if got := nines(c.p); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("nines(%v) = %v; want %v", c.p, got, c.want)
		}
	}
}

func TestTimeAxisLabels(t *testing.T) {
	cases := []struct {
		total float64
		want  string
	}{
		{120, "0 15s 30s 45s 1m 1m15s 1m30s 1m45s 2m"}, // 8 steps of 15 s
		{2, "0 500ms 1s 1.5s 2s"},                      // sub-second intervals
		{12 * 3600, "0 2h 4h 6h 8h 10h 12h"},           // an overnight soak
		{45, "0 10s 20s 30s 40s"},                      // the end is not a tick
	}
	for _, c := range cases {
		_, ticks := timeAxis(c.total, 0, 100)
		var got []string
		for _, tk := range ticks {
			got = append(got, tk.label)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("timeAxis(%v) labels = %q; want %q", c.total, strings.Join(got, " "), c.want)
		}
	}
}

// Rendering only reads the report: any number of goroutines may render one.
func TestRenderConcurrent(t *testing.T) {
	r := renderReport()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, write := range []func(io.Writer) error{r.WriteMarkdown, r.WriteJUnit, r.WriteHTML} {
				if err := write(io.Discard); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestRenderWriteError(t *testing.T) {
	r := renderReport()
	for name, write := range map[string]func(io.Writer) error{"markdown": r.WriteMarkdown, "junit": r.WriteJUnit, "html": r.WriteHTML} {
		if err := write(failWriter{}); err == nil || err.Error() != "disk full" {
			t.Errorf("%s to a failing writer = %v; want disk full", name, err)
		}
	}
}

// Free text with characters XML cannot carry still gives a well-formed file.
func TestWriteJUnitControlChars(t *testing.T) {
	r := renderReport()
	r.Thresholds[1].Detail = "bad \x1b[31m ]]> \xff text"
	r.Thresholds[1].Threshold = "send.p99 < 10ms \x00"
	var b bytes.Buffer
	if err := r.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
}

// A long soak is drawn in columns of intervals: at most maxColumns points per line, a
// latency spike in one interval kept (the worst of a column), counts summed.
func TestOverTimeColumns(t *testing.T) {
	cases := []struct {
		n, columns, per int
	}{
		{1, 1, 1},
		{440, 440, 1},
		{441, 221, 2}, // the last column is shorter
		{4320, 432, 10},
	}
	for _, c := range cases {
		cs := columns(c.n)
		if len(cs) != c.columns || perColumn(cs) != c.per || cs[len(cs)-1].to != c.n {
			t.Errorf("columns(%d) = %d of %d, last ends at %d; want %d of %d ending at %d",
				c.n, len(cs), perColumn(cs), cs[len(cs)-1].to, c.columns, c.per, c.n)
		}
	}

	r := renderReport()
	steady := r.Intervals[1]
	r.Intervals = nil
	for i := range 1000 {
		iv := steady
		iv.Start = r.StartedAt.Add(time.Duration(i) * time.Second)
		iv.End = iv.Start.Add(time.Second)
		if i == 500 {
			iv.Operations = map[string]Operation{"delivery": {Count: 1, LatencyUS: Latency{P50: 9e6, P90: 9e6, P99: 9e6}}}
		}
		r.Intervals = append(r.Intervals, iv)
	}
	latency := string(latencyChart(r))
	if !strings.Contains(latency, "the worst of 3 intervals") {
		t.Error("latency chart does not say a point is the worst of 3 intervals")
	}
	m := regexp.MustCompile(`data-series="delivery p99" d="([^"]*)"`).FindStringSubmatch(latency)
	if m == nil {
		t.Fatal("no delivery p99 line")
	}
	if n := strings.Count(m[1], "L") + strings.Count(m[1], "M"); n != 334 {
		t.Errorf("delivery p99 has %d points; want 334 (1000 intervals in columns of 3)", n)
	}
	if !strings.Contains(latency, ">9000<") && !strings.Contains(latency, ">10000<") {
		t.Error("the 9 s spike of one interval is not on the latency axis")
	}
	if tp := string(throughputChart(r)); !strings.Contains(tp, "per 3 intervals") {
		t.Error("throughput chart does not say its bars are per 3 intervals")
	}
}

// TestThroughputChartCountsEachLossOnce: a lost copy is a delivery error as well as
// a lost message; the chart stacks it once (lost), and plots out-of-order and
// duplicated copies too.
func TestThroughputChartCountsEachLossOnce(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Report{SchemaVersion: SchemaVersion, StartedAt: t0, EndedAt: t0.Add(2 * time.Second)}
	r.Intervals = []Interval{{
		Start: t0, End: t0.Add(time.Second), Phase: "steady",
		Operations: map[string]Operation{"delivery": {Count: 100, Errors: 9}, "send": {Count: 50, Errors: 2}},
		Messages:   Messages{Lost: 9, OutOfOrder: 4, Duplicated: 3},
		Load:       IntervalLoad{AchievedRate: 50, InFlight: 7},
	}}
	page := string(throughputChart(r))
	for _, want := range []string{"errors (2)", "lost (9)", "out-of-order (4)", "duplicated (3)"} {
		if !strings.Contains(page, want) {
			t.Errorf("throughput chart legend lacks %q", want)
		}
	}
	if strings.Contains(page, "errors (11)") {
		t.Errorf("the delivery errors (the lost copies) are stacked as errors too")
	}
	if got := string(inFlightChart(r)); !strings.Contains(got, "in flight at ") || !strings.Contains(got, ": 7<") {
		t.Errorf("in-flight chart lacks the interval's 7 in flight")
	}
}

// TestUsersChart: the users signed in at each interval's end are the successful
// log-ons less the log-offs so far (a failed log-on adds none; a failed log-off
// still takes the user away).
func TestUsersChart(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Report{SchemaVersion: SchemaVersion, StartedAt: t0, EndedAt: t0.Add(3 * time.Second)}
	ops := []map[string]Operation{
		{"register": {Count: 12, Errors: 2}},
		{"register": {Count: 5}, "unregister": {Count: 3, Errors: 1}},
		{"unregister": {Count: 14}},
	}
	for k, o := range ops {
		r.Intervals = append(r.Intervals, Interval{Start: t0.Add(time.Duration(k) * time.Second),
			End: t0.Add(time.Duration(k+1) * time.Second), Phase: "steady", Operations: o})
	}
	got := string(usersChart(r))
	for _, want := range []string{"signed in at 1s: 10<", "signed in at 2s: 12<", "signed in at 3s: 0<"} {
		if !strings.Contains(got, want) {
			t.Errorf("users chart lacks %q", want)
		}
	}
}

func TestScenarioSettingsRamp(t *testing.T) {
	got := scenarioSettings([]byte(`{"scenario":"steady","rate":"0/s","ramp":[{"duration":"30s","rate":"100/s"},{"duration":"1m","rate":"500/s"}],"duration":"0s","pairs":10}`))
	if want := "scenario steady, ramp 30s:100/s,1m:500/s, pairs 10"; got != want {
		t.Errorf("scenarioSettings = %q; want %q", got, want)
	}
}
