package report

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteTablesGolden(t *testing.T) {
	cases := []struct {
		name   string
		report *Report
		file   string
	}{
		// A steady run with failures of every kind of text.
		{"steady", sampleReport(), "tables_steady.txt"},
		// A closed-model run with no messages and no failures: those tables are left out.
		{"quiet", &Report{
			SchemaVersion: SchemaVersion,
			Load:          Load{Model: "closed", AchievedRate: 52.25},
			Operations: map[string]Operation{
				"cycle":    {Count: 3, LatencyUS: Latency{P50: 184000, P90: 190123, P99: 999600, P999: 999600, Max: 1234567}},
				"register": {Count: 6, LatencyUS: Latency{P50: 451, P90: 999.6, P99: 9996, P999: 12345, Max: 45678}},
				"teleport": {Count: 1, Errors: 1}, // from a newer writer: listed after the known ones
			},
			Generator: Generator{CPUSeconds: 0.5, MaxRSSBytes: 20 << 20, ScheduleLagP99US: 0.5,
				Overflow: 2, Note: "GOMAXPROCS=2"},
		}, "tables_quiet.txt"},
		// Nothing ran at all.
		{"empty", &Report{SchemaVersion: SchemaVersion}, "tables_empty.txt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.report.WriteTables(&b); err != nil {
				t.Fatal(err)
			}
			for i, r := range b.String() {
				if r != '\n' && (r < 0x20 || r > 0x7e) {
					t.Fatalf("output byte %d is %q; want printable ASCII only", i, r)
				}
			}
			golden(t, c.file, b.Bytes())
		})
	}
}

// Rendering only reads the report: any number of goroutines may render one.
func TestWriteConcurrent(t *testing.T) {
	r := sampleReport()
	var want bytes.Buffer
	if err := r.WriteTables(&want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var b bytes.Buffer
			if err := r.WriteTables(&b); err != nil || b.String() != want.String() {
				t.Errorf("concurrent WriteTables = %v, %d bytes; want the same output", err, b.Len())
			}
			if err := r.WriteJSON(io.Discard); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTablesError(t *testing.T) {
	if err := sampleReport().WriteTables(failWriter{}); err == nil || err.Error() != "disk full" {
		t.Errorf("WriteTables to a failing writer = %v; want disk full", err)
	}
}

func TestFormatMS(t *testing.T) {
	cases := []struct {
		us   float64
		want string
	}{
		{12345, "12.3"},      // two integer digits: one decimal
		{451, "0.451"},       // below 1 ms: three significant digits
		{1234000, "1234"},    // from 1 s up: whole milliseconds
		{1500, "1.50"},       // trailing zeros kept: columns line up
		{9996, "10.0"},       // rounding carries into the next decade
		{99960, "100"},       // ... and again
		{999600, "1000"},     // ... up to whole milliseconds
		{0.511, "0.000511"},  // sub-microsecond values keep 3 digits
		{0, "0"},             // no value
		{-5, "0"},            // never negative
		{60000000, "60000"},  // the top of the histogram range
		{100000, "100"},      // exactly three digits
		{999.4, "0.999"},     // just below 1 ms
		{1e3 * 999.4, "999"}, // just below 1 s
		{123.4567e3, "123"},  // three integer digits: no decimals
		{float64(time.Microsecond) / 1e3 * 7, "0.00700"}, // 7 us
	}
	for _, c := range cases {
		if got := formatMS(c.us); got != c.want {
			t.Errorf("formatMS(%v) = %q; want %q", c.us, got, c.want)
		}
	}
}

func TestDeliveredPercent(t *testing.T) {
	cases := []struct {
		m    Messages
		want string
	}{
		{Messages{ExpectedDeliveries: 2000, Delivered: 1996}, "99.80%"},
		{Messages{ExpectedDeliveries: 100000, Delivered: 99999}, "99.99%"},     // rounded down, never up
		{Messages{ExpectedDeliveries: 10000000, Delivered: 9999999}, "99.99%"}, // one loss is never 100.00%
		{Messages{ExpectedDeliveries: 3, Delivered: 3}, "100.00%"},
		{Messages{ExpectedDeliveries: 3}, "0.00%"},
		{Messages{Delivered: 3}, "-"}, // nothing expected (message scenario): no share
	}
	for _, c := range cases {
		if got := deliveredPercent(c.m); got != c.want {
			t.Errorf("deliveredPercent(%d of %d) = %q; want %q", c.m.Delivered, c.m.ExpectedDeliveries, got, c.want)
		}
	}
}

func TestCell(t *testing.T) {
	long := strings.Repeat("x", 150)
	cases := []struct {
		in, want string
	}{
		{"plain text", "plain text"},
		{"line\nbreak\ttab\r", "line break tab "},                          // whitespace becomes spaces
		{"a:\n\tb  c", "a: b  c"},                                          // a run of line breaks and tabs: one space
		{"\x1b[31mred\x1b[0m", "?[31mred?[0m"},                             // no terminal escapes
		{"Überprüfung", "?berpr?fung"},                                     // ASCII only
		{"bad \xff byte", "bad ? byte"},                                    // invalid UTF-8
		{strings.Repeat("y", maxCellLen), strings.Repeat("y", maxCellLen)}, // at the limit: whole
		{long, strings.Repeat("x", maxCellLen-3) + "..."},                  // beyond: cut
	}
	for _, c := range cases {
		if got := cell(c.in); got != c.want {
			t.Errorf("cell(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestSortedCodes(t *testing.T) {
	got := sortedCodes(map[string]uint64{NoCode: 1, "486": 1, "403": 2, "50": 1, "x": 1})
	want := []string{"50", "403", "486", NoCode, "x"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sortedCodes = %v; want %v", got, want)
	}
}
