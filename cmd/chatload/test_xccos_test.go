package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTestXccosEmbedded: `chatload test --protocol xccos` against the embedded
// server (tls by default for xccos) succeeds, and its failures give Lync-style
// Error Message and Diagnosis.
func TestTestXccosEmbedded(t *testing.T) {
	code, out, errb := runCLI(t, nil, "test", "--protocol", "xccos", "--verbose")
	if code != 0 || field(out, "Result") != "Success" {
		t.Fatalf("exit %d; want 0 and Success\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
	if !strings.Contains(out, "delivery-receiver") {
		t.Errorf("verbose output lacks the steps:\n%s", out)
	}
	for _, c := range []struct {
		name              string
		args              []string
		errWant, diagWant string
	}{
		{"no such room", []string{"--room", "nosuchroom"}, "nosuchroom", "does not exist"},
		{"no permission", []string{"--sender", embeddedNoPChat.URI, "--sender-credential", "pass0003"},
			"NOT_AUTHORIZED_FOR_PCHAT", "not enabled for Persistent Chat"},
		{"wrong password", []string{"--sender-credential", "wrong-pw"}, "401", "Authentication failed"},
		{"unreachable", []string{"--target", "127.0.0.1:1", "--transport", "tcp",
			"--sender", "sip:user0001@example.test", "--sender-credential", "p1",
			"--receiver", "sip:user0002@example.test", "--receiver-credential", "p2"}, "refused", "could not be reached"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"test", "--protocol", "xccos", "--timeout", "5s"}, c.args...)
			code, out, errb := runCLI(t, nil, args...)
			if code != 1 || field(out, "Result") != "Failure" {
				t.Fatalf("exit %d; want 1 and Failure\n%s\n%s", code, out, errb)
			}
			if em := field(out, "Error Message"); !strings.Contains(em, c.errWant) {
				t.Errorf("Error Message = %q; want it to contain %q", em, c.errWant)
			}
			if d := field(out, "Diagnosis"); !strings.Contains(d, c.diagWant) {
				t.Errorf("Diagnosis = %q; want it to contain %q", d, c.diagWant)
			}
		})
	}
}

// TestRunXccosFanout: `chatload run --protocol xccos` (tls by default) against
// the embedded server delivers every copy of a fanout.
func TestRunXccosFanout(t *testing.T) {
	code, out, errb := runCLI(t, nil, "run", "--protocol", "xccos", "--scenario", "fanout", "--duration", "2s", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out, "100.00%") {
		t.Errorf("not every copy delivered:\n%s", out)
	}
}

// TestRunXccosNoStrayNote: Persistent Chat echoes each post to its author; that is
// expected, and a clean run says nothing about ignored copies.
func TestRunXccosNoStrayNote(t *testing.T) {
	code, out, errb := runCLI(t, nil, "run", "--protocol", "xccos", "--pairs", "2", "--rate", "20/s", "--duration", "1s", "--quiet", "--out", "-")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	var r struct {
		Generator struct{ Note string }   `json:"generator"`
		Messages  struct{ Delivered int } `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Messages.Delivered == 0 || strings.Contains(r.Generator.Note, "ignored") {
		t.Errorf("delivered %d, note %q; want deliveries and no 'copies ignored' note", r.Messages.Delivered, r.Generator.Note)
	}
}
