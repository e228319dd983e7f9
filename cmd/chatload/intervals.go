package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// intervalFlags are run's flags for what happens at each reporting interval.
type intervalFlags struct {
	every       time.Duration
	checkpoint  string
	hlog        string
	metricsAddr string
}

func addIntervalFlags(cmd *cobra.Command, f *intervalFlags) {
	fl := cmd.Flags()
	fl.DurationVar(&f.every, "interval", engine.DefaultInterval,
		"reporting interval: the report's intervals, the checkpoint's and hlog's lines, the metrics' counters (at least 100ms)")
	fl.StringVar(&f.checkpoint, "checkpoint", "",
		"write a checkpoint to this `FILE` as the run goes (JSON lines, fsynced per interval); after a crash `chatload report FILE` rebuilds the report (default: none)")
	fl.StringVar(&f.hlog, "hlog", "",
		"write the latency histograms to this `FILE` per interval in the HdrHistogram log format (.hlog), tagged by operation (default: none)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "",
		"serve live Prometheus metrics at http://`HOST:PORT`/metrics during the run; served on exactly this address (0.0.0.0 exposes them to the network) (default: off)")
}

// intervalOutputs are the run's outputs fed as intervals close: the checkpoint, the
// hlog and the live metrics. interval and progress are the engine's callbacks (one
// goroutine at a time); a write error is reported once on stderr and that output
// stops, the run goes on.
type intervalOutputs struct {
	stderr  func(format string, args ...any)
	cp      *report.CheckpointWriter
	cpFile  *os.File
	hlFile  *os.File
	hl      *report.HlogWriter // made at the first interval: its base is the run's start
	runID   string
	metrics *liveMetrics
	srv     *metricsServer

	mu     sync.Mutex
	failed map[string]bool // outputs that stopped after an error

	// hooks are more callbacks on each interval (thresholds checked per interval).
	hooks []func(report.Interval)
}

// open validates the flags and opens the outputs: the checkpoint (with its header
// line), the hlog file and the metrics listener, so that a bad path or a busy port
// is a usage error before anything runs.
func (f intervalFlags) open(e *env, cfg scenarios.Config, header *report.Report) (*intervalOutputs, error) {
	if f.every < engine.MinInterval {
		return nil, usageErr("--interval %v: want at least %v", f.every, engine.MinInterval)
	}
	o := &intervalOutputs{
		stderr: func(format string, args ...any) { fmt.Fprintf(e.stderr, format, args...) },
		runID:  header.RunID,
		failed: map[string]bool{},
	}
	ok := false
	defer func() {
		if !ok {
			o.close()
		}
	}()
	// The listener first: a busy port then leaves no files behind.
	if f.metricsAddr != "" {
		scenario := cfg.Scenario
		if !cfg.Segment.Whole() {
			scenario += " " + cfg.Segment.String()
		}
		o.metrics = newLiveMetrics(header.RunID, scenario, header.Target.Address)
		srv, err := serveMetrics(f.metricsAddr, o.metrics)
		if err != nil {
			return nil, usageErr("--metrics-addr %s: %v", f.metricsAddr, err)
		}
		o.srv = srv
	}
	if f.checkpoint != "" {
		fh, err := os.Create(f.checkpoint)
		if err != nil {
			return nil, usageErr("--checkpoint: %v", err)
		}
		o.cpFile = fh
		if o.cp, err = report.NewCheckpointWriter(fh, header); err != nil {
			return nil, usageErr("--checkpoint %s: %v", f.checkpoint, err)
		}
	}
	if f.hlog != "" {
		fh, err := os.Create(f.hlog)
		if err != nil {
			return nil, usageErr("--hlog: %v", err)
		}
		o.hlFile = fh
	}
	ok = true
	if o.srv != nil {
		fmt.Fprintf(e.stderr, "live metrics at http://%s/metrics\n", o.srv.addr)
	}
	return o, nil
}

// fail reports an output's first error and stops that output.
func (o *intervalOutputs) fail(what string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.failed[what] {
		o.failed[what] = true
		o.stderr("chatload: %s: %v (not written from here on; the run goes on)\n", what, err)
	}
}

func (o *intervalOutputs) stopped(what string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failed[what]
}

// interval is engine.RunConfig.OnInterval: the checkpoint line and the hlog lines are
// written (and fsynced) before it returns.
func (o *intervalOutputs) interval(iv report.Interval) {
	if o.cp != nil && !o.stopped("--checkpoint") {
		if err := o.cp.Interval(iv); err != nil {
			o.fail("--checkpoint", err)
		}
	}
	if o.hlFile != nil && !o.stopped("--hlog") {
		if o.hl == nil {
			hl, err := report.NewHlogWriter(o.hlFile, iv.Start, o.runID) // the first interval starts with the run
			if err != nil {
				o.fail("--hlog", err)
			}
			o.hl = hl
		}
		if o.hl != nil {
			if err := o.hl.Interval(iv); err != nil {
				o.fail("--hlog", err)
			}
		}
	}
	if o.metrics != nil {
		o.metrics.interval(iv)
	}
	for _, h := range o.hooks {
		h(iv)
	}
}

// progress is called with every progress snapshot (about once per second).
func (o *intervalOutputs) progress(p engine.Progress) {
	if o.metrics != nil {
		o.metrics.progress(p)
	}
}

// end writes the checkpoint's end line (the final report) and closes the outputs.
func (o *intervalOutputs) end(rep *report.Report) error {
	var err error
	if o.cp != nil && rep != nil && !o.stopped("--checkpoint") {
		if err = o.cp.End(rep); err != nil {
			err = fmt.Errorf("--checkpoint: %w", err)
		}
	}
	if cerr := o.close(); err == nil {
		err = cerr
	}
	return err
}

// close closes what open opened; safe to call more than once.
func (o *intervalOutputs) close() error {
	var first error
	for _, f := range []**os.File{&o.cpFile, &o.hlFile} {
		if *f != nil {
			if err := (*f).Close(); err != nil && first == nil {
				first = err
			}
			*f = nil
		}
	}
	if o.srv != nil {
		o.srv.close()
		o.srv = nil
	}
	return first
}

// checkpointHeader is the checkpoint's first line: the run's identity, known before
// it starts.
func checkpointHeader(cfg scenarios.Config, runID, version string, target report.Target) *report.Report {
	scenario, err := json.Marshal(cfg)
	if err != nil {
		scenario = []byte("null")
	}
	return &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          toolInfo(),
		RunID:         runID,
		Scenario:      scenario,
		Target:        target,
		StartedAt:     time.Now(),
		Load:          report.Load{Model: cfg.Model()},
	}
}
