package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/report"
)

// reportFormat is a --format value of chatload report and its writer.
type reportFormat struct {
	name  string
	write func(*report.Report, io.Writer) error
}

// reportFormats are the --format values of chatload report.
var reportFormats = []reportFormat{
	{"table", (*report.Report).WriteTables},
	{"markdown", (*report.Report).WriteMarkdown},
	{"json", (*report.Report).WriteJSON},
	{"junit", (*report.Report).WriteJUnit},
	{"html", (*report.Report).WriteHTML},
}

func reportFormatNames() []string {
	var names []string
	for _, f := range reportFormats {
		names = append(names, f.name)
	}
	return names
}

func newReportCmd(e *env) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "report FILE",
		Short: "Render a JSON report or a checkpoint as tables, markdown, JSON, JUnit XML or HTML",
		Long: `Render a run's results. FILE is a JSON report (chatload run --out) or a checkpoint
(chatload run --checkpoint: JSON lines, also after a crash: the report then covers
every complete interval); "-" reads standard input.

Formats (--format):
  table     the summary tables chatload run prints (default)
  markdown  the same as GitHub-flavoured markdown, for CI comments and job summaries
  json      the JSON report (turns a checkpoint into a report)
  junit     JUnit XML: one test case per threshold, "run completed" and, without a
            threshold on messages.lost, "no lost messages"
  html      one self-contained page (no script, no network) with latency percentiles
            and throughput over time and the latency percentile spectrum

Exit status: 0 rendered (whatever the run's verdicts), 1 the output could not be
written, 2 usage error or a FILE that is not a readable report.`,
		Example: `  chatload report run.json
  chatload report run.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  chatload report run.json --format junit --out chatload-junit.xml
  chatload report soak.checkpoint --format html --out soak.html`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			i := slices.IndexFunc(reportFormats, func(f reportFormat) bool { return f.name == format })
			if i < 0 {
				return usageErr("--format %q: want one of %s", format, strings.Join(reportFormatNames(), ", "))
			}
			rep, err := loadReportFile(e, args[0])
			if err != nil {
				return usageErr("%s: %v", args[0], err)
			}
			return writeRendered(e, out, func(w io.Writer) error { return reportFormats[i].write(rep, w) })
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: "+strings.Join(reportFormatNames(), ", "))
	completeValues(cmd, "format", reportFormatNames()...)
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}

// loadReportFile reads a JSON report or a checkpoint from path ("-": standard input).
func loadReportFile(e *env, path string) (*report.Report, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file: not a chatload report or checkpoint")
	}
	if isCheckpoint(data) {
		return report.ReadCheckpoint(bytes.NewReader(data))
	}
	return report.ReadReport(bytes.NewReader(data))
}

// isCheckpoint tells a checkpoint (JSON lines, the first {"type":"header",...}) from a
// JSON report (one object, written indented: its first line is "{").
func isCheckpoint(data []byte) bool {
	line, err := bufio.NewReader(bytes.NewReader(data)).ReadBytes('\n')
	if err != nil && err != io.EOF {
		return false
	}
	var head struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(line, &head) == nil && head.Type == "header"
}

// unwrapPathError drops the path from an *os.PathError: the caller names the file.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeRendered writes with render to standard output or, with --out, to a file
// (exit 1 when that fails: the input was fine).
func writeRendered(e *env, out string, render func(io.Writer) error) error {
	if out == "" || out == "-" {
		return render(e.stdout)
	}
	if err := checkOutputPath("--out", out); err != nil {
		return err
	}
	fh, err := os.Create(out)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--out: %w", err)}
	}
	if err := render(fh); err != nil {
		fh.Close()
		return &exitError{code: 1, err: fmt.Errorf("--out %s: %w", out, err)}
	}
	if err := fh.Close(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--out %s: %w", out, err)}
	}
	fmt.Fprintf(e.stderr, "report written to %s\n", out)
	return nil
}
