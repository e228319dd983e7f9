package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// EndCrashed is the end reason of a report rebuilt from a checkpoint that has no end
// line: the run did not finish (killed, crashed, the machine lost). Constant, safe for
// concurrent use.
const EndCrashed = "crashed"

// The "type" of each checkpoint line.
const (
	lineHeader   = "header"
	lineInterval = "interval"
	lineEnd      = "end"
)

// checkpointLine is one line of a checkpoint file.
type checkpointLine struct {
	Type     string    `json:"type"`
	Report   *Report   `json:"report,omitempty"`
	Interval *Interval `json:"interval,omitempty"`
}

// CheckpointWriter writes a run's checkpoint as it happens: JSON lines, one object
// per line,
//
//	{"type":"header","report":{...}}      the run's identity: the report without operations, failures or intervals
//	{"type":"interval","interval":{...}}  one per interval, as it closes
//	{"type":"end","report":{...}}         the final report, without its intervals (they are the lines above)
//
// Each line is written with one Write and then, when the writer has a
// Sync() error method (an *os.File), fsynced before the call returns, so that after a
// kill -9 or a crash the file holds every interval that closed, and at worst a torn
// last line (which ReadCheckpoint ignores). After a write error every later call
// returns that error. A CheckpointWriter is safe for concurrent use.
type CheckpointWriter struct {
	mu    sync.Mutex
	w     io.Writer
	buf   bytes.Buffer
	err   error
	ended bool
}

// syncer is what an *os.File offers to make a write durable.
type syncer interface{ Sync() error }

// NewCheckpointWriter writes header's line to w and returns the writer of the rest.
// Only header's identity is written (schema version, tool, run id, scenario, target,
// start, load model): operations, messages, failures and intervals are left out.
func NewCheckpointWriter(w io.Writer, header *Report) (*CheckpointWriter, error) {
	if header == nil {
		return nil, errors.New("checkpoint: no header report")
	}
	h := Report{
		SchemaVersion: header.SchemaVersion,
		Tool:          header.Tool,
		RunID:         header.RunID,
		Scenario:      header.Scenario,
		Target:        header.Target,
		StartedAt:     header.StartedAt,
		Load:          Load{Model: header.Load.Model},
		Operations:    map[string]Operation{},
		Failures:      []Failure{},
		Intervals:     []Interval{},
	}
	if h.SchemaVersion == 0 {
		h.SchemaVersion = SchemaVersion
	}
	c := &CheckpointWriter{w: w}
	if err := c.write(checkpointLine{Type: lineHeader, Report: &h}); err != nil {
		return nil, err
	}
	return c, nil
}

// Interval appends one interval's line.
func (c *CheckpointWriter) Interval(iv Interval) error {
	return c.write(checkpointLine{Type: lineInterval, Interval: &iv})
}

// End appends the final report's line (r's intervals are not repeated: they are the
// interval lines). Nothing can be written after it.
func (c *CheckpointWriter) End(r *Report) error {
	if r == nil {
		return errors.New("checkpoint: no final report")
	}
	f := *r
	f.Intervals = nil
	err := c.write(checkpointLine{Type: lineEnd, Report: &f})
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	return err
}

// write encodes l as one line, writes it in one Write and syncs it.
func (c *CheckpointWriter) write(l checkpointLine) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return c.err
	case c.ended:
		return errors.New("checkpoint: written after its end line")
	}
	c.buf.Reset()
	enc := json.NewEncoder(&c.buf)
	enc.SetEscapeHTML(false)              // SIP URIs stay readable
	if err := enc.Encode(l); err != nil { // one line: Encode ends it with '\n'
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := c.w.Write(c.buf.Bytes()); err != nil {
		c.err = fmt.Errorf("checkpoint: %w", err)
		return c.err
	}
	if s, ok := c.w.(syncer); ok {
		if err := s.Sync(); err != nil {
			c.err = fmt.Errorf("checkpoint: sync: %w", err)
			return c.err
		}
	}
	if c.buf.Cap() > 1<<20 {
		c.buf = bytes.Buffer{} // do not keep the end line's buffer for a long run
	}
	return nil
}

