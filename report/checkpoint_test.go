package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var cpStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// cpIntervals returns n 10s intervals of a steady run measured by real recorders,
// with their totals as one recorder saw them all.
func cpIntervals(n int) ([]Interval, *Recorder, Messages) {
	total := NewRecorder()
	var msgs Messages
	var ivs []Interval
	for k := range n {
		r := NewRecorder()
		for i := 1; i <= 100*(k+1); i++ {
			d := time.Duration(i*(k+1)) * 37 * time.Microsecond
			r.Record(OpSend, d+time.Millisecond, d, nil)
			r.Record(OpDelivery, 2*d+3*time.Millisecond, 0, nil)
		}
		r.Record(OpSend, 0, 0, Errorf(Rejected, "send", 403, "403 Forbidden"))
		r.Fail(Lost, 0, uint64(k), "lost copy")
		if k == 0 {
			r.Record(OpRegister, 3*time.Millisecond, 0, nil)
		}
		m := Messages{Sent: uint64(100*(k+1) + 1), Accepted: uint64(100 * (k + 1)), ExpectedDeliveries: uint64(100*(k+1) + k),
			Delivered: uint64(100 * (k + 1)), Lost: uint64(k)}
		msgs.Sent += m.Sent
		msgs.Accepted += m.Accepted
		msgs.ExpectedDeliveries += m.ExpectedDeliveries
		msgs.Delivered += m.Delivered
		msgs.Lost += m.Lost
		start := cpStart.Add(time.Duration(k) * 10 * time.Second)
		ivs = append(ivs, Interval{
			Start: start, End: start.Add(10 * time.Second), Phase: "steady",
			Operations: r.Operations(), Failures: r.Failures(), Messages: m,
			Load:      IntervalLoad{TargetRate: 10 * float64(k+1), AchievedRate: 10 * float64(k+1), Dropped: uint64(k), InFlight: 3},
			Generator: Generator{CPUSeconds: 0.5, MaxRSSBytes: uint64(40+k) << 20, ScheduleLagP99US: float64(100 * k), Workers: 5 + k},
		})
		total.Merge(r)
	}
	return ivs, total, msgs
}

func cpHeader() *Report {
	return &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "chatload", Version: "test"},
		RunID:         "run-1",
		Scenario:      json.RawMessage(`{"scenario":"steady","rate":"100/s"}`),
		Target:        Target{Address: "127.0.0.1:5060", Protocol: "imc", Transport: "udp"},
		StartedAt:     cpStart,
		Load:          Load{Model: "open"},
		Operations:    map[string]Operation{"send": {Count: 1}}, // not written in the header
	}
}

// countingSyncer is a bytes.Buffer that counts Syncs and the Writes between them.
type countingSyncer struct {
	bytes.Buffer
	writes, syncs int
	unsynced      int // writes since the last sync
}

func (b *countingSyncer) Write(p []byte) (int, error) {
	b.writes++
	b.unsynced++
	return b.Buffer.Write(p)
}

func (b *countingSyncer) Sync() error {
	b.syncs++
	b.unsynced = 0
	return nil
}

func writeCheckpoint(t *testing.T, ivs []Interval, end *Report) *countingSyncer {
	t.Helper()
	var b countingSyncer
	cw, err := NewCheckpointWriter(&b, cpHeader())
	if err != nil {
		t.Fatal(err)
	}
	for _, iv := range ivs {
		if err := cw.Interval(iv); err != nil {
			t.Fatal(err)
		}
		if b.unsynced != 0 {
			t.Fatalf("interval line not synced")
		}
	}
	if end != nil {
		if err := cw.End(end); err != nil {
			t.Fatal(err)
		}
		if err := cw.Interval(ivs[0]); err == nil {
			t.Errorf("Interval after End: no error")
		}
	}
	return &b
}

func TestCheckpointLines(t *testing.T) {
	ivs, _, _ := cpIntervals(3)
	b := writeCheckpoint(t, ivs, &Report{SchemaVersion: SchemaVersion, RunID: "run-1", EndReason: "completed", Intervals: ivs})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 5 || b.writes != 5 || b.syncs != 5 {
		t.Fatalf("%d lines in %d writes, %d syncs; want 5 each (header, 3 intervals, end)", len(lines), b.writes, b.syncs)
	}
	for i, want := range []string{`{"type":"header","report":{`, `{"type":"interval","interval":{`, `{"type":"interval"`, `{"type":"interval"`, `{"type":"end","report":{`} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %.60s...; want it to start with %s", i+1, lines[i], want)
		}
	}
	var h struct{ Report map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil {
		t.Fatal(err)
	}
	if string(h.Report["operations"]) != "{}" || string(h.Report["run_id"]) != `"run-1"` {
		t.Errorf("header operations %s, run_id %s; want {} and run-1", h.Report["operations"], h.Report["run_id"])
	}
	var e struct{ Report map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(lines[4]), &e); err != nil {
		t.Fatal(err)
	}
	if string(e.Report["intervals"]) != "null" {
		t.Errorf("end line repeats the intervals: %.80s", e.Report["intervals"])
	}
}

func TestReadCheckpointEnded(t *testing.T) {
	ivs, _, _ := cpIntervals(3)
	final := &Report{SchemaVersion: SchemaVersion, RunID: "run-1", EndReason: "completed", Messages: Messages{Sent: 42}, Intervals: ivs}
	b := writeCheckpoint(t, ivs, final)
	got, err := ReadCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.EndReason != "completed" || got.Messages.Sent != 42 || len(got.Intervals) != 3 {
		t.Errorf("got %s, sent %d, %d intervals; want the final report with its 3 intervals", got.EndReason, got.Messages.Sent, len(got.Intervals))
	}
	if !reflect.DeepEqual(got.Intervals[1].Operations, ivs[1].Operations) {
		t.Errorf("interval 1 operations differ after the round trip")
	}
}

