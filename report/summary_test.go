package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleReport is a steady run with a fixed clock and run id, measured by real
// recorders so that the golden files hold real histograms.
func sampleReport() *Report {
	w1, w2 := NewRecorder(), NewRecorder()
	for i := 1; i <= 1000; i++ {
		w := w1
		if i%2 == 0 {
			w = w2
		}
		d := time.Duration(i) * 50 * time.Microsecond // 0.05..50 ms
		w.Record(OpSend, d+2*time.Millisecond, d, nil)
		w.Record(OpDelivery, 2*d+3*time.Millisecond, 0, nil)
		w.Record(OpDelivery, 2*d+4*time.Millisecond, 0, nil)
		w.Lag(time.Duration(i%100) * time.Microsecond)
	}
	for i := range 20 {
		w1.Record(OpRegister, time.Duration(i+1)*time.Millisecond, 0, nil)
		w1.Record(OpJoin, time.Duration(i+1)*500*time.Microsecond, 0, nil)
		w2.Record(OpLeave, 450*time.Microsecond, 0, nil)
		w2.Record(OpUnregister, 1234*time.Millisecond, 0, nil)
	}
	w1.Record(OpSend, 0, 0, Errorf(Rejected, "send", 403, "403 Not A Member Of This Room from 127.0.0.1:5090/udp"))
	w2.Record(OpSend, 0, 0, Errorf(Rejected, "send", 403, "403 Not A Member Of This Room from 127.0.0.1:5090/udp"))
	w2.Record(OpSend, 0, 0, Errorf(Timeout, "send", 0, "no final response within 10s to MESSAGE sip:room001@conf.example.test"))
	w1.Record(OpJoin, 0, 0, Errorf(Rejected, "join", 486, "486 Busy Here"))
	w1.Fail(Lost, 0, 3, "stream sip:user0001@example.test -> sip:room001@conf.example.test seq 17: not delivered to sip:user0002@example.test within 10s")
	w2.Fail(Corrupted, 0, 1, "payload check failed:\n\tbody \"\x1b[31mred\x1b[0m\" from <sip:user0003@example.test> (Überprüfung)")
	w1.Merge(w2)

	return &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "chatload", Version: "v0.3.0-test"},
		RunID:         "20250102T030405Z-7f3a",
		Scenario:      json.RawMessage(`{"scenario":"steady","protocol":"imc","transport":"udp","rate":"200/s","duration":"5s","pairs":10}`),
		Target:        Target{Address: "127.0.0.1:40000", Protocol: "imc", Transport: "udp", Embedded: true},
		StartedAt:     time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		EndedAt:       time.Date(2025, 1, 2, 3, 4, 10, 250_000_000, time.UTC),
		EndReason:     "completed",
		Load:          Load{Model: "open", TargetRate: 200, AchievedRate: 199.6, Dropped: 0},
		Operations:    w1.Operations(),
		Messages: Messages{Sent: 1003, Accepted: 1000, ExpectedDeliveries: 2000, Delivered: 1996,
			Lost: 3, Duplicated: 0, OutOfOrder: 0, Corrupted: 1},
		Failures: w1.Failures(),
		Generator: Generator{CPUSeconds: 1.734, MaxRSSBytes: 48 << 20, Goroutines: 57, Workers: 16,
			ScheduleLagP99US: float64(w1.LagAtPercentile(99)) / 1e3, Overflow: w1.Overflow()},
	}
}

func TestReportJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", b.Bytes())

	// What is read back writes the same bytes: nothing is lost or renamed.
	r, err := ReadReport(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := r.WriteJSON(&again); err != nil {
		t.Fatal(err)
	}
	if got, want := again.String(), b.String(); got != want {
		t.Errorf("WriteJSON(ReadReport(x)) differs from x:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var b bytes.Buffer
	r := &Report{SchemaVersion: SchemaVersion, Failures: []Failure{{Class: Lost, Count: 1}}}
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	// Lists and maps are never null, so scripts can iterate without checks.
	for _, k := range []string{"operations", "failures", "intervals"} {
		if m[k] == nil {
			t.Errorf("%s = null; want an empty list or map", k)
		}
	}
	f := m["failures"].([]any)[0].(map[string]any)
	if f["codes"] == nil || f["examples"] == nil {
		t.Errorf("failure = %v; want codes {} and examples []", f)
	}
	if r.Operations != nil || r.Failures[0].Codes != nil {
		t.Error("WriteJSON modified the report")
	}
}

func TestReadReport(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr string // "" for success
	}{
		// The version this package writes.
		{"v1", `{"schema_version":1,"run_id":"x"}`, ""},
		// Unknown fields (a newer writer) are tolerated, at any depth.
		{"unknown fields", `{"schema_version":1,"run_id":"x","shiny":true,"load":{"model":"open","burst":3}}`, ""},
		// Another version is refused with a message naming it.
		{"v2", `{"schema_version":2,"run_id":"x","operations":"changed type"}`, "schema_version 2 is not supported"},
		// Version 0 is not version 1.
		{"v0", `{"schema_version":0}`, "schema_version 0 is not supported"},
		// No version: not a report.
		{"missing", `{"run_id":"x"}`, "no schema_version"},
		// Broken JSON.
		{"syntax", `{"schema_version":1,`, "reading report"},
		// A wrong type in a known field.
		{"bad type", `{"schema_version":1,"run_id":7}`, "reading report"},
		// An unknown failure class is an error: the set is closed.
		{"bad class", `{"schema_version":1,"failures":[{"class":"gremlins","count":1}]}`, "unknown failure class"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ReadReport(strings.NewReader(c.in))
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("ReadReport: %v; want no error", err)
			case c.wantErr == "":
				if r.RunID != "x" || r.SchemaVersion != 1 {
					t.Errorf("ReadReport = %+v; want run_id x, schema_version 1", r)
				}
			case err == nil || !strings.Contains(err.Error(), c.wantErr):
				t.Errorf("ReadReport error = %v; want one containing %q", err, c.wantErr)
			}
		})
	}
}

// A report read back still merges losslessly: its histograms decode to the
// recorder's distribution.
func TestReportHistogramsDecode(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	r, err := ReadReport(&b)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range r.Operations {
		h, err := DecodeHistogram(o.Histogram)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := Latency{
			Min: float64(h.Min()) / 1e3, P50: float64(h.ValueAtPercentile(50)) / 1e3,
			P90: float64(h.ValueAtPercentile(90)) / 1e3, P95: float64(h.ValueAtPercentile(95)) / 1e3, P99: float64(h.ValueAtPercentile(99)) / 1e3,
			P999: float64(h.ValueAtPercentile(99.9)) / 1e3, Max: float64(h.Max()) / 1e3,
		}
		want := o.LatencyUS
		want.Mean = 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decoded histogram gives %+v; want %+v", name, got, want)
		}
		if n := uint64(h.TotalCount()); n != o.Count-o.Errors {
			t.Errorf("%s: decoded histogram holds %d values; want %d (count - errors)", name, n, o.Count-o.Errors)
		}
	}
}
