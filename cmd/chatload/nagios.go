package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/report"
)

// Monitoring-plugin exit statuses (Nagios, Icinga, Sensu, Zabbix's agent checks).
const (
	nagiosOK          = 0
	nagiosWarning     = 1
	nagiosCritical    = 2
	nagiosUnknownCode = 3
)

// nagiosFlags are test's --nagios mode: one status line with perfdata, and the
// plugin exit statuses instead of test's own.
type nagiosFlags struct {
	on                bool
	warning, critical time.Duration // on the whole transaction's latency; 0: none
}

func addNagiosFlags(cmd *cobra.Command, f *nagiosFlags) {
	fl := cmd.Flags()
	fl.BoolVar(&f.on, "nagios", false, "monitoring-plugin output: one line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
	fl.DurationVar(&f.warning, "warning", 0, "--nagios: WARNING when the transaction takes longer than this (0: never)")
	fl.DurationVar(&f.critical, "critical", 0, "--nagios: CRITICAL when the transaction takes longer than this (0: only on failure)")
}

func (f nagiosFlags) validate(output string) error {
	if !f.on {
		if f.warning != 0 || f.critical != 0 {
			return usageErr("--warning and --critical apply to --nagios only")
		}
		return nil
	}
	switch {
	case output != "text":
		return usageErr("--nagios prints its own format: drop --output %s", output)
	case f.warning < 0 || f.critical < 0:
		return usageErr("--warning and --critical must not be negative")
	case f.warning > 0 && f.critical > 0 && f.warning > f.critical:
		return usageErr("--warning %v is above --critical %v", f.warning, f.critical)
	}
	return nil
}

// write prints the plugin line for r and returns the plugin exit status.
func (f nagiosFlags) write(w io.Writer, r report.TestResult) error {
	lat := time.Duration(r.Latency)
	code, status, text := nagiosOK, "OK", fmt.Sprintf("message exchanged in %s via %s/%s in %.3fs", r.Room, r.TargetFqdn, r.Transport, lat.Seconds())
	switch {
	case r.Result != "Success":
		code, status, text = nagiosCritical, "CRITICAL", oneLine(r.ErrorMessage)
		if r.FailureClass == "canceled" {
			code, status = nagiosUnknownCode, "UNKNOWN"
		}
	case f.critical > 0 && lat > f.critical:
		code, status = nagiosCritical, "CRITICAL"
		text = fmt.Sprintf("transaction took %.3fs (critical above %v); %s", lat.Seconds(), f.critical, text)
	case f.warning > 0 && lat > f.warning:
		code, status = nagiosWarning, "WARNING"
		text = fmt.Sprintf("transaction took %.3fs (warning above %v); %s", lat.Seconds(), f.warning, text)
	}
	// Perfdata: 'label'=value[UOM];warn;crit;min;max, seconds.
	perf := []string{fmt.Sprintf("latency=%.6fs;%s;%s;0;", lat.Seconds(), nagiosThreshold(f.warning), nagiosThreshold(f.critical))}
	for _, st := range r.Steps {
		if st.OK {
			perf = append(perf, fmt.Sprintf("%s=%.6fs;;;0;", st.Name, time.Duration(st.Duration).Seconds()))
		}
	}
	if _, err := fmt.Fprintf(w, "CHATLOAD %s - %s | %s\n", status, text, strings.Join(perf, " ")); err != nil {
		return err
	}
	if r.Diagnosis != "" { // long output: the plugin's second line
		fmt.Fprintln(w, oneLine(r.Diagnosis))
	}
	if code == nagiosOK {
		return nil
	}
	return &exitError{code: code}
}

func nagiosThreshold(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%g", d.Seconds())
}

// oneLine keeps a message on one line, without the '|' that starts perfdata.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", "/")
}

// nagiosUnknown turns an error of `test --nagios` (bad input, exit 2, or could not
// run, exit 1) into the plugin's UNKNOWN: a monitoring system reads 2 as CRITICAL.
// Other commands keep code.
func nagiosUnknown(args []string, code int, msg string, w io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		return code
	}
	for _, a := range args {
		if a == "--nagios" || a == "--nagios=true" {
			fmt.Fprintf(w, "CHATLOAD UNKNOWN - %s\n", oneLine(msg))
			return nagiosUnknownCode
		}
	}
	return code
}
