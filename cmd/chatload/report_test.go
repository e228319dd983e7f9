package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

// sampleJSON is the report package's golden JSON report (a steady run without intervals)
// and sampleTables its golden summary tables.
const (
	sampleJSON   = "../../report/testdata/report.json"
	sampleTables = "../../report/testdata/tables_steady.txt"
)

func TestReportFormats(t *testing.T) {
	input, err := os.ReadFile(sampleJSON)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := os.ReadFile(sampleTables)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		// The default is what chatload run prints.
		{"default", nil, func(t *testing.T, out string) {
			if out != string(tables) {
				t.Errorf("got:\n%s\nwant %s:\n%s", out, sampleTables, tables)
			}
		}},
		{"table", []string{"--format", "table"}, func(t *testing.T, out string) {
			if out != string(tables) {
				t.Errorf("got:\n%s\nwant %s:\n%s", out, sampleTables, tables)
			}
		}},
		{"markdown", []string{"--format", "markdown"}, func(t *testing.T, out string) {
			for _, w := range []string{"## chatload report: steady 20250102T030405Z-7f3a\n", "| OP | COUNT |", "| delivery | 2000 | 0 |"} {
				if !strings.Contains(out, w) {
					t.Errorf("markdown lacks %q:\n%s", w, out)
				}
			}
		}},
		// JSON in, JSON out: the same bytes.
		{"json", []string{"--format", "json"}, func(t *testing.T, out string) {
			if out != string(input) {
				t.Errorf("json output differs from the input:\n%s", out)
			}
		}},
		{"junit", []string{"--format", "junit"}, func(t *testing.T, out string) {
			var doc struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
			}
			if err := xml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("not XML: %v\n%s", err, out)
			}
			// "run completed" passes, "no lost messages" fails (3 lost).
			if doc.Tests != 2 || doc.Failures != 1 {
				t.Errorf("tests %d, failures %d; want 2 and 1\n%s", doc.Tests, doc.Failures, out)
			}
		}},
		{"html", []string{"--format", "html"}, func(t *testing.T, out string) {
			for _, w := range []string{"<title>chatload report: steady 20250102T030405Z-7f3a</title>", `id="chart-latency"`,
				`id="chart-throughput"`, `id="chart-spectrum"`, "no intervals recorded"} {
				if !strings.Contains(out, w) {
					t.Errorf("html lacks %q", w)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errb := runCLI(t, nil, append([]string{"report", sampleJSON}, c.args...)...)
			if code != 0 || errb != "" {
				t.Fatalf("exit %d; want 0\nstderr:\n%s", code, errb)
			}
			c.check(t, out)
		})
	}
}

func TestReportOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.html")
	code, out, errb := runCLI(t, nil, "report", sampleJSON, "--format", "html", "--out", path)
	if code != 0 || out != "" || !strings.Contains(errb, "report written to "+path) {
		t.Fatalf("exit %d, stdout %d bytes, stderr %q; want 0, nothing on stdout and where it was written", code, len(out), errb)
	}
	data, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) {
		t.Errorf("--out file: %v, %.40q; want the HTML page", err, data)
	}
}

