package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Diagnostics under attack: whatever a peer controls (how many bad datagrams,
// handshakes or connections it sends) must not control how much the server logs.
// Each kind of event is logged at most diagBurst times per diagEvery; the lines
// held back are counted and the next line of the kind says how many. Values a
// peer wrote are truncated and escaped (quoted) before they reach a log line.

const (
	diagBurst  = 5
	diagEvery  = 10 * time.Second
	diagMaxVal = 120 // bytes of a peer's data shown in a log line
)

// diagLimiter rate-limits log lines per kind. Safe for concurrent use.
type diagLimiter struct {
	now  func() time.Time
	mu   sync.Mutex
	kind map[string]*diagWindow // bounded: kinds are constants of this package
}

type diagWindow struct {
	start      time.Time
	n          int
	suppressed int
}

func newDiagLimiter(now func() time.Time) *diagLimiter {
	return &diagLimiter{now: now, kind: map[string]*diagWindow{}}
}

// allow reports whether a line of kind may be logged now, and how many lines of
// the kind were held back since the last one logged.
func (d *diagLimiter) allow(kind string) (bool, int) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.kind[kind]
	if w == nil {
		w = &diagWindow{start: now}
		d.kind[kind] = w
	}
	if now.Sub(w.start) >= diagEvery || now.Before(w.start) {
		w.start, w.n = now, 0
	}
	if w.n >= diagBurst {
		w.suppressed++
		return false, 0
	}
	w.n++
	s := w.suppressed
	w.suppressed = 0
	return true, s
}

// diag logs msg at level, rate-limited per kind (the message itself).
func (s *Server) diag(level slog.Level, msg string, args ...any) {
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := s.diags.allow(msg)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	s.log.Log(context.Background(), level, msg, args...)
}

// peerText returns data a peer sent, fit for a log line: at most diagMaxVal
// bytes, control and non-UTF-8 bytes escaped, and how long it was.
func peerText(data []byte) string {
	n := len(data)
	cut := data
	if len(cut) > diagMaxVal {
		cut = cut[:diagMaxVal]
	}
	out := make([]byte, 0, len(cut)+16)
	for len(cut) > 0 {
		r, size := utf8.DecodeRune(cut)
		switch {
		case r == utf8.RuneError && size <= 1:
			out = append(out, `\x`...)
			out = append(out, "0123456789abcdef"[cut[0]>>4], "0123456789abcdef"[cut[0]&15])
		case r == '\r':
			out = append(out, `\r`...)
		case r == '\n':
			out = append(out, `\n`...)
		case r < 0x20 || r == 0x7f:
			out = append(out, `\x`...)
			out = append(out, "0123456789abcdef"[byte(r)>>4], "0123456789abcdef"[byte(r)&15])
		default:
			out = append(out, cut[:size]...)
		}
		cut = cut[size:]
	}
	if n > diagMaxVal {
		out = append(out, "... ("+strconv.Itoa(n)+" bytes)"...)
	}
	return string(out)
}
