package main

import (
	"bufio"
	"os"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/protocol/sipua"
)

// traceFlags are --trace FILE and --trace-max-bytes N of test, watch and run.
type traceFlags struct {
	path string
	max  int64
}

func addTraceFlags(cmd *cobra.Command, f *traceFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.path, "trace", "", "write every SIP message sent and received, with timestamps, to this `FILE` (credentials redacted) (default: none)")
	fl.Int64Var(&f.max, "trace-max-bytes", 64<<20, "stop the --trace file at this size")
}

// open opens the trace file (checked like every output path) and returns the trace
// and a function that flushes and closes it; nil and a no-op without --trace.
func (f traceFlags) open() (*sipua.Trace, func(), error) {
	if f.path == "" {
		return nil, func() {}, nil
	}
	if f.max <= 0 {
		return nil, nil, usageErr("--trace-max-bytes %d: must be positive", f.max)
	}
	if f.path == "-" {
		return nil, nil, usageErr("--trace -: want a file name")
	}
	if err := checkOutputPath("--trace", f.path); err != nil {
		return nil, nil, err
	}
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, usageErr("--trace: %v", err)
	}
	t := sipua.NewTrace(bufio.NewWriterSize(fh, 64<<10), f.max)
	return t, func() { t.Close(); fh.Close() }, nil
}