// ReadCheckpoint rebuilds a report from a checkpoint written by CheckpointWriter. With
// the end line, it is the final report, its Intervals the interval lines. Without it
// (the run was killed or crashed), it is the header's identity plus everything in
// the complete interval lines, merged: operations (histograms merged losslessly),
// messages, failures and drops summed; EndedAt the last interval's end; EndReason
// "crashed"; the load's rates averaged over the intervals that ran ops (time
// weighted); the generator's cpu summed, max RSS, schedule lag p99, goroutines and
// in-flight peak the worst of any interval. A torn last line (no newline, or not
// JSON, after the last good one) is ignored; a bad line before a good one is an
// error naming its line number. ReadCheckpoint is safe for concurrent use.
func ReadCheckpoint(rd io.Reader) (*Report, error) {
	br := bufio.NewReaderSize(rd, 64<<10)
	var (
		header, end *Report
		ivs         []Interval
		bad         error // a line that did not parse, fatal if a good one follows
		n           int
	)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading checkpoint: %w", err)
		}
		if errors.Is(err, io.EOF) {
			break // a last line without its newline is torn: its Write did not finish
		}
		n++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l checkpointLine
		if jerr := json.Unmarshal(line, &l); jerr != nil {
			if bad == nil {
				bad = fmt.Errorf("reading checkpoint: line %d: %w", n, jerr)
			}
			continue
		}
		if bad != nil {
			return nil, bad
		}
		switch {
		case n == 1 && (l.Type != lineHeader || l.Report == nil):
			return nil, errors.New("reading checkpoint: line 1 is not a header: not a chatload checkpoint")
		case l.Type == lineHeader && n == 1:
			header = l.Report
			if header.SchemaVersion != SchemaVersion {
				return nil, fmt.Errorf("reading checkpoint: schema_version %d is not supported (this chatload reads %d)", header.SchemaVersion, SchemaVersion)
			}
		case l.Type == lineInterval && l.Interval != nil && end == nil:
			ivs = append(ivs, *l.Interval)
		case l.Type == lineEnd && l.Report != nil && end == nil:
			end = l.Report
		default:
			return nil, fmt.Errorf("reading checkpoint: line %d: unexpected %q line", n, l.Type)
		}
	}
	if header == nil {
		return nil, errors.New("reading checkpoint: empty: no header line")
	}
	if ivs == nil {
		ivs = []Interval{}
	}
	if end != nil {
		if end.SchemaVersion != SchemaVersion {
			return nil, fmt.Errorf("reading checkpoint: end line: schema_version %d is not supported", end.SchemaVersion)
		}
		if len(end.Intervals) == 0 {
			end.Intervals = ivs
		}
		return end, nil
	}
	return rebuild(header, ivs)
}

// rebuild is ReadCheckpoint's report of a run that has no end line.
func rebuild(h *Report, ivs []Interval) (*Report, error) {
	r := &Report{
		SchemaVersion: h.SchemaVersion,
		Tool:          h.Tool,
		RunID:         h.RunID,
		Scenario:      h.Scenario,
		Target:        h.Target,
		StartedAt:     h.StartedAt,
		EndedAt:       h.StartedAt,
		EndReason:     EndCrashed,
		Load:          Load{Model: h.Load.Model},
		Operations:    map[string]Operation{},
		Failures:      []Failure{},
		Intervals:     ivs,
	}
	if len(ivs) > 0 {
		// Intervals are aligned to the run's start: the first one starts with it.
		r.StartedAt = ivs[0].Start
		r.EndedAt = ivs[len(ivs)-1].End
	}
	var busy, started, due float64 // seconds of intervals that ran ops; ops started; ops due
	for i, iv := range ivs {
		if err := MergeOperations(r.Operations, iv.Operations); err != nil {
			return nil, fmt.Errorf("reading checkpoint: interval %d: %w", i+1, err)
		}
		r.Messages.Add(iv.Messages)
		r.Failures = MergeFailures(r.Failures, iv.Failures)
		r.Load.Dropped += iv.Load.Dropped
		if el := iv.End.Sub(iv.Start).Seconds(); el > 0 && (iv.Load.AchievedRate > 0 || iv.Load.TargetRate > 0) {
			busy += el
			started += iv.Load.AchievedRate * el
			due += iv.Load.TargetRate * el
		}
		g, ig := &r.Generator, iv.Generator
		g.CPUSeconds += ig.CPUSeconds
		g.MaxRSSBytes = max(g.MaxRSSBytes, ig.MaxRSSBytes)
		g.ScheduleLagP99US = max(g.ScheduleLagP99US, ig.ScheduleLagP99US)
		g.Dropped += ig.Dropped
		g.Overflow += ig.Overflow
		g.Goroutines = max(g.Goroutines, ig.Goroutines)
		g.Workers = max(g.Workers, ig.Workers)
	}
	if busy > 0 {
		r.Load.AchievedRate = started / busy
		r.Load.TargetRate = due / busy
	}
	last := "no interval completed"
	if len(ivs) > 0 {
		last = fmt.Sprintf("%d intervals up to %s", len(ivs), r.EndedAt.UTC().Format(time.RFC3339))
	}
	r.Generator.Note = "rebuilt from a checkpoint without an end line (the run was killed or crashed): " + last
	return r, nil
}
