package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// thresholdUsage is --threshold's help.
const thresholdUsage = `pass/fail criterion, repeatable, added to the file's thresholds: ` +
	`"METRIC OP VALUE[UNIT] [for N intervals] [abort]", e.g. "delivery.p99 < 250ms", "messages.lost == 0", ` +
	`"failures.rate < 0.1%", "send.p99 < 1s for 3 intervals abort"; exit 3 when one fails`

// thresholdLines counts the thresholds the repeated --threshold flag gives, split as
// scenarios.Config.Apply splits them (one per line, blank ones ignored).
func thresholdLines(values []string) int {
	n := 0
	for _, v := range values {
		for line := range strings.SplitSeq(v, "\n") {
			if strings.TrimSpace(line) != "" {
				n++
			}
		}
	}
	return n
}

// checkThresholds parses cfg's thresholds (report's grammar: scenarios only checks
// their shape) and names where a bad one came from: the scenario file's line (path
// and data are the file's, "" and nil without one) or --threshold. The flags'
// thresholds come last in cfg.Thresholds (Apply adds them to the file's).
func checkThresholds(cfg scenarios.Config, path string, data []byte, flagValues []string) ([]report.Threshold, error) {
	nFile := len(cfg.Thresholds) - thresholdLines(flagValues)
	var lines []int
	if data != nil {
		lines = scenarios.ListLines(data, "thresholds")
	}
	ts := make([]report.Threshold, 0, len(cfg.Thresholds))
	for i, s := range cfg.Thresholds {
		t, err := report.ParseThreshold(s)
		if err != nil {
			switch {
			case i >= nFile:
				return nil, usageErr("--threshold: %v", err)
			case len(lines) == nFile:
				return nil, usageErr("%s:%d: thresholds: %v", path, lines[i], err)
			default:
				return nil, usageErr("%s: thresholds: %v", path, err)
			}
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// runGate holds a run's thresholds: it watches the abort ones interval by interval
// (onInterval, from the engine's reporting goroutine; a mixed run's workload ones on
// that workload's intervals, onWorkloadInterval) and cancels the run when one
// fails, then judges them all on the final report (judge, after the run).
type runGate struct {
	ts     []report.Threshold
	watch  *report.Watch
	wwatch map[string]*report.Watch // by workload: its abort thresholds (mixed runs)
	cancel context.CancelFunc
	stderr io.Writer

	aborted atomic.Bool
	mu      sync.Mutex
	fired   map[string]report.Verdict // abort verdicts by threshold text
}

func newRunGate(ts []report.Threshold, cancel context.CancelFunc, stderr io.Writer) *runGate {
	g := &runGate{ts: ts, watch: report.NewWatch(ts), cancel: cancel, stderr: stderr, fired: map[string]report.Verdict{},
		wwatch: map[string]*report.Watch{}}
	byWorkload := map[string][]report.Threshold{}
	for _, t := range ts {
		if t.Workload != "" && t.Abort {
			sub := t // judged on the workload's intervals as a run's (Expr keeps its name)
			sub.Workload = ""
			byWorkload[t.Workload] = append(byWorkload[t.Workload], sub)
		}
	}
	for name, wts := range byWorkload {
		g.wwatch[name] = report.NewWatch(wts)
	}
	return g
}

// onInterval is engine.RunConfig.OnInterval: it never blocks for long (the merge of
// one interval into the run so far, for whole-run abort thresholds).
func (g *runGate) onInterval(iv report.Interval) { g.feed(g.watch, iv) }

// onWorkloadInterval is engine.MixConfig.OnWorkloadInterval: a workload's abort
// thresholds judged on its own intervals as they close.
func (g *runGate) onWorkloadInterval(name string, iv report.Interval) {
	if w := g.wwatch[name]; w != nil {
		g.feed(w, iv)
	}
}

func (g *runGate) feed(w *report.Watch, iv report.Interval) {
	if w.Len() == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	vs, err := w.Interval(iv)
	if err != nil {
		fmt.Fprintf(g.stderr, "chatload: thresholds: %v (whole-run abort thresholds are not checked from here on)\n", err)
	}
	for _, v := range vs {
		g.fired[v.Threshold] = v
		fmt.Fprintf(g.stderr, "chatload: threshold %q failed (observed %s; %s): aborting the run\n", v.Threshold, v.Observed, v.Detail)
	}
	if len(vs) > 0 && g.aborted.CompareAndSwap(false, true) {
		g.cancel()
	}
}

// isAborted is engine.RunConfig.Aborted.
func (g *runGate) isAborted() bool { return g.aborted.Load() }

// judge puts every threshold's verdict in rep (the one that aborted the run keeps its
// abort verdict) and returns the failed ones.
func (g *runGate) judge(rep *report.Report) []report.Verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	rep.Thresholds = nil
	var failed []report.Verdict
	for _, t := range g.ts {
		v, ok := g.fired[t.Expr]
		if !ok {
			v = t.Check(rep)
		}
		rep.Thresholds = append(rep.Thresholds, v)
		if !v.Pass {
			failed = append(failed, v)
		}
	}
	return failed
}

// thresholdsFailed reports failed verdicts on stderr, one line each, and returns the
// exit-3 error (nil when none failed).
func thresholdsFailed(stderr io.Writer, failed []report.Verdict, total int) error {
	if len(failed) == 0 {
		return nil
	}
	for _, v := range failed {
		detail := ""
		if v.Detail != "" {
			detail = "; " + v.Detail
		}
		fmt.Fprintf(stderr, "threshold failed: %s (observed %s%s)\n", v.Threshold, v.Observed, detail)
	}
	return &exitError{code: 3, err: fmt.Errorf("%d of %d thresholds failed", len(failed), total)}
}

// chainIntervals returns an engine.RunConfig.OnInterval that calls each of fs (nil
// ones skipped) in order; nil when there are none.
func chainIntervals(fs ...func(report.Interval)) func(report.Interval) {
	var live []func(report.Interval)
	for _, f := range fs {
		if f != nil {
			live = append(live, f)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return func(iv report.Interval) {
		for _, f := range live {
			f(iv)
		}
	}
}

// segmentThresholds is thresholdsFailed for a run that may be one segment of a
// distributed run: a segment's counts and rates are its share, so its verdicts are
// only reported (in its report and tables) and its exit status stays 0; chatload
// merge judges the thresholds on the whole run. (abort thresholds still stop the
// segment that fails them.)
func segmentThresholds(stderr io.Writer, seg scenarios.Segment, failed []report.Verdict, total int) error {
	if seg.Whole() || len(failed) == 0 {
		return thresholdsFailed(stderr, failed, total)
	}
	fmt.Fprintf(stderr, "segment %s: %d of %d thresholds failed on this segment's share of the run; "+
		"chatload merge judges them on the whole run (exit 0 here)\n", seg, len(failed), total)
	return nil
}
