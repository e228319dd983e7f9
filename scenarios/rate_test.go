package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	cases := []struct {
		in   string
		want Rate
	}{
		{"200/s", 200},      // the usual form
		{"200", 200},        // per second by default
		{" 200 / s ", 200},  // spaces are fine
		{"1.5k/s", 1500},    // thousands
		{"2M/s", 2e6},       // millions
		{"30/m", 0.5},       // per minute
		{"30/min", 0.5},     // per minute, long form
		{"2/h", 2.0 / 3600}, // per hour
		{"100/10s", 10},     // per duration, vegeta style
		{"0.25/s", 0.25},    // fractions
		{"10000000/s", MaxRate},
	}
	for _, c := range cases {
		got, err := ParseRate(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestParseRateErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"0/s", "want more than 0"},             // ParseRate is for --rate; 0 is the closed model's lack of one
		{"-5/s", "want a rate such as"},         // no sign
		{"abc", "want a rate such as"},          // not a number
		{"1e3/s", "want a rate such as"},        // no exponents: k and M instead
		{"inf", "want a rate such as"},          // not a number either
		{"", "want a rate such as"},             // nothing
		{"5/d", "unit /d"},                      // unknown unit
		{"5/0s", "unit /0s"},                    // zero period
		{"20000000/s", "more than the maximum"}, // a typo, surely
	}
	for _, c := range cases {
		_, err := ParseRate(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRate(%q) error = %v; want containing %q", c.in, err, c.want)
		}
	}
}

func TestRateString(t *testing.T) {
	cases := []struct {
		r    Rate
		want string
	}{
		{200, "200/s"},
		{1500, "1500/s"},
		{0.5, "0.5/s"},
		{1.0 / 3, "20/m"},            // exact per minute, not 0.3333333333333333/s
		{2.0 / 3600, "2/h"},          // exact per hour
		{0, "0/s"},                   // the closed model's rate
		{123.456789, "123.456789/s"}, // more digits than the short forms hold
	}
	for _, c := range cases {
		if got := c.r.String(); got != c.want {
			t.Errorf("Rate(%v).String() = %q; want %q", float64(c.r), got, c.want)
		}
		back, err := parseRate(c.want)
		if err != nil || back != c.r {
			t.Errorf("parseRate(%q) = %v, %v; want %v back", c.want, back, err, float64(c.r))
		}
	}
}

func TestParseStages(t *testing.T) {
	got, err := ParseStages("30s:100/s, 1m:500/s,30s:0/s,0s:20/s")
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{{30 * time.Second, 100}, {time.Minute, 500}, {30 * time.Second, 0}, {0, 20}}
	if len(got) != len(want) {
		t.Fatalf("got %d stages; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stage %d = %v; want %v", i+1, got[i], want[i])
		}
	}
	if s := got[1].String(); s != "1m:500/s" {
		t.Errorf("Stage.String() = %q; want %q", s, "1m:500/s")
	}

	errs := []struct{ in, want string }{
		{"", "no stages"}, // nothing
		{"30s", "stage 1: \"30s\": want DURATION:RATE"}, // no rate
		{"30s:100/s,1m", "stage 2:"},                    // the bad one is named
		{"30:100/s", "\"30\" has no unit"},              // a bare number is no duration
		{"-1s:100/s", "is negative"},                    // back in time
		{"30s:-5", "want a rate"},                       // negative rate
	}
	for _, c := range errs {
		_, err := ParseStages(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseStages(%q) error = %v; want containing %q", c.in, err, c.want)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", time.Minute: "1m", time.Hour: "1h",
		90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q; want %q", d, got, want)
		}
		if back, err := parseDuration(want); err != nil || back != d {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", want, back, err, d)
		}
	}
}
