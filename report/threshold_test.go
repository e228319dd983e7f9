package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseThreshold(t *testing.T) {
	cases := []struct {
		in   string
		want Threshold // Expr is the input
	}{
		// The examples.
		{"delivery.p99 < 250ms", Threshold{Metric: "delivery.p99", Op: "<", Value: 250, Unit: "ms"}},
		{"messages.lost == 0", Threshold{Metric: "messages.lost", Op: "==", Value: 0}},
		{"failures.rate < 0.1%", Threshold{Metric: "failures.rate", Op: "<", Value: 0.1, Unit: "%"}},
		{"delivery.p99 < 250ms for 3 intervals", Threshold{Metric: "delivery.p99", Op: "<", Value: 250, Unit: "ms", ForIntervals: 3}},
		// abort, with and without a window.
		{"send.p99 <= 1s for 1 interval abort", Threshold{Metric: "send.p99", Op: "<=", Value: 1, Unit: "s", ForIntervals: 1, Abort: true}},
		{"messages.lost == 0 abort", Threshold{Metric: "messages.lost", Op: "==", Value: 0, Abort: true}},
		// No spaces around the operator, spaces before the unit, upper case.
		{"register.MAX>=500 us", Threshold{Metric: "register.max", Op: ">=", Value: 500, Unit: "us"}},
		{"join.p99.9 != 1.5e3ms", Threshold{Metric: "join.p999", Op: "!=", Value: 1500, Unit: "ms"}}, // p99.9 is p999
		{"  cycle.mean > .5s  ", Threshold{Metric: "cycle.mean", Op: ">", Value: 0.5, Unit: "s"}},
		{"delivery.min < 3µs", Threshold{Metric: "delivery.min", Op: "<", Value: 3, Unit: "us"}},
		// Rates as fractions or percents; counts; per-second rates with or without /s.
		{"send.error_rate <= 0.01", Threshold{Metric: "send.error_rate", Op: "<=", Value: 0.01}},
		{"messages.delivered_rate >= 99.9%", Threshold{Metric: "messages.delivered_rate", Op: ">=", Value: 99.9, Unit: "%"}},
		{"messages.loss_rate < 0.001", Threshold{Metric: "messages.loss_rate", Op: "<", Value: 0.001}},
		{"send.count > 1000", Threshold{Metric: "send.count", Op: ">", Value: 1000}},
		{"send.errors == 0", Threshold{Metric: "send.errors", Op: "==", Value: 0}},
		{"messages.out_of_order == 0", Threshold{Metric: "messages.out_of_order", Op: "==", Value: 0}},
		{"failures.count < 10", Threshold{Metric: "failures.count", Op: "<", Value: 10}},
		{"load.achieved_rate >= 950/s", Threshold{Metric: "load.achieved_rate", Op: ">=", Value: 950, Unit: "/s"}},
		{"load.achieved_rate > 950", Threshold{Metric: "load.achieved_rate", Op: ">", Value: 950}},
		{"load.dropped == 0", Threshold{Metric: "load.dropped", Op: "==", Value: 0}},
		{"generator.schedule_lag_p99 < 5ms", Threshold{Metric: "generator.schedule_lag_p99", Op: "<", Value: 5, Unit: "ms"}},
	}
	for _, c := range cases {
		got, err := ParseThreshold(c.in)
		c.want.Expr = strings.TrimSpace(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseThreshold(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseThresholdInvalid(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "empty"},
		{"delivery.p99", "no comparison"},
		{"delivery.p99 < 250", "is a latency: give its unit"},                 // latencies need a unit
		{"delivery.p99 < 250%", "not a time unit"},                            // ... a time unit
		{"delivery.p99 < 250 parsecs", "unknown unit \"parsecs\""},            // unknown unit
		{"delivery.p99 = 250ms", "write =="},                                  // one = is a typo of ==
		{"delivery.p99 ! 250ms", "write !="},                                  // a lone !
		{"delivery.p99 < ms", "want a number"},                                // no number
		{"< 250ms", "no metric"},                                              // no metric
		{"delivery.p99 <", "no value"},                                        // no value
		{"delivery.p99 < 1 < 2", "more than one comparison"},                  // chained
		{"delivery p99 < 250ms", "a metric is one word"},                      // space in the metric
		{"delivery.p98 < 250ms", "an operation has p50"},                      // unknown statistic
		{"teleport.p99 < 250ms", "unknown metric \"teleport.p99\""},           // unknown operation
		{"p99 < 250ms", "is not a metric"},                                    // no group
		{"messages.lots == 0", "messages has sent"},                           // unknown messages field
		{"failures.ratio < 1%", "failures has count and rate"},                // unknown failures field
		{"load.rate > 5", "load has achieved_rate and dropped"},               // unknown load field
		{"generator.rss < 5", "generator has schedule_lag_p99"},               // unknown generator field
		{"messages.lost == 0ms", "is a count: it takes no unit"},              // counts have no unit
		{"failures.rate < 5", "fraction of 0..1"},                             // a rate above 1 without %
		{"failures.rate < 150%", "out of 0..100%"},                            // percent out of range
		{"failures.rate < 1/s", "write it as a fraction"},                     // wrong unit for a rate
		{"load.achieved_rate > 5ms", "is per second"},                         // wrong unit for a rate per second
		{"delivery.p99 < 250ms for 0 intervals", "1 or more"},                 // window of 0
		{"delivery.p99 < 250ms for x intervals", "whole number"},              // window not a number
		{"delivery.p99 < 250ms for 3 minutes", "want \"for N intervals\""},    // wrong window unit
		{"delivery.p99 < 250ms abort for 3 intervals", "misplaced \"abort\""}, // order
		{"delivery.p99 < 1e999ms", "not a usable number"},                     // overflow
	}
	for _, c := range cases {
		_, err := ParseThreshold(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseThreshold(%q) = %v; want an error containing %q", c.in, err, c.want)
			continue
		}
		// Every error names the threshold as given.
		if !strings.HasPrefix(err.Error(), "threshold \""+strings.TrimSpace(c.in)+"\": ") {
			t.Errorf("ParseThreshold(%q) error %q does not start with the threshold's text", c.in, err)
		}
	}
}

// The canonical form parses back to the same threshold.
func TestThresholdString(t *testing.T) {
	for _, s := range []string{"delivery.p99 < 250ms for 3 intervals abort", "failures.rate < 0.1%", "messages.lost == 0"} {
		th, err := ParseThreshold(s)
		if err != nil {
			t.Fatal(err)
		}
		if th.String() != s {
			t.Errorf("String() = %q; want %q", th.String(), s)
		}
	}
}

func mustThreshold(t *testing.T, s string) Threshold {
	t.Helper()
	th, err := ParseThreshold(s)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// Check against the sample report: delivery p99 102.6 ms, 3 of 2000 expected
// deliveries lost, 4 of 3084 operations failed, 199.6/s achieved.
func TestCheckReport(t *testing.T) {
	r := sampleReport()
	cases := []struct {
		th       string
		pass     bool
		observed string
	}{
		{"delivery.p99 < 250ms", true, "102.564ms"},
		{"delivery.p99 < 0.1s", false, "0.102564s"}, // observed in the threshold's unit
		{"delivery.p99 < 102563us", false, "102563.839us"},
		{"messages.lost == 0", false, "3"},
		{"messages.lost <= 3", true, "3"},
		{"messages.loss_rate < 0.1%", false, "0.15%"},
		{"messages.loss_rate < 0.002", true, "0.0015"},
		{"messages.delivered_rate >= 99.8%", true, "99.8%"},
		{"failures.rate < 0.1%", false, "0.1297%"}, // 4 failed of 3084
		{"failures.count == 8", true, "8"},         // 3 send + 1 join + 3 lost + 1 corrupted
		{"send.errors == 3", true, "3"},
		{"send.error_rate < 1%", true, "0.2991%"},
		{"join.count != 21", false, "21"},
		{"load.achieved_rate >= 199/s", true, "199.6/s"},
		{"load.dropped == 0", true, "0"},
		{"generator.schedule_lag_p99 < 1ms", true, "0.098ms"},
		{"unregister.min > 1s", true, "1.233125s"},
		// No history operation ran: a gate on it fails rather than passing on nothing.
		{"history.p99 < 1s", false, "-"},
		{"history.count == 0", true, "0"},
	}
	for _, c := range cases {
		v := mustThreshold(t, c.th).Check(r)
		if v.Pass != c.pass || v.Observed != c.observed || v.Threshold != c.th {
			t.Errorf("Check(%q) = %+v; want pass %v, observed %q", c.th, v, c.pass, c.observed)
		}
	}
	if v := mustThreshold(t, "history.p99 < 1s").Check(r); v.Detail != "no history operations: nothing to check" {
		t.Errorf("detail %q; want it to say there was nothing to check", v.Detail)
	}
}

// intervalRun is a 10-interval run: setup, 8 steady intervals whose delivery p99 is
// ms[i] (0: no delivery in it), drain.
func intervalRun(ms ...float64) *Report {
	t0 := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	r := &Report{SchemaVersion: SchemaVersion, StartedAt: t0}
	add := func(phase string, p99 float64) {
		n := len(r.Intervals)
		iv := Interval{Start: t0.Add(time.Duration(n) * 10 * time.Second), End: t0.Add(time.Duration(n+1) * 10 * time.Second),
			Phase: phase, Operations: map[string]Operation{}}
		if p99 > 0 {
			iv.Operations["delivery"] = Operation{Count: 100, LatencyUS: Latency{P99: p99 * 1e3}}
		}
		r.Intervals = append(r.Intervals, iv)
	}
	add("setup", 900)
	for _, m := range ms {
		add("steady", m)
	}
	add("drain", 900)
	return r
}

func TestCheckForIntervals(t *testing.T) {
	th := mustThreshold(t, "delivery.p99 < 250ms for 3 intervals")
	cases := []struct {
		name     string
		ms       []float64
		pass     bool
		observed string
		detail   string
	}{
		// Two bad intervals in a row, twice: never three.
		{"blips", []float64{100, 300, 300, 100, 300, 300, 100, 100}, true, "300ms", "at most 2 of 3 intervals in a row violated it (8 checked)"},
		// Three in a row fail; the worst of them is shown with when it happened.
		{"three", []float64{100, 300, 400, 350, 100, 100, 100, 100}, false, "400ms", "violated in 3 intervals in a row, +20s to +50s"},
		// An interval without deliveries is no violation: it breaks a streak.
		{"gap", []float64{300, 300, 0, 300, 300, 100, 100, 100}, true, "300ms", "at most 2 of 3"},
		// Setup and drain (900 ms here) are not judged.
		{"good", []float64{100, 120, 110, 100, 100, 100, 100, 100}, true, "120ms", "no violation in 8 intervals"},
	}
	for _, c := range cases {
		v := th.Check(intervalRun(c.ms...))
		if v.Pass != c.pass || v.Observed != c.observed || !strings.Contains(v.Detail, c.detail) {
			t.Errorf("%s: Check = %+v; want pass %v, observed %q, detail containing %q", c.name, v, c.pass, c.observed, c.detail)
		}
	}
	if v := th.Check(&Report{SchemaVersion: SchemaVersion}); v.Pass || !strings.Contains(v.Detail, "no steady-phase intervals") {
		t.Errorf("Check of a report without intervals = %+v; want a failure saying there was nothing to check", v)
	}
	pass, obs := th.CheckInterval(intervalRun(300).Intervals[1])
	if pass || obs != 300 {
		t.Errorf("CheckInterval = %v, %v; want false, 300 (in ms)", pass, obs)
	}
	pass, obs = th.CheckInterval(Interval{})
	if !pass || !math.IsNaN(obs) {
		t.Errorf("CheckInterval(empty) = %v, %v; want true, NaN", pass, obs)
	}
}

func TestWatch(t *testing.T) {
	ts := []Threshold{
		mustThreshold(t, "delivery.p99 < 250ms for 2 intervals abort"),
		mustThreshold(t, "messages.lost == 0 abort"),
		mustThreshold(t, "delivery.p99 < 1ms"), // no abort: not watched
	}
	w := NewWatch(ts)
	if w.Len() != 2 {
		t.Fatalf("Len = %d; want 2", w.Len())
	}
	run := intervalRun(300, 100, 300, 300, 100)
	run.Intervals[5].Messages.Lost = 1
	var fired []string
	for i, iv := range run.Intervals {
		vs, err := w.Interval(iv)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			fired = append(fired, v.Threshold)
			if v.Pass || v.Observed == "" || !strings.Contains(v.Detail, "aborted") {
				t.Errorf("interval %d: verdict %+v", i, v)
			}
		}
		switch {
		case i < 4 && len(fired) > 0:
			t.Fatalf("fired %v after interval %d; want nothing before the second bad interval in a row", fired, i)
		case i == 4 && len(fired) != 1:
			t.Fatalf("fired %v after interval 4; want the 2-interval threshold", fired)
		}
	}
	if len(fired) != 2 || fired[1] != "messages.lost == 0 abort" {
		t.Errorf("fired %v; want the window threshold, then lost (each once)", fired)
	}
}

func TestThresholdsTableGolden(t *testing.T) {
	r := sampleReport()
	for _, s := range []string{"delivery.p99 < 250ms", "messages.lost == 0", "failures.rate < 0.1%", "history.p99 < 1s",
		"delivery.p99 < 250ms for 3 intervals"} {
		r.Thresholds = append(r.Thresholds, mustThreshold(t, s).Check(r))
	}
	var b bytes.Buffer
	if err := r.WriteTables(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "tables_thresholds.txt", b.Bytes())
}

// The scenario echo (json.Marshal escapes <, > and &) is written readable, other
// escapes kept.
func TestUnescapeHTML(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"thresholds":["delivery.p99 \u003c 250ms","a \u003e= 1 \u0026 b"]}`, `{"thresholds":["delivery.p99 < 250ms","a >= 1 & b"]}`},
		{`{"a":"\\u003c"}`, `{"a":"\\u003c"}`},              // an escaped backslash, then text
		{`{"a":"\"\u003C\u00e9\n"}`, `{"a":"\"<\u00e9\n"}`}, // other escapes stay
		{`{"a":1}`, `{"a":1}`},
	}
	for _, c := range cases {
		if got := string(unescapeHTML([]byte(c.in))); got != c.want {
			t.Errorf("unescapeHTML(%s) = %s; want %s", c.in, got, c.want)
		}
	}
}

// Any text parses or fails without panicking; what parses survives its canonical form.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"delivery.p99 < 250ms", "messages.lost == 0", "failures.rate < 0.1%",
		"send.p99 <= 1s for 3 intervals abort", "load.achieved_rate >= 9.5e2/s", "join.p99.9!=.5us", "x <", "for 1 intervals"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "threshold ") {
				t.Errorf("error %q does not name the threshold", err)
			}
			return
		}
		back, err := ParseThreshold(th.String())
		if err != nil {
			t.Fatalf("%q parsed as %+v, but its String %q does not: %v", s, th, th.String(), err)
		}
		back.Expr = th.Expr
		if back != th {
			t.Errorf("%q: %+v; its String %q parses as %+v", s, th, th.String(), back)
		}
		_ = th.Check(&Report{})
	})
}
