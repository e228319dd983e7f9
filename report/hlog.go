package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// HlogMaxRatio is the HdrHistogram log's maxValueUnitRatio as HlogWriter uses it:
// histogram values are nanoseconds, and each line's Interval_Max is the maximum
// divided by 1e6, in milliseconds, the convention of HdrHistogram's own writers and
// the default of HistogramLogProcessor's -outputValueUnitRatio. Constant, safe for
// concurrent use.
const HlogMaxRatio = 1e6

// hlogLegend is the column header line of the HdrHistogram interval log format.
const hlogLegend = `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`

// HlogWriter writes a run's latency histograms in the HdrHistogram interval log
// format (version 1.3, ".hlog"), readable by HdrHistogram's log tools (Java's
// HistogramLogProcessor, hdrhistogram-go's HistogramLogReader: both tested):
//
//	#[Histogram log format version 1.3]
//	#[StartTime: 1767225600.000 (seconds since epoch), 2026-01-01T00:00:00Z]
//	#[BaseTime: 1767225600.000 (seconds since epoch)]
//	#[chatload run RUNID: tags are operations; values in ns; Interval_Max in ms]
//	"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//	Tag=send,0.000,10.000,12.583,HISTFAAAA...
//	Tag=delivery,0.000,10.000,25.100,HISTFAAAA...
//
// One line per interval and operation with successful samples, tagged with the
// operation's name (select one with HistogramLogProcessor -tag delivery); timestamps
// and lengths in seconds relative to BaseTime, the run's start; the histogram the
// interval's latency histogram (ns, V2 compressed, base64: the report's "HISTF..."
// string). Each interval's lines are written with one Write and fsynced when the
// writer has Sync (an *os.File), like the checkpoint. An HlogWriter is safe for
// concurrent use.
type HlogWriter struct {
	mu   sync.Mutex
	w    io.Writer
	base time.Time
	buf  bytes.Buffer
	err  error
}

// NewHlogWriter writes the log's header to w for a run started at start (which
// also is the base of every timestamp) and returns the writer of its intervals;
// runID goes into a comment.
func NewHlogWriter(w io.Writer, start time.Time, runID string) (*HlogWriter, error) {
	if start.IsZero() {
		return nil, errors.New("hlog: no start time")
	}
	h := &HlogWriter{w: w, base: start}
	secs := hlogSeconds(start.Sub(time.Unix(0, 0)))
	fmt.Fprintf(&h.buf, "#[Histogram log format version 1.3]\n")
	fmt.Fprintf(&h.buf, "#[StartTime: %s (seconds since epoch), %s]\n", secs, start.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&h.buf, "#[BaseTime: %s (seconds since epoch)]\n", secs)
	fmt.Fprintf(&h.buf, "#[chatload run %s: tags are operations; values in ns; Interval_Max in ms]\n", runID)
	h.buf.WriteString(hlogLegend + "\n")
	if err := h.flush(); err != nil {
		return nil, err
	}
	return h, nil
}

// Interval writes the lines of iv: one per operation with successful samples, in
// the operations' table order.
func (h *HlogWriter) Interval(iv Interval) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	h.buf.Reset()
	start := hlogSeconds(iv.Start.Sub(h.base))
	length := hlogSeconds(iv.End.Sub(iv.Start))
	for op := range NumOps {
		o, ok := iv.Operations[op.String()]
		if !ok || o.Count <= o.Errors || o.Histogram == "" {
			continue // no successful sample: an empty histogram says nothing
		}
		// LatencyUS.Max is the histogram's max in us with the ns kept as decimals.
		maxMS := o.LatencyUS.Max * 1e3 / HlogMaxRatio
		fmt.Fprintf(&h.buf, "Tag=%s,%s,%s,%s,%s\n", op, start, length, strconv.FormatFloat(maxMS, 'f', 3, 64), o.Histogram)
	}
	if h.buf.Len() == 0 {
		return nil
	}
	return h.flush()
}

// flush writes the buffer in one Write and syncs it; callers hold mu (or own h).
func (h *HlogWriter) flush() error {
	if _, err := h.w.Write(h.buf.Bytes()); err != nil {
		h.err = fmt.Errorf("hlog: %w", err)
		return h.err
	}
	if s, ok := h.w.(syncer); ok {
		if err := s.Sync(); err != nil {
			h.err = fmt.Errorf("hlog: sync: %w", err)
			return h.err
		}
	}
	return nil
}

// hlogSeconds formats d in seconds with millisecond precision, as the format's
// writers do ("%.3f").
func hlogSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