// TestReadCheckpointCrashed: without an end line, the report is the header plus
// the complete intervals, merged; a torn last line is ignored.
func TestReadCheckpointCrashed(t *testing.T) {
	ivs, total, msgs := cpIntervals(4)
	b := writeCheckpoint(t, ivs, nil)
	full := b.String()
	// A torn fifth interval: the process died inside its Write.
	var extra bytes.Buffer
	cw := &CheckpointWriter{w: &extra}
	if err := cw.Interval(ivs[0]); err != nil {
		t.Fatal(err)
	}
	for _, torn := range []string{"", extra.String()[:extra.Len()/2], extra.String()[:extra.Len()-1]} {
		got, err := ReadCheckpoint(strings.NewReader(full + torn))
		if err != nil {
			t.Fatalf("torn %d bytes: %v", len(torn), err)
		}
		if got.EndReason != EndCrashed || len(got.Intervals) != 4 {
			t.Fatalf("torn %d bytes: end %q, %d intervals; want crashed, 4", len(torn), got.EndReason, len(got.Intervals))
		}
		if got.Messages != msgs {
			t.Errorf("messages %+v; want the sum %+v", got.Messages, msgs)
		}
		want := total.Operations()
		for name, o := range want {
			g := got.Operations[name]
			if g.Count != o.Count || g.Errors != o.Errors || g.Histogram != o.Histogram || g.LatencyUS != o.LatencyUS {
				t.Errorf("%s: %d/%d %+v; want %d/%d %+v (one recorder's)", name, g.Count, g.Errors, g.LatencyUS, o.Count, o.Errors, o.LatencyUS)
			}
		}
		if len(got.Operations) != len(want) {
			t.Errorf("%d operations; want %d", len(got.Operations), len(want))
		}
		wf := total.Failures()
		if len(got.Failures) != len(wf) {
			t.Fatalf("failures %+v; want %+v", got.Failures, wf)
		}
		for i := range wf {
			if got.Failures[i].Class != wf[i].Class || got.Failures[i].Count != wf[i].Count || !reflect.DeepEqual(got.Failures[i].Codes, wf[i].Codes) {
				t.Errorf("failure %d: %+v; want %+v", i, got.Failures[i], wf[i])
			}
		}
		if !got.StartedAt.Equal(cpStart) || !got.EndedAt.Equal(cpStart.Add(40*time.Second)) || got.RunID != "run-1" {
			t.Errorf("run %s %v..%v; want run-1 over the 4 intervals", got.RunID, got.StartedAt, got.EndedAt)
		}
		// 10, 20, 30, 40/s over equal intervals: 25/s; drops 0+1+2+3.
		if got.Load.AchievedRate != 25 || got.Load.TargetRate != 25 || got.Load.Dropped != 6 || got.Load.Model != "open" {
			t.Errorf("load %+v; want 25/s target and achieved, 6 dropped", got.Load)
		}
		g := got.Generator
		if g.CPUSeconds != 2 || g.MaxRSSBytes != 43<<20 || g.ScheduleLagP99US != 300 || g.Workers != 8 || !strings.Contains(g.Note, "4 intervals") {
			t.Errorf("generator %+v; want cpu 2, rss 43 MiB, lag 300, workers 8, a note", g)
		}
	}
}

func TestReadCheckpointErrors(t *testing.T) {
	ivs, _, _ := cpIntervals(2)
	good := writeCheckpoint(t, ivs, nil).String()
	lines := strings.SplitAfter(good, "\n")
	cases := []struct {
		name, in, err string
	}{
		{"empty", "", "no header"},
		{"torn header", lines[0][:20], "no header"},
		{"not a checkpoint", `{"schema_version":1}` + "\n", "not a header"},
		{"bad line in the middle", lines[0] + "{oops\n" + lines[1], "line 2"},
		{"two headers", lines[0] + lines[0], `unexpected "header"`},
		{"newer schema", strings.Replace(lines[0], `"schema_version":1`, `"schema_version":2`, 1), "schema_version 2"},
	}
	for _, tc := range cases {
		_, err := ReadCheckpoint(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.err)
		}
	}
	// A bad last line (garbage after a crash) is a torn line.
	if r, err := ReadCheckpoint(strings.NewReader(good + "\x00\x00\x00\n")); err != nil || len(r.Intervals) != 2 {
		t.Errorf("garbage last line: %v; want it ignored", err)
	}
}

// TestCheckpointFile writes to a real file (fsynced) and reads it back.
func TestCheckpointFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.ckpt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cw, err := NewCheckpointWriter(f, cpHeader())
	if err != nil {
		t.Fatal(err)
	}
	ivs, _, _ := cpIntervals(2)
	for _, iv := range ivs {
		if err := cw.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := cw.Interval(ivs[0]); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write to a closed file: %v; want os.ErrClosed", err)
	}
	if err := cw.End(&Report{}); err == nil {
		t.Errorf("End after a write error: no error")
	}
	rf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	r, err := ReadCheckpoint(rf)
	if err != nil || len(r.Intervals) != 2 || r.EndReason != EndCrashed {
		t.Fatalf("read back: %v, %+v", err, r)
	}
}
