package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/scenarios"
)

// progressPrinter shows engine progress on stderr: on a terminal, one line rewritten
// in place and cut to the terminal's width (a longer one would wrap, and the next
// rewrite would stack lines); otherwise a plain line every `every` (the run's
// --interval), which logs and CI keep readable.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	fd       int
	every    time.Duration
	scenario string
	planned  time.Duration // the steady phase's planned length; 0 unknown (--iterations)
	signIn   float64       // --logon-rate: the sign-in rate asked for (0 unlimited)

	mu      sync.Mutex
	last    time.Duration // Elapsed of the last plain line
	printed bool          // a plain line was printed
	written bool          // a line is on the terminal without a newline
}

func newProgressPrinter(w io.Writer, quiet bool, every time.Duration, cfg scenarios.Config) *progressPrinter {
	if quiet {
		return nil
	}
	p := &progressPrinter{w: w, every: every, scenario: cfg.Scenario, planned: plannedSteady(cfg), signIn: float64(cfg.LogonRate)}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.fd = true, int(f.Fd())
	}
	return p
}

// plannedSteady is how long the steady phase is planned to last (0: by iterations).
func plannedSteady(cfg scenarios.Config) time.Duration {
	if cfg.Duration > 0 {
		return cfg.Duration
	}
	var d time.Duration
	for _, st := range cfg.Ramp {
		d += st.Duration
	}
	return d
}

// show is the engine's Progress callback: it must not block for long, and it only
// formats one short line.
func (p *progressPrinter) show(pr engine.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		width := 80
		if w, _, err := term.GetSize(p.fd); err == nil && w > 0 {
			width = w
		}
		fmt.Fprintf(p.w, "\r\033[K%s", formatProgress(pr, p.scenario, p.planned, p.signIn, width-1))
		p.written = true
		return
	}
	// The engine ticks every second: a tick a little early must not skip a line.
	if p.printed && pr.Elapsed-p.last < p.every-p.every/10 {
		return
	}
	p.last, p.printed = pr.Elapsed, true
	fmt.Fprintln(p.w, formatProgress(pr, p.scenario, p.planned, p.signIn, 0))
}

// done ends the in-place line so that what follows starts on its own line.
func (p *progressPrinter) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.written {
		fmt.Fprintln(p.w)
		p.written = false
	}
}

// formatProgress formats one progress line: the scenario, the phase with its
// progress (k6-like "[ 40% ] 12s/30s" in the steady phase, users signed in during
// setup), then the figures, most important first: in setup the sign-in rate so far
// (of signIn, the rate asked for, when set) and the time left at that rate. With
// width > 0 the line is cut to at most width columns at a field boundary.
func formatProgress(pr engine.Progress, scenario string, planned time.Duration, signIn float64, width int) string {
	var head string
	switch pr.Phase {
	case engine.PhaseSetup:
		// The sign-in rate so far and the time left are fields of their own (below).
		head = fmt.Sprintf("%s setup [ %d/%d users signed in ] %s", scenario, pr.SetupDone, pr.SetupTotal, secs(pr.Elapsed))
	case engine.PhaseSteady:
		if planned > 0 {
			pct := min(100, int(100*pr.Steady/planned))
			head = fmt.Sprintf("%s [ %3d%% ] %s/%s", scenario, pct, secs(pr.Steady), secs(planned))
		} else {
			head = fmt.Sprintf("%s [ steady ] %s", scenario, secs(pr.Steady))
		}
	default:
		head = fmt.Sprintf("%s %s %s", scenario, pr.Phase, secs(pr.Elapsed))
	}
	rate := fmt.Sprintf("rate %.1f/s", pr.AchievedRate)
	if pr.TargetRate > 0 {
		rate += fmt.Sprintf(" of %.1f/s", pr.TargetRate)
	}
	fields := []string{head, rate, "p99 " + fmtDur(pr.P99), fmt.Sprintf("delivered %d", pr.Delivered),
		fmt.Sprintf("lost %d", pr.Lost), fmt.Sprintf("errors %d", pr.Errors), fmt.Sprintf("dropped %d", pr.Dropped),
		fmt.Sprintf("in flight %d", pr.InFlight)}
	if pr.Phase == engine.PhaseSetup {
		fields = []string{head, signInRate(pr, signIn), "ETA " + signInETA(pr), fmt.Sprintf("errors %d", pr.Errors)}
	}
	line := fields[0]
	for _, f := range fields[1:] {
		if width > 0 && len(line)+2+len(f) > width {
			break
		}
		line += "  " + f
	}
	if width > 0 && len(line) > width {
		line = line[:width]
	}
	return strings.TrimRight(line, " ")
}

// signInRate is setup's sign-in rate so far: users done (signed in and joined, or
// failed) per second since the run started, and the rate asked for when set.
func signInRate(pr engine.Progress, target float64) string {
	var r float64
	if pr.Elapsed > 0 {
		r = float64(pr.SetupDone) / pr.Elapsed.Seconds()
	}
	s := fmt.Sprintf("sign-in %.1f/s", r)
	if target > 0 {
		s += fmt.Sprintf(" of %.1f/s", target)
	}
	return s
}

// signInETA is the time the users left to sign in take at the rate so far ("-"
// before the first is done).
func signInETA(pr engine.Progress) string {
	left := pr.SetupTotal - pr.SetupDone
	switch {
	case left <= 0:
		return "0s"
	case pr.SetupDone <= 0 || pr.Elapsed <= 0:
		return "-"
	}
	return secs(time.Duration(float64(left) / float64(pr.SetupDone) * float64(pr.Elapsed)))
}

func secs(d time.Duration) string { return d.Round(time.Second).String() }

// fmtDur prints a latency with 3 significant digits in a fitting unit.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
