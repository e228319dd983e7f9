package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/noise"
	"github.com/chatload/chatload/report"
)

// The exit statuses of chatload's commands: one table, in README.md and in
// exitStatusHelp (every command's --help). 0 to 3 keep the meanings they always had.
const (
	exitOK           = 0 // success: the test passed, the run completed, no regression
	exitCannotRun    = 1 // could not run, interrupted, or the output could not be written
	exitUsage        = 2 // usage error, bad input, unreadable report
	exitThreshold    = 3 // a threshold failed (run), a regression (compare)
	exitFailedKind   = 4 // run: every operation of a kind failed (e.g. every send refused)
	exitInconclusive = 5 // run: the generator did not hold its schedule; compare: cannot judge (too few samples, saturated runs)
)

// exitStatusHelp is the exit-status table of --help.
const exitStatusHelp = `Exit status (all commands; 0 to 3 keep their meanings):
  0  success: the test passed, the run completed and passed, no regression,
     the capacity search finished
  1  could not run, interrupted, or the output could not be written;
     test: the transaction failed
  2  usage error, bad input or an unreadable report
  3  a threshold failed (run), a regression (compare)
  4  run: every operation of a kind failed (every send refused, every delivery lost)
  5  run: the generator did not hold its schedule (achieved rate more than
     --max-shortfall below the target, more than --max-dropped dropped);
     compare: INCONCLUSIVE (too few samples, a saturated run, other load)
  run's 4 and 5 are reported even without thresholds; --allow-failures turns them off.`

// healthFlags are run's --allow-failures, --max-shortfall and --max-dropped.
type healthFlags struct {
	allowFailures bool
	shortfall     string
	dropped       string
}

func addHealthFlags(cmd *cobra.Command, h *healthFlags) {
	fl := cmd.Flags()
	fl.BoolVar(&h.allowFailures, "allow-failures", false,
		"exit 0 even when every operation of a kind failed (4) or the generator did not hold its schedule (5); YAML allow-failures: true")
	fl.StringVar(&h.shortfall, "max-shortfall", "1%", "exit 5 when the achieved rate is more than this below the target")
	fl.StringVar(&h.dropped, "max-dropped", "0.1%", "exit 5 when more than this share of the scheduled work was dropped")
}

// limits reads --max-shortfall and --max-dropped over the defaults.
func (h healthFlags) limits() (report.HealthLimits, error) {
	l := report.DefaultHealthLimits()
	var err error
	if l.RateShortfall, err = parseShare("--max-shortfall", h.shortfall); err != nil {
		return l, err
	}
	if l.Dropped, err = parseShare("--max-dropped", h.dropped); err != nil {
		return l, err
	}
	return l, nil
}

// parseShare reads "1%" or "0.01" as a fraction in [0, 1].
func parseShare(flag, s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if p, ok := strings.CutSuffix(t, "%"); ok {
		t, div = strings.TrimSpace(p), 100
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f/div > 1 {
		return 0, usageErr("%s %q: want a share such as 1%% or 0.01 (0 to 100%%)", flag, s)
	}
	return f / div, nil
}

// verdict is the exit status of a completed run that passed its thresholds: 4 when
// every operation of a kind failed, 5 when the generator did not hold its schedule,
// each with a one-line reason; nil otherwise or with allow (--allow-failures, YAML).
func (h healthFlags) verdict(stderr io.Writer, rep *report.Report, allow bool) error {
	if allow || h.allowFailures {
		return nil
	}
	l, err := h.limits()
	if err != nil {
		return err
	}
	if s := report.FailedKinds(rep); s != "" {
		return &exitError{code: exitFailedKind, err: fmt.Errorf("run failed: %s (--allow-failures exits 0)", s)}
	}
	if len(rep.Workloads) > 0 { // a mixed run: each workload against its own schedule
		for _, w := range rep.Workloads {
			if s := report.ScheduleProblem(w.Report, l); s != "" {
				return &exitError{code: exitInconclusive, err: fmt.Errorf("results not trustworthy: workload %s: %s (--allow-failures exits 0)", w.Name, s)}
			}
		}
		return nil
	}
	if s := report.ScheduleProblem(rep, l); s != "" {
		return &exitError{code: exitInconclusive, err: fmt.Errorf("results not trustworthy: %s (--allow-failures exits 0)", s)}
	}
	return nil
}

// noiseRecorder samples the machine's interference for the report: per interval
// (wrapping OnInterval so that checkpoints carry it too) and for the whole run.
type noiseRecorder struct {
	s  *noise.Sampler
	mu sync.Mutex
	// by interval start (ns): what attach puts in the report's intervals
	ivs map[int64]*report.Noise
}

func startNoise() *noiseRecorder {
	return &noiseRecorder{s: noise.Start(engine.ProcessCPU), ivs: map[int64]*report.Noise{}}
}

// wrap returns an OnInterval that records the interval's noise and hands the
// interval, with it, to next.
func (n *noiseRecorder) wrap(next func(report.Interval)) func(report.Interval) {
	return func(iv report.Interval) {
		iv.Noise = n.s.Interval()
		n.mu.Lock()
		n.ivs[iv.Start.UnixNano()] = iv.Noise
		n.mu.Unlock()
		if next != nil {
			next(iv)
		}
	}
}

// attach puts the run's and the intervals' noise in rep.
func (n *noiseRecorder) attach(rep *report.Report) {
	rep.Noise = n.s.Total()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range rep.Intervals {
		if v, ok := n.ivs[rep.Intervals[i].Start.UnixNano()]; ok {
			rep.Intervals[i].Noise = v
		}
	}
}
