package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/report"
)

func newMergeCmd(e *env) *cobra.Command {
	var (
		out          string
		thresholds   []string
		quiet        bool
		allowPartial bool
	)
	cmd := &cobra.Command{
		Use:   "merge REPORT.json... [--out merged.json]",
		Short: "Merge the reports of a distributed run's segments into the whole run's report",
		Long: `Merge the JSON reports (or checkpoints) of the segments of one distributed run
(chatload run --segment i/n on n machines) into the report of the whole run,
losslessly: latency histograms merged (percentiles as if one process had measured
everything), counts summed, load rates summed, intervals aligned by their start
time, generator health combined (CPU summed, RSS and schedule lag the worst).

The reports must be of one scenario: the same settings except --segment, each
segment once, and every segment of the run (0/N .. N-1/N) unless --allow-partial
(then the merged report covers only the segments given, and says so on stderr).
The merged report's thresholds are judged again on the whole run: the
scenario's thresholds (each segment's judged only its slice) and --threshold.

Prints the summary tables; --out writes the merged JSON report.

Exit status: 0 merged (thresholds passed), 1 the report could not be written, 2 usage
error, an unreadable report, reports of different scenarios, the same segment or
report twice, or a segment missing; 3 a threshold failed on the whole run.`,
		Example: `  chatload merge seg-0.json seg-1.json seg-2.json seg-3.json --out run.json
  chatload merge results/*.json --out run.json --threshold "delivery.p99 < 250ms"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("merge takes one or more reports (see 'chatload merge --help')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputPath("--out", out); err != nil {
				return err
			}
			reports := make([]*report.Report, 0, len(args))
			for _, path := range args {
				r, err := loadReportFile(e, path)
				if err != nil {
					return usageErr("%s: %v", path, err)
				}
				reports = append(reports, r)
			}
			merged, err := report.Merge(reports...)
			if err != nil {
				return usageErr("%v", err)
			}
			ts, err := mergeThresholds(merged, thresholds)
			if err != nil {
				return err
			}
			if missing, n := missingSegments(reports); len(missing) > 0 {
				if !allowPartial {
					return usageErr("merge: segment %s of %d missing: give every segment's report, or --allow-partial to merge what there is", strings.Join(missing, ", "), n)
				}
				fmt.Fprintf(e.stderr, "WARNING: segment %s of %d missing: the merged report covers %d of %d segments, not the whole run\n",
					strings.Join(missing, ", "), n, n-len(missing), n)
			}
			failed := newRunGate(ts, nil, e.stderr).judge(merged)
			if !quiet {
				tables := e.stdout
				if out == "-" {
					tables = e.stderr
				}
				if err := merged.WriteTables(tables); err != nil {
					return err
				}
			}
			if out == "-" {
				if err := merged.WriteJSON(e.stdout); err != nil {
					return &exitError{code: 1, err: err}
				}
			} else if out != "" {
				if err := writeReport(out, merged); err != nil {
					return &exitError{code: 1, err: err}
				}
				fmt.Fprintf(e.stderr, "merged report of %d written to %s\n", len(reports), out)
			}
			return thresholdsFailed(e.stderr, failed, len(ts))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "write the merged JSON report to this file (- standard output, the tables then on stderr; default: not written)")
	fl.StringArrayVar(&thresholds, "threshold", nil, "judge the whole run against this threshold too (repeatable; grammar as chatload run's)")
	fl.BoolVar(&quiet, "quiet", false, "no tables on standard output")
	fl.BoolVar(&allowPartial, "allow-partial", false, "merge even when segments of the run are missing (the report covers only those given)")
	return cmd
}

// mergeThresholds returns the merged run's thresholds: its scenario's, then flags'.
func mergeThresholds(r *report.Report, flags []string) ([]report.Threshold, error) {
	var sc struct {
		Thresholds []string `json:"thresholds"`
	}
	if len(r.Scenario) > 0 {
		if err := json.Unmarshal(r.Scenario, &sc); err != nil {
			return nil, usageErr("scenario of the reports: thresholds: %v", err)
		}
	}
	var ts []report.Threshold
	for _, s := range sc.Thresholds {
		t, err := report.ParseThreshold(s)
		if err != nil {
			return nil, usageErr("scenario of the reports: %v", err)
		}
		ts = append(ts, t)
	}
	for _, s := range flags {
		t, err := report.ParseThreshold(s)
		if err != nil {
			return nil, usageErr("--threshold: %v", err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// missingSegments returns the segments I/N of the run that no report is of, and N
// (nil, 0 when the reports are not segments). The reports have passed report.Merge:
// one scenario, each segment once.
func missingSegments(reports []*report.Report) ([]string, int) {
	have := map[int]bool{}
	n := 0
	for _, r := range reports {
		var sc struct {
			Segment string `json:"segment"`
		}
		if json.Unmarshal(r.Scenario, &sc) != nil || sc.Segment == "" {
			continue
		}
		var i, count int
		if _, err := fmt.Sscanf(sc.Segment, "%d/%d", &i, &count); err != nil || count <= 0 {
			continue
		}
		if n == 0 || count > n {
			n = count
		}
		have[i] = true
	}
	var missing []string
	for i := range n {
		if !have[i] {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	return missing, n
}
