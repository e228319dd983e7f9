package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxRate is the highest rate a scenario accepts, in operations per second. It is far
// above what one generator sustains; its purpose is to catch a typo (an extra zero or
// two) and to keep the schedule's integer math in range.
const MaxRate = 10_000_000

// Rate is a number of operations per second. It is a plain value, safe to copy.
type Rate float64

// ParseRate parses a rate: a number with an optional k (thousand) or M (million)
// suffix and an optional per-unit: "200/s", "200" (per second), "1.5k/s", "30/m",
// "30/min", "2/h", or a per-duration such as "100/10s". The rate must be > 0 and at
// most MaxRate.
func ParseRate(s string) (Rate, error) {
	r, err := parseRate(s)
	if err != nil {
		return 0, fmt.Errorf("rate %v", err)
	}
	if r == 0 {
		return 0, fmt.Errorf("rate %q: want more than 0", s)
	}
	return r, nil
}

// parseRate is ParseRate that also accepts 0 (a stage's "0/s", the closed model's
// "rate: 0"). Its errors start with the quoted text.
func parseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	num, per, hasPer := strings.Cut(t, "/")
	num = strings.TrimSpace(num)
	mult := 1.0
	switch {
	case strings.HasSuffix(num, "k"), strings.HasSuffix(num, "K"):
		mult, num = 1e3, num[:len(num)-1]
	case strings.HasSuffix(num, "M"):
		mult, num = 1e6, num[:len(num)-1]
	}
	v, err := strconv.ParseFloat(num, 64)
	if !isDecimal(num) || err != nil {
		return 0, fmt.Errorf("%q: want a rate such as 200/s, 1.5k/s, 30/m or 2/h", t)
	}
	v *= mult
	if hasPer {
		unit, err := parsePer(strings.TrimSpace(per))
		if err != nil {
			return 0, fmt.Errorf("%q: %v", t, err)
		}
		v /= unit.Seconds()
	}
	if v > MaxRate {
		return 0, fmt.Errorf("%q is more than the maximum %s", t, Rate(MaxRate))
	}
	return Rate(v), nil
}

// isDecimal reports whether s is digits with at most one '.', and at least one digit:
// a strict form, so that "1e3", "0x10", "inf" and "-5" are refused with a clear message.
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// parsePer parses what follows the '/' of a rate: a unit name or a positive duration.
func parsePer(s string) (time.Duration, error) {
	switch s {
	case "s", "sec":
		return time.Second, nil
	case "m", "min":
		return time.Minute, nil
	case "h", "hr":
		return time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("unit /%s: want /s, /m, /h or a duration such as /10s", s)
	}
	return d, nil
}

// String formats r in the first unit of s, m, h that shows it exactly in at most six
// significant digits: "200/s", "0.5/s", "20/m", "2/h"; else per second with all the
// digits. Parsing the result gives r back.
func (r Rate) String() string {
	f := float64(r)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprintf("%v/s", f)
	}
	per := []struct {
		unit string
		secs float64
	}{{"s", 1}, {"m", 60}, {"h", 3600}}
	for _, p := range per {
		// Six significant digits in the unit, kept only when it reads back exactly.
		v, err := strconv.ParseFloat(strconv.FormatFloat(f*p.secs, 'g', 6, 64), 64)
		if err == nil && v/p.secs == f {
			return strconv.FormatFloat(v, 'f', -1, 64) + "/" + p.unit
		}
	}
	return strconv.FormatFloat(f, 'f', -1, 64) + "/s"
}

// Stage is one part of a ramp: the rate moves linearly from the previous stage's rate
// (0 before the first) to Rate over Duration. A stage from rate 0 to rate 0 is a pause;
// a stage of Duration 0 is a step: the rate jumps to Rate.
type Stage struct {
	Duration time.Duration
	Rate     Rate
}

// String formats s as ParseStages reads it: "30s:100/s".
func (s Stage) String() string { return fmtDuration(s.Duration) + ":" + s.Rate.String() }

// ParseStages parses a ramp: comma-separated DURATION:RATE stages such as
// "30s:100/s,1m:500/s,30s:0/s". A stage's rate may be 0 (ramp down, or pause when the
// rate was already 0); its duration may be 0 (a step).
func ParseStages(s string) ([]Stage, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("no stages: want DURATION:RATE,... such as 30s:100/s,1m:500/s")
	}
	var stages []Stage
	for i, part := range strings.Split(s, ",") {
		st, err := parseStage(part)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %v", i+1, err)
		}
		stages = append(stages, st)
	}
	return stages, nil
}

func parseStage(s string) (Stage, error) {
	d, r, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Stage{}, fmt.Errorf("%q: want DURATION:RATE such as 30s:100/s", strings.TrimSpace(s))
	}
	dur, err := parseDuration(d)
	if err != nil {
		return Stage{}, err
	}
	rate, err := parseRate(r)
	if err != nil {
		return Stage{}, err
	}
	return Stage{Duration: dur, Rate: rate}, nil
}

// parseDuration parses a non-negative Go duration ("30s", "1m30s"); "0" is allowed.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err != nil {
		if isDecimal(t) {
			return 0, fmt.Errorf("%q has no unit: write %ss or %sms", t, t, t)
		}
		return 0, fmt.Errorf("%q: want a duration such as 30s, 5m or 1h30m", t)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", t)
	}
	return d, nil
}

// fmtDuration formats d shortly and in a form time.ParseDuration reads: "30s", "1m",
// "1h30m", "1.5s" (time.Duration.String would give "1m0s").
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
