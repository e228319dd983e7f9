package report

import (
	"strings"
	"testing"
	"time"
)

func TestRecoveryText(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	iv := func(k int, sendErr, rc, rcErr uint64) Interval {
		ops := map[string]Operation{"send": {Count: 10, Errors: sendErr}}
		if rc > 0 {
			ops["reconnect"] = Operation{Count: rc, Errors: rcErr}
		}
		return Interval{Start: t0.Add(time.Duration(k) * time.Second), End: t0.Add(time.Duration(k+1) * time.Second), Phase: "steady", Operations: ops}
	}
	r := &Report{StartedAt: t0, Operations: map[string]Operation{"send": {Count: 60, Errors: 25}, "reconnect": {Count: 7, Errors: 3}},
		Intervals: []Interval{iv(0, 0, 0, 0), iv(1, 0, 0, 0), iv(2, 10, 2, 2), iv(3, 10, 1, 1), iv(4, 5, 4, 0), iv(5, 0, 0, 0)}}
	want := "7 reconnects (3 failed), posts failing from +2.0 s to +5.0 s, last user back by +5.0 s"
	if got := r.RecoveryText(); got != want {
		t.Errorf("RecoveryText() = %q; want %q", got, want)
	}
	var b strings.Builder
	if err := r.WriteTables(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Recovery:  "+want) {
		t.Errorf("tables lack the recovery line:\n%s", b.String())
	}
	var h strings.Builder
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), "posts failing from &#43;2.0 s to &#43;5.0 s") { // template escapes +
		t.Errorf("HTML page lacks the recovery")
	}
	r.Operations = map[string]Operation{"send": {Count: 60}}
	if got := r.RecoveryText(); got != "" {
		t.Errorf("without reconnects: %q", got)
	}
}

func TestServerText(t *testing.T) {
	s := &Server{Process: ServerChild, PID: 42, CPUSeconds: 1.5, MaxRSSBytes: 20 << 20,
		Counters: map[string]uint64{"requests.MESSAGE": 120, "requests.REGISTER": 40, "registers_ok": 20, "joins": 0,
			"lines": 100, "copies_failed": 0, "fault_dropped": 3, "fault_stalls": 0}}
	want := "own process (pid 42): CPU 1.50 s, max RSS 20.0 MiB; requests 160, registers_ok 20, lines 100, fault_dropped 3"
	if got := s.Text(); got != want {
		t.Errorf("Text() = %q; want %q", got, want)
	}
	in := &Server{Process: ServerInProcess, Counters: map[string]uint64{"lines": 5}}
	if got := in.Text(); !strings.HasPrefix(got, "in the generator's process") || !strings.HasSuffix(got, "; lines 5") {
		t.Errorf("in-process Text() = %q", got)
	}
	if got := (*Server)(nil).Text(); got != "" {
		t.Errorf("nil Text() = %q", got)
	}
}
