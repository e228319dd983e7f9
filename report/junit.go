package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JUnit test case names that are not thresholds.
const (
	junitCompleted = "run completed"
	junitNoLost    = "no lost messages"
)

// WriteJUnit writes the run's verdicts as JUnit XML, for CI systems that show test
// results: one testsuite "chatload <scenario>" holding
//
//   - one testcase per threshold verdict, named by the threshold's expression, failed
//     when the threshold failed (the observed value and detail in the failure);
//   - "run completed", failed when end_reason is not "completed" (interrupted,
//     aborted, crashed, error);
//   - "no lost messages", failed when messages.lost > 0: only when no threshold is on
//     messages.lost (that one says it) and the run expected deliveries or lost some.
//
// The suite's properties name the run, target and load; its system-out holds the
// WriteTables summary. Test case times are 0 but for "run completed" (the run's
// length). The output is deterministic. r is not modified; WriteJUnit is safe for
// concurrent use with other readers of r.
func (r *Report) WriteJUnit(w io.Writer) error {
	var tables bytes.Buffer
	if err := r.WriteTables(&tables); err != nil {
		return err
	}
	name := "chatload"
	if s := scenarioName(r); s != "" {
		name += " " + s
	}
	class := strings.ReplaceAll(name, " ", ".")
	suite := junitSuite{
		Name:      name,
		Time:      junitSeconds(runDuration(r).Seconds()),
		SystemOut: &junitText{printable(tables.String())},
	}
	if !r.StartedAt.IsZero() {
		suite.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	for _, p := range [][2]string{
		{"run_id", r.RunID},
		{"scenario", string(r.Scenario)},
		{"target", targetText(r.Target)},
		{"end_reason", r.EndReason},
		{"load", loadText(r)},
		{"tool", strings.TrimSpace(r.Tool.Name + " " + r.Tool.Version)},
	} {
		if p[1] != "" {
			suite.Properties = append(suite.Properties, junitProperty{Name: p[0], Value: p[1]})
		}
	}

	lostCovered := false
	for _, v := range r.Thresholds {
		c := junitCase{Name: v.Threshold, Classname: class + ".thresholds", Time: "0"}
		if !v.Pass {
			msg := "observed " + v.Observed
			c.Failure = &junitFailure{Message: msg, Type: "threshold", Text: printable(strings.TrimSpace(msg + "\n" + v.Detail))}
		}
		suite.Cases = append(suite.Cases, c)
		if thresholdMetric(v.Threshold) == "messages.lost" {
			lostCovered = true
		}
	}

	done := junitCase{Name: junitCompleted, Classname: class, Time: suite.Time}
	if r.EndReason != "completed" {
		msg := fmt.Sprintf("end_reason is %q, not \"completed\"", r.EndReason)
		done.Failure = &junitFailure{Message: msg, Type: "end_reason", Text: printable(msg)}
	}
	suite.Cases = append(suite.Cases, done)

	if m := r.Messages; !lostCovered && (m.ExpectedDeliveries > 0 || m.Lost > 0) {
		c := junitCase{Name: junitNoLost, Classname: class, Time: "0"}
		if m.Lost > 0 {
			msg := fmt.Sprintf("%d of %d expected deliveries lost", m.Lost, m.ExpectedDeliveries)
			text := msg
			for _, f := range r.Failures {
				if f.Class == Lost && len(f.Examples) > 0 {
					text += "\nfirst: " + f.Examples[0]
				}
			}
			c.Failure = &junitFailure{Message: msg, Type: "lost", Text: printable(text)}
		}
		suite.Cases = append(suite.Cases, c)
	}

	suite.Tests = len(suite.Cases)
	for _, c := range suite.Cases {
		if c.Failure != nil {
			suite.Failures++
		}
	}
	doc := junitSuites{Name: "chatload", Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time, Suites: []junitSuite{suite}}

	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"` // CDATA keeps line breaks readable (chardata writes &#xA;)
}

type junitText struct {
	Text string `xml:",cdata"`
}

func junitSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// thresholdMetric is the metric a threshold expression starts with ("delivery.p99" of
// "delivery.p99 < 250ms").
func thresholdMetric(expr string) string {
	expr = strings.TrimSpace(expr)
	end := strings.IndexFunc(expr, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	})
	if end < 0 {
		return expr
	}
	return expr[:end]
}
