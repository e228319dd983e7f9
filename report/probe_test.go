package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func sampleFailure() TestResult {
	return TestResult{
		Timestamp:    time.Date(2026, 12, 2, 5, 0, 0, 123000000, time.UTC),
		Target:       "sip.example.test",
		TargetFqdn:   "sip.example.test:5060",
		Protocol:     "imc",
		Transport:    "udp",
		Sender:       "sip:user0001@example.test",
		Receiver:     "sip:user0002@example.test",
		Room:         "sip:room001@conf.example.test",
		Result:       "Failure",
		FailedStep:   "logon-sender",
		FailureClass: "auth",
		Latency:      Millis(1234567 * time.Microsecond),
		ErrorMessage: "Log on of the sender sip:user0001@example.test failed: register: 401 Unauthorized from 127.0.0.1:5090/udp (challenged again)",
		Diagnosis:    "Authentication failed: check the password.",
		Steps: []TestStep{
			{Name: "logon-sender", OK: false, Duration: Millis(2500 * time.Microsecond), Error: "register: 401 Unauthorized"},
		},
	}
}

func TestTestResultText(t *testing.T) {
	var b bytes.Buffer
	ok := TestResult{TargetFqdn: "127.0.0.1:40000", Result: "Success", Latency: Millis(184 * time.Millisecond)}
	if err := ok.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "test_success.txt", b.Bytes())
	b.Reset()
	if err := sampleFailure().WriteText(&b, true); err != nil {
		t.Fatal(err)
	}
	golden(t, "test_failure_verbose.txt", b.Bytes())
}

func TestTestResultJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleFailure().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "test_failure.json", b.Bytes())
}

func TestFormatLatency(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{184 * time.Millisecond, "00:00:00.184"},
		{time.Hour + 2*time.Minute + 3*time.Second + 4*time.Millisecond, "01:02:03.004"},
		{999 * time.Microsecond, "00:00:00.000"}, // truncated like the cmdlet's TimeSpan
		{-time.Second, "00:00:00.000"},
	}
	for _, c := range cases {
		if got := FormatLatency(c.d); got != c.want {
			t.Errorf("FormatLatency(%v) = %q; want %q", c.d, got, c.want)
		}
	}
}
