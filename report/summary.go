package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON report this package writes and reads.
// It is a constant, safe for concurrent use.
const SchemaVersion = 1

// Report is the JSON report of a run (schema_version 1, docs/spec/contract.md); its JSON field
// names are the contract. A Report is a plain value: safe for concurrent reads,
// callers synchronize writes.
type Report struct {
	SchemaVersion int                  `json:"schema_version"`
	Tool          Tool                 `json:"tool"`
	RunID         string               `json:"run_id"`
	Scenario      json.RawMessage      `json:"scenario"` // the validated scenarios.Config as JSON
	Target        Target               `json:"target"`
	StartedAt     time.Time            `json:"started_at"`
	EndedAt       time.Time            `json:"ended_at"`
	EndReason     string               `json:"end_reason"` // completed|interrupted|aborted|error
	Load          Load                 `json:"load"`
	Operations    map[string]Operation `json:"operations"` // keyed by Op.String
	Messages      Messages             `json:"messages"`
	Failures      []Failure            `json:"failures"` // Classes() order
	Intervals     []Interval           `json:"intervals"`
	Generator     Generator            `json:"generator"`
	Thresholds    []Verdict            `json:"thresholds,omitempty"` // one per --threshold, in the order given
	Workloads     []Workload           `json:"workloads,omitempty"`  // a mixed run's workloads (Combine); the fields above are their total
	Noise         *Noise               `json:"noise,omitempty"`      // the machine's interference (noise.go)
}

// Tool names the program that wrote a report. A plain value, safe for concurrent reads.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`     // the VCS revision built
	BuildDate string `json:"build_date,omitempty"` // RFC 3339
}

// Target is what a run was aimed at. A plain value, safe for concurrent reads.
type Target struct {
	Address   string  `json:"address"`
	Protocol  string  `json:"protocol"`
	Transport string  `json:"transport"`
	Embedded  bool    `json:"embedded"`         // the embedded server was started for the run
	Server    *Server `json:"server,omitempty"` // the embedded server's own figures (server.go)
	// Auth is the authentication scheme the users signed in with ("NTLM",
	// "Kerberos", "Digest"; "" when none was asked for).
	Auth string `json:"auth,omitempty"`
}

// Load is the offered load: the model ("open" or "closed"), the target and achieved
// rates in operations per second, and the operations dropped at the in-flight cap.
// A plain value, safe for concurrent reads.
type Load struct {
	Model        string  `json:"model"`
	TargetRate   float64 `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Dropped      uint64  `json:"dropped"`
	// SignIn is the setup's sign-in wave; nil when nobody was signed in in setup.
	SignIn *SignIn `json:"sign_in,omitempty"`
}

// SignIn is the setup's sign-in wave: the users whose sign-in started, the seconds
// from the first start to the last, the rate asked for (--logon-rate; 0 unlimited)
// and the rate achieved over that span ((Users-1)/Seconds; 0 for a single user). A
// plain value, safe for concurrent reads.
type SignIn struct {
	Users        int64   `json:"users"`
	Seconds      float64 `json:"seconds"`
	TargetRate   float64 `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
}

// Operation is one operation's results: counts, latency and (when measured apart)
// service time summaries in microseconds, and the full latency histogram. A plain
// value, safe for concurrent reads.
type Operation struct {
	Count     uint64   `json:"count"`  // operations run, failed ones included
	Errors    uint64   `json:"errors"` // failed operations
	LatencyUS Latency  `json:"latency_us"`
	ServiceUS *Latency `json:"service_us,omitempty"`
	// Histogram is the latency histogram (ns) in the compressed "HISTF..." encoding;
	// DecodeHistogram reads it.
	Histogram string `json:"histogram"`
}

