package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/report"
)

// defaultLatencyFloor is compare's --latency-floor: below 1 ms a 10% change is a few
// microseconds of scheduling noise, not a regression.
const defaultLatencyFloor = time.Millisecond

func newCompareCmd(e *env) *cobra.Command {
	var (
		limits     []string
		floor      time.Duration
		minSamples uint64
		alpha      float64
		format     string
		force      bool
		out        string
		baseList   []string
		newList    []string
	)
	cmd := &cobra.Command{
		Use:   "compare BASE.json NEW.json | --base A1.json,A2.json,... --new B1.json,...",
		Short: "Compare runs with baseline runs, noise-aware: exit 3 only on a significant regression",
		Long: `Compare new runs' JSON reports with baseline runs' (either may be a checkpoint; "-"
reads standard input): for every operation the latency p50, p90, p99, p999 and max,
then the messages lost, duplicated and the loss rate, and the achieved rate.

A latency row's samples are the percentile in each steady interval of every run of a
side (--interval 1s gives one a second; the first of five or more is warm-up), or the
run's own value for runs without intervals. The sides are compared with the
Mann-Whitney U test (rank-based: latency percentiles are skewed and heavy-tailed, and
one wild interval moves it by one rank, not by its size); CHANGE is the
Hodges-Lehmann estimate of the shift, CI its confidence interval at 1-alpha, P the
two-sided p-value, N the samples per side.

A gated row (a limit applies: --max-regress, default p99=10%) is
  REGRESSED     the change is significant (p < --alpha, default 0.01) and worse than the limit
  IMPROVED      significant and better than the limit
  ~             no significant change beyond the limit
  INCONCLUSIVE  it cannot be judged: too few samples for p < alpha, a run whose
                generator was saturated (schedule not held, CPU, steal, schedule lag),
                or other load that differs between the sides (the generator's
                run-queue wait per wake-up) in the direction of the change.
Rows without a limit show "-". Compare several runs per side for a gate (--base
a1.json,a2.json,a3.json --new b1.json,b2.json,b3.json, or globs): one run per side
shows only the noise within a run, not between runs, and compare says so.

Limits: KEY=N% (relative to the baseline), KEY=AMOUNT (absolute: a duration such as
5ms for latencies, a count for lost and duplicated, a fraction for loss_rate, per
second for rate), KEY=off. Keys: p50, p90, p99, p999, max (every operation's),
OP.PCT (one operation's, e.g. delivery.p99; it wins over PCT), lost, duplicated,
loss_rate, rate (a lower achieved rate is worse). Counts and the rate are judged on
their means per run against the limit. A latency regresses only when its new value
is at least --latency-floor.

Runs of different scenarios are refused: their settings must be the same except
duration, seed, target, thresholds and allow-failures (--force compares anyway).

` + exitStatusHelp,
		Example: `  chatload compare baseline.json current.json
  chatload compare --base 'base-*.json' --new 'new-*.json'
  chatload compare --base a1.json,a2.json,a3.json --new b1.json,b2.json,b3.json --max-regress p99=10%,lost=0
  chatload compare --base 'base-*.json' --new 'new-*.json' --format markdown >> "$GITHUB_STEP_SUMMARY"`,
		Args: func(cmd *cobra.Command, args []string) error {
			lists := len(baseList) > 0 || len(newList) > 0
			switch {
			case lists && len(args) > 0:
				return usageErr("give the runs either as BASE NEW or with --base and --new, not both")
			case lists && (len(baseList) == 0 || len(newList) == 0):
				return usageErr("--base and --new go together: each names one or more reports")
			case !lists && len(args) != 2:
				return usageErr("compare takes two reports, BASE and NEW, or --base and --new lists; got %d (see 'chatload compare --help')", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			write, err := compareWriter(format)
			if err != nil {
				return err
			}
			lim := report.DefaultLimits()
			for _, l := range limits {
				if err := report.ParseLimits(l, lim); err != nil {
					return usageErr("--max-regress %v", err)
				}
			}
			if floor < 0 {
				return usageErr("--latency-floor %v is negative", floor)
			}
			if !(alpha > 0 && alpha < 1) {
				return usageErr("--alpha %v: want a significance level between 0 and 1, such as 0.01", alpha)
			}
			if len(args) == 2 {
				baseList, newList = args[:1], args[1:]
			}
			bases, bnames, err := loadRuns(e, "BASE", "--base", baseList)
			if err != nil {
				return err
			}
			news, nnames, err := loadRuns(e, "NEW", "--new", newList)
			if err != nil {
				return err
			}
			c, err := report.CompareRuns(bases, news, report.CompareOptions{Limits: lim, LatencyFloor: floor, MinSamples: minSamples, Alpha: alpha, Force: force})
			if errors.Is(err, report.ErrScenarioMismatch) {
				return usageErr("%v (--force compares them anyway)", err)
			} else if err != nil {
				return usageErr("%v", err)
			}
			for i := range c.Base {
				c.Base[i].Name = bnames[i]
			}
			for i := range c.New {
				c.New[i].Name = nnames[i]
			}
			if err := writeRendered(e, out, func(w io.Writer) error { return write(c, w) }); err != nil {
				return err
			}
			switch c.Outcome {
			case report.OutcomeRegressed:
				return &exitError{code: exitThreshold, err: fmt.Errorf("regression: %d of %d gated rows", c.Regressions, c.Gated)}
			case report.OutcomeInconclusive:
				return &exitError{code: exitInconclusive, err: fmt.Errorf("inconclusive: %d of %d gated rows could not be judged", c.Inconclusive, c.Gated)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&baseList, "base", nil, "baseline reports: files or globs, comma-separated or repeated")
	fl.StringSliceVar(&newList, "new", nil, "new reports: files or globs, comma-separated or repeated")
	fl.StringArrayVar(&limits, "max-regress", nil,
		"limits KEY=N%|AMOUNT|off, comma-separated or repeated, over the default p99=10%, e.g. p99=10%,p50=20%,lost=0,delivery.p99=5ms")
	fl.Float64Var(&alpha, "alpha", report.DefaultAlpha, "significance level: a latency change counts when the Mann-Whitney p-value is below it")
	fl.DurationVar(&floor, "latency-floor", defaultLatencyFloor, "a latency regresses only when its new value is at least this")
	fl.Uint64Var(&minSamples, "min-samples", 100, "limits for all operations (p99=10%) judge an operation only when every run has this many of it; per-operation limits (join.p99=...) always judge")
	fl.StringVar(&format, "format", "table", "output format: table, markdown (for CI comments) or json")
	completeValues(cmd, "format", "table", "markdown", "json")
	fl.BoolVar(&force, "force", false, "compare runs of different scenarios")
	fl.StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}

// loadRuns reads one side's reports: files, "-" or globs (a glob matching nothing is an
// error, as is a file named twice).
func loadRuns(e *env, side, flag string, items []string) ([]*report.Report, []string, error) {
	var names []string
	seen := map[string]bool{}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		paths := []string{it}
		if strings.ContainsAny(it, "*?[") {
			m, err := filepath.Glob(it)
			if err != nil {
				return nil, nil, usageErr("%s %q: %v", flag, it, err)
			}
			if len(m) == 0 {
				return nil, nil, usageErr("%s %q: no file matches", flag, it)
			}
			paths = m
		}
		for _, p := range paths {
			if seen[p] && p != "-" {
				return nil, nil, usageErr("%s: %s is named twice", flag, p)
			}
			seen[p] = true
			names = append(names, p)
		}
	}
	if len(names) == 0 {
		return nil, nil, usageErr("%s: no reports given", flag)
	}
	rs := make([]*report.Report, len(names))
	for i, p := range names {
		r, err := loadReportFile(e, p)
		if err != nil {
			return nil, nil, usageErr("%s %s: %v", side, p, err)
		}
		rs[i] = r
	}
	return rs, names, nil
}

func compareWriter(format string) (func(*report.Comparison, io.Writer) error, error) {
	switch strings.ToLower(format) {
	case "table":
		return (*report.Comparison).WriteTable, nil
	case "markdown", "md":
		return (*report.Comparison).WriteMarkdown, nil
	case "json":
		return (*report.Comparison).WriteJSON, nil
	}
	return nil, usageErr("--format %q: want table, markdown or json", format)
}
