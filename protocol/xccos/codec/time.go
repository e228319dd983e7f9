package codec

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// tick is the wire's finest time step: .NET writes 7 fractional digits (note §6).
const tick = 100 * time.Nanosecond

// parseTime reads an ISO 8601 timestamp the way the note asks (§6): SIPE sends
// "2024-05-01T12:00:00Z", the server 7 fractional digits, possibly without the "Z".
//
//	YYYY-MM-DDThh:mm:ss[.f{1,9}][Z | ±hh:mm]
//
// No zone means UTC [I]. "t" and "z" may be lower case (RFC 3339 §5.6). Digits past
// the seventh are truncated, so the result is what formatTime writes back. The
// result is in UTC and its year within 0..9999 (or formatTime could not write it).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	const base = len("2006-01-02T15:04:05")
	if len(s) < base {
		return time.Time{}, errors.New("too short")
	}
	if s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, errors.New("not YYYY-MM-DDThh:mm:ss")
	}
	var f [6]int
	for i, span := range [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		n, ok := digits(s[span[0]:span[1]])
		if !ok {
			return time.Time{}, errors.New("not YYYY-MM-DDThh:mm:ss")
		}
		f[i] = n
	}
	year, month, day, hour, minute, sec := f[0], f[1], f[2], f[3], f[4], f[5]
	if month < 1 || month > 12 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errors.New("field out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, errors.New("no such day")
	}
	rest := s[base:]
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		frac := rest[1:n]
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, errors.New("want 1 to 9 fractional digits")
		}
		ns, _ := digits(frac + "000000000"[len(frac):])
		t = t.Add(time.Duration(ns - ns%int(tick)))
		rest = rest[n:]
	}
	switch {
	case rest == "" || rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, ok1 := digits(rest[1:3])
		m, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || h > 23 || m > 59 {
			return time.Time{}, errors.New("bad zone offset")
		}
		off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		if rest[0] == '+' {
			off = -off
		}
		t = t.Add(off)
	default:
		return time.Time{}, fmt.Errorf("%q after the seconds; want a fraction, Z or ±hh:mm", rest)
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, errors.New("year outside 0000..9999 in UTC")
	}
	return t, nil
}

// digits parses a run of ASCII digits (no sign, no space).
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

// formatTime writes t as the note asks of our writer (§6): RFC 3339 in UTC with "Z",
// whole seconds as SIPE sends them, else up to 7 fractional digits without trailing
// zeros (.NET's resolution; finer digits are truncated).
func formatTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("year %d outside 0000..9999", y)
	}
	t = t.Add(-(time.Duration(t.Nanosecond()) % tick))
	return t.Format("2006-01-02T15:04:05.9999999Z"), nil
}