// Latency summarizes a distribution in microseconds (to the ns: 3 decimals). A plain
// value, safe for concurrent reads.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Messages counts chat lines end to end. A plain value, safe for concurrent reads.
type Messages struct {
	Sent               uint64 `json:"sent"`
	Accepted           uint64 `json:"accepted"`
	ExpectedDeliveries uint64 `json:"expected_deliveries"`
	Delivered          uint64 `json:"delivered"`
	Lost               uint64 `json:"lost"`
	Duplicated         uint64 `json:"duplicated"`
	OutOfOrder         uint64 `json:"out_of_order"`
	Corrupted          uint64 `json:"corrupted"`
}

// Failure is one class's failures: the count, the count per status or reply code
// (decimal keys; NoCode "-" for failures without a code or beyond the 32 codes kept
// per class, so the codes always add up to Count), and the first few raw messages in
// first-seen order. A plain value, safe for concurrent reads.
type Failure struct {
	Class    Class             `json:"class"`
	Count    uint64            `json:"count"`
	Codes    map[string]uint64 `json:"codes"`
	Examples []string          `json:"examples"`
}

// Generator is the load generator's own health, so that a saturated generator is
// visible instead of blamed on the target. A plain value, safe for concurrent reads.
type Generator struct {
	CPUSeconds       float64 `json:"cpu_seconds"`
	MaxRSSBytes      uint64  `json:"max_rss_bytes"`
	ScheduleLagP99US float64 `json:"schedule_lag_p99_us"`
	Dropped          uint64  `json:"dropped"`
	Overflow         uint64  `json:"overflow"` // histogram values clamped or lost in merges
	Goroutines       int     `json:"goroutines"`
	Workers          int     `json:"workers"`
	Note             string  `json:"note,omitempty"`
}

// WriteJSON writes r as one indented JSON object. Absent lists and maps are written
// as [] and {} (never null), and <, >, & are not escaped (SIP URIs stay readable).
// r is not modified; WriteJSON is safe for concurrent use with other readers of r.
func (r *Report) WriteJSON(w io.Writer) error {
	c := *r
	// The scenario is JSON already, from json.Marshal, which escapes <, > and & (as in
	// the thresholds "delivery.p99 < 250ms"): written as they are, like the rest.
	c.Scenario = unescapeHTML(r.Scenario)
	if c.Operations == nil {
		c.Operations = map[string]Operation{}
	}
	c.Failures = make([]Failure, len(r.Failures))
	for i, f := range r.Failures {
		if f.Codes == nil {
			f.Codes = map[string]uint64{}
		}
		if f.Examples == nil {
			f.Examples = []string{}
		}
		c.Failures[i] = f
	}
	if c.Intervals == nil {
		c.Intervals = []Interval{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}

// unescapeHTML returns JSON text with the escapes \u003c, \u003e and \u0026 in its
// strings written as the characters <, > and &; other escapes are kept.
func unescapeHTML(js json.RawMessage) json.RawMessage {
	if !bytes.Contains(js, []byte(`\u00`)) {
		return js
	}
	out := make([]byte, 0, len(js))
	for i := 0; i < len(js); i++ {
		if js[i] != '\\' || i+1 >= len(js) {
			out = append(out, js[i])
			continue
		}
		if js[i+1] == 'u' && i+6 <= len(js) {
			switch strings.ToLower(string(js[i+2 : i+6])) {
			case "003c":
				out, i = append(out, '<'), i+5
				continue
			case "003e":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		out, i = append(out, js[i], js[i+1]), i+1 // a two-character escape such as \\ stays one
	}
	return out
}

// ReadReport reads a JSON report written by WriteJSON. It rejects a report whose
// schema_version is not SchemaVersion (or is missing) before reading the rest, and
// tolerates unknown fields (newer writers may add some). It is safe for concurrent use.
func ReadReport(rd io.Reader) (*Report, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	var head struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	switch {
	case head.SchemaVersion == nil:
		return nil, errors.New("reading report: no schema_version: not a chatload report")
	case *head.SchemaVersion != SchemaVersion:
		return nil, fmt.Errorf("reading report: schema_version %d is not supported (this chatload reads %d)", *head.SchemaVersion, SchemaVersion)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	return &r, nil
}
