package report

import (
	"fmt"
	"sort"
	"strings"
)

// Server is the target's own account of a run, when chatload started it (the
// embedded server): where it ran, its resource use and its counters (those of
// `chatload serve --stats`), so that a report shows both sides. A plain value,
// safe for concurrent reads.
type Server struct {
	// Process is "child" (a `chatload serve` process of its own, PID) or
	// "in-process" (inside the generator: its CPU and memory are in the
	// generator's figures, and not given here).
	Process     string            `json:"process"`
	PID         int               `json:"pid,omitempty"`
	CPUSeconds  float64           `json:"cpu_seconds,omitempty"`
	MaxRSSBytes uint64            `json:"max_rss_bytes,omitempty"`
	Counters    map[string]uint64 `json:"counters,omitempty"` // e.g. lines, copies_sent, requests.MESSAGE
}

// ServerChild and ServerInProcess are the values of Server.Process.
const (
	ServerChild     = "child"
	ServerInProcess = "in-process"
)

// serverHeadline are the counters the one-line text shows when not zero, after
// the requests received (all methods); fault_* counters follow when not zero.
// The JSON report has them all.
var serverHeadline = []string{"registers_ok", "joins", "lines", "copies_sent", "copies_failed", "copies_unregistered"}

// Text describes the server's figures on one line: "own process (pid 123): CPU
// 1.20 s, max RSS 20.1 MiB; requests 300, lines 100, copies_sent 100, ...". s may
// be nil ("").
func (s *Server) Text() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	switch s.Process {
	case ServerChild:
		b.WriteString("own process")
		if s.PID > 0 {
			fmt.Fprintf(&b, " (pid %d)", s.PID)
		}
		fmt.Fprintf(&b, ": CPU %.2f s, max RSS %.1f MiB", s.CPUSeconds, float64(s.MaxRSSBytes)/(1<<20))
	case ServerInProcess:
		b.WriteString("in the generator's process (its CPU and memory are the generator's)")
	default:
		b.WriteString(cell(s.Process))
	}
	var parts []string
	var requests uint64
	for k, v := range s.Counters {
		if strings.HasPrefix(k, "requests.") {
			requests += v
		}
	}
	if requests > 0 {
		parts = append(parts, fmt.Sprintf("requests %d", requests))
	}
	for _, k := range serverHeadline {
		if v := s.Counters[k]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	var faults []string
	for k, v := range s.Counters {
		if strings.HasPrefix(k, "fault_") && v > 0 {
			faults = append(faults, fmt.Sprintf("%s %d", cell(k), v))
		}
	}
	sort.Strings(faults)
	parts = append(parts, faults...)
	if len(parts) > 0 {
		b.WriteString("; " + strings.Join(parts, ", "))
	}
	return b.String()
}