func TestReportStdin(t *testing.T) {
	input, err := os.ReadFile(sampleJSON)
	if err != nil {
		t.Fatal(err)
	}
	e, out, errb := testEnv(nil)
	e.stdin = bytes.NewReader(input)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := run(ctx, []string{"report", "-", "--format", "markdown"}, e); code != 0 || !strings.HasPrefix(out.String(), "## chatload report: steady") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and markdown", code, out.String(), errb.String())
	}
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notJSON := write("notjson.json", "Operations: none\n")
	empty := write("empty.json", "\n")
	v2 := write("v2.json", `{"schema_version": 2}`)
	other := write("other.json", `{"name": "not a report"}`)
	truncated := write("truncated.json", `{"schema_version": 1, "run_id": "x", "operations": {`)
	badCheckpoint := write("bad.checkpoint", `{"type":"header","report":{"schema_version":1,"run_id":"x"}}`+"\n{oops\n"+
		`{"type":"interval","interval":{}}`+"\n")
	missing := filepath.Join(dir, "missing.json")

	cases := []struct {
		name string
		args []string
		code int
		want []string // in stderr
	}{
		{"no file", []string{"report"}, 2, []string{"accepts 1 arg"}},
		{"bad format", []string{"report", sampleJSON, "--format", "pdf"}, 2, []string{`--format "pdf"`, "table, markdown, json, junit, html"}},
		{"missing", []string{"report", missing}, 2, []string{missing, "no such file"}},
		{"directory", []string{"report", dir}, 2, []string{dir, "is a directory"}},
		{"not json", []string{"report", notJSON}, 2, []string{notJSON, "reading report"}},
		{"empty", []string{"report", empty}, 2, []string{empty, "empty file"}},
		{"newer schema", []string{"report", v2}, 2, []string{v2, "schema_version 2 is not supported"}},
		{"not a report", []string{"report", other}, 2, []string{other, "not a chatload report"}},
		{"truncated", []string{"report", truncated}, 2, []string{truncated, "unexpected end of JSON input"}},
		{"bad checkpoint", []string{"report", badCheckpoint}, 2, []string{badCheckpoint, "reading checkpoint: line 2"}},
		// An --out that cannot be written (a missing directory) is bad input, found
		// before rendering, as for run and merge.
		{"unwritable out", []string{"report", sampleJSON, "--out", filepath.Join(dir, "no", "such", "dir", "r.md")}, 2, []string{"--out"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errb := runCLI(t, nil, c.args...)
			if code != c.code {
				t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out, errb)
			}
			for _, w := range c.want {
				if !strings.Contains(errb, w) {
					t.Errorf("stderr %q lacks %q", errb, w)
				}
			}
		})
	}
}

// A checkpoint of a run killed after two intervals (its last line torn) renders as a
// report of those intervals: end reason crashed, the intervals' counts summed.
func TestReportCheckpoint(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	var b bytes.Buffer
	cw, err := report.NewCheckpointWriter(&b, &report.Report{
		SchemaVersion: report.SchemaVersion, RunID: "20250102T030400Z-dead", StartedAt: start,
		Scenario: []byte(`{"scenario":"steady"}`), Load: report.Load{Model: "open"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		rec := report.NewRecorder()
		for k := range 10 * (i + 1) {
			rec.Record(report.OpSend, time.Duration(k+1)*time.Millisecond, 0, nil)
		}
		if err := cw.Interval(report.Interval{
			Start: start.Add(time.Duration(i) * 10 * time.Second), End: start.Add(time.Duration(i+1) * 10 * time.Second),
			Phase: "steady", Operations: rec.Operations(), Messages: report.Messages{Sent: 10 * uint64(i+1)},
			Load: report.IntervalLoad{TargetRate: 1, AchievedRate: float64(i + 1)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString(`{"type":"interval","interval":{"start":"2025-01-02T03:04:20Z","oper`) // killed mid-write
	path := filepath.Join(t.TempDir(), "run.checkpoint")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errb := runCLI(t, nil, "report", path, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	rep, err := report.ReadReport(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if rep.EndReason != "crashed" || rep.Operations["send"].Count != 30 || rep.Messages.Sent != 30 || len(rep.Intervals) != 2 {
		t.Errorf("end %q, sends %d, sent %d, %d intervals; want crashed, 30, 30, 2",
			rep.EndReason, rep.Operations["send"].Count, rep.Messages.Sent, len(rep.Intervals))
	}
	code, out, errb = runCLI(t, nil, "report", path, "--format", "html")
	if code != 0 || !strings.Contains(out, `<path class="series" data-series="send p99"`) {
		t.Errorf("--format html: exit %d, %s; want the send latency over time drawn", code, errb)
	}
}

// A report from chatload run renders in every format (the end-to-end path).
func TestReportOfRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.json")
	code, out, errb := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--rate", "50/s",
		"--duration", "1s", "--quiet", "--out", path,
		"--allow-failures") // this renders the report; a generator lagging on a busy machine (exit 5) is no part of it
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errb)
	}
	rep := readReportFile(t, path)
	for _, f := range reportFormatNames() {
		code, out, errb := runCLI(t, nil, "report", path, "--format", f)
		if code != 0 || out == "" {
			t.Errorf("--format %s: exit %d, %d bytes\n%s", f, code, len(out), errb)
		}
		if f == "html" && !strings.Contains(out, "<title>chatload report: steady "+rep.RunID+"</title>") {
			t.Errorf("--format html: no title naming the run %s", rep.RunID)
		}
	}
}
