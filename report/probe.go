package report

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// TestResult is the outcome of `chatload test` (and of each `chatload watch`
// transaction) as printed: the fields of Lync's Test-CsPersistentChatMessage, what was
// tested, and the steps. The JSON keys are a contract (docs/spec/test-serve-run.md).
type TestResult struct {
	Timestamp    time.Time  `json:"timestamp"`   // when the transaction started (UTC)
	Target       string     `json:"target"`      // --target as given, or "embedded"
	TargetFqdn   string     `json:"target_fqdn"` // the HOST:PORT tested (after DNS SRV)
	Protocol     string     `json:"protocol"`
	Transport    string     `json:"transport"`
	Sender       string     `json:"sender"`
	Receiver     string     `json:"receiver"`
	Room         string     `json:"room"`   // as given, or the room found; "" when none was reached
	Result       string     `json:"result"` // "Success" or "Failure"
	Latency      Millis     `json:"latency_ms"`
	FailedStep   string     `json:"failed_step,omitempty"`
	FailureClass string     `json:"failure_class,omitempty"` // report's failure class of the error
	ErrorMessage string     `json:"error_message"`
	Diagnosis    string     `json:"diagnosis"`
	Steps        []TestStep `json:"steps"`
	// Authentication is the scheme the users signed in with ("NTLM",
	// "Kerberos", "Digest"); shown with --verbose.
	Authentication string `json:"authentication,omitempty"`
}

// TestStep is one timed step of a test.
type TestStep struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Duration Millis `json:"duration_ms"`
	Error    string `json:"error,omitempty"`
}

// Millis is a duration that marshals as fractional milliseconds (0.001 ms resolution).
type Millis time.Duration

// MarshalJSON writes the duration in milliseconds with microsecond precision.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(time.Duration(m).Microseconds())/1000)), nil
}

// UnmarshalJSON reads milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*m = Millis(time.Duration(f * float64(time.Millisecond)))
	return nil
}

// FormatLatency formats d as the Lync cmdlet does: hh:mm:ss.fff.
func FormatLatency(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// WriteText writes r in the Lync layout; verbose adds the step timings below it.
func (r TestResult) WriteText(w io.Writer, verbose bool) error {
	row := func(k, v string) string {
		if v == "" {
			return fmt.Sprintf("%-13s :\n", k)
		}
		return fmt.Sprintf("%-13s : %s\n", k, v)
	}
	s := "\n" +
		row("Target Fqdn", r.TargetFqdn) +
		row("Result", r.Result) +
		row("Latency", FormatLatency(time.Duration(r.Latency))) +
		row("Error Message", r.ErrorMessage) +
		row("Diagnosis", r.Diagnosis) + "\n"
	if verbose && r.Authentication != "" {
		s += row("Authentication", r.Authentication) + "\n"
	}
	if verbose && len(r.Steps) > 0 {
		s += "Steps:\n"
		for _, st := range r.Steps {
			mark := "ok  "
			if !st.OK {
				mark = "FAIL"
			}
			s += fmt.Sprintf("  %-18s %s %9.3f ms", st.Name, mark, float64(time.Duration(st.Duration).Microseconds())/1000)
			if st.Error != "" {
				s += "  " + st.Error
			}
			s += "\n"
		}
		s += "\n"
	}
	_, err := io.WriteString(w, s)
	return err
}

// WriteJSON writes r as one indented JSON object.
func (r TestResult) WriteJSON(w io.Writer) error {
	if r.Steps == nil {
		r.Steps = []TestStep{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteJSONLine writes r as one JSON object on one line (chatload watch's log).
func (r TestResult) WriteJSONLine(w io.Writer) error {
	if r.Steps == nil {
		r.Steps = []TestStep{}
	}
	return json.NewEncoder(w).Encode(r)
}
