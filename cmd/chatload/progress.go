package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/chatload/chatload/engine"
)

// progressPrinter shows engine progress on stderr: one line rewritten in place on a
// terminal, plain lines every `every` otherwise (logs and CI keep them readable).
type progressPrinter struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu      sync.Mutex
	last    time.Duration // Elapsed of the last plain line
	written bool          // a line is on the terminal without a newline
}

func newProgressPrinter(w io.Writer, quiet bool) *progressPrinter {
	if quiet {
		return nil
	}
	p := &progressPrinter{w: w, every: 10 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// show is the engine's Progress callback: it must not block for long, and it only
// formats one short line.
func (p *progressPrinter) show(pr engine.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := formatProgress(pr)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.written = true
		return
	}
	if p.last != 0 && pr.Elapsed-p.last < p.every {
		return
	}
	p.last = pr.Elapsed
	fmt.Fprintln(p.w, line)
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

func formatProgress(pr engine.Progress) string {
	rate := fmt.Sprintf("%.1f/s", pr.AchievedRate)
	if pr.TargetRate > 0 {
		rate += fmt.Sprintf(" of %.1f/s", pr.TargetRate)
	}
	return fmt.Sprintf("%-8s %7s  rate %s  in flight %d  p99 %s  delivered %d  lost %d  errors %d  dropped %d",
		pr.Phase, pr.Elapsed.Truncate(time.Second), rate, pr.InFlight, fmtDur(pr.P99),
		pr.Delivered, pr.Lost, pr.Errors, pr.Dropped)
}

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
