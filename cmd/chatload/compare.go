package main

import (
	"errors"
	"fmt"
	"io"
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
		format     string
		force      bool
		out        string
	)
	cmd := &cobra.Command{
		Use:   "compare BASE.json NEW.json",
		Short: "Compare a run with a baseline: latency percentiles, losses and rate; exit 3 on a regression",
		Long: `Compare a new run's JSON report with a baseline's (either may be a checkpoint; "-"
reads standard input): for every operation the latency p50, p90, p99, p999 and max,
then the messages lost, duplicated and the loss rate, and the achieved rate, each
with the baseline's value, the new one, the change in percent and a verdict.

A row is gated when a limit applies to it (--max-regress; default p99=10%): it is
REGRESSED when the new value is worse than the baseline's by more than the limit,
improved when better by more than it, else ok; rows without a limit show "-".
Limits: KEY=N% (relative to the baseline), KEY=AMOUNT (absolute: a duration such as
5ms for latencies, a count for lost and duplicated, a fraction for loss_rate, per
second for rate), KEY=off. Keys: p50, p90, p99, p999, max (every operation's),
OP.PCT (one operation's, e.g. delivery.p99; it wins over PCT), lost, duplicated,
loss_rate, rate (a lower achieved rate is worse). A latency regresses only when its
new value is at least --latency-floor (and rows where both values are below it are
ok): at microseconds a 10% change is noise.

Runs of different scenarios are refused: their settings must be the same except
duration, seed, target and thresholds (--force compares anyway).

Exit status: 0 no regression, 1 the output could not be written, 2 usage error,
unreadable report or different scenarios, 3 a regression.`,
		Example: `  chatload compare baseline.json current.json
  chatload compare baseline.json current.json --max-regress p99=10%,p50=20%,lost=0
  chatload compare baseline.json current.json --format markdown >> "$GITHUB_STEP_SUMMARY"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErr("compare takes two reports, BASE and NEW; got %d (see 'chatload compare --help')", len(args))
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
			base, err := loadReportFile(e, args[0])
			if err != nil {
				return usageErr("BASE %s: %v", args[0], err)
			}
			cur, err := loadReportFile(e, args[1])
			if err != nil {
				return usageErr("NEW %s: %v", args[1], err)
			}
			c, err := report.Compare(base, cur, report.CompareOptions{Limits: lim, LatencyFloor: floor, MinSamples: minSamples, Force: force})
			if errors.Is(err, report.ErrScenarioMismatch) {
				return usageErr("%v (--force compares them anyway)", err)
			} else if err != nil {
				return usageErr("%v", err)
			}
			c.Base.Name, c.New.Name = args[0], args[1]
			if err := writeRendered(e, out, func(w io.Writer) error { return write(c, w) }); err != nil {
				return err
			}
			if c.Regressed {
				return &exitError{code: 3, err: fmt.Errorf("regression: %d of %d gated rows", c.Regressions, c.Gated)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&limits, "max-regress", nil,
		"limits KEY=N%|AMOUNT|off, comma-separated or repeated, over the default p99=10%, e.g. p99=10%,p50=20%,lost=0,delivery.p99=5ms")
	fl.DurationVar(&floor, "latency-floor", defaultLatencyFloor, "a latency regresses only when its new value is at least this")
	fl.Uint64Var(&minSamples, "min-samples", 100, "limits for all operations (p99=10%) judge an operation only when both runs have this many of it; per-operation limits (join.p99=...) always judge")
	fl.StringVar(&format, "format", "table", "output format: table, markdown (for CI comments) or json")
	fl.BoolVar(&force, "force", false, "compare runs of different scenarios")
	fl.StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
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
