package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTraceFile: --trace writes every SIP message both ways with timestamps, the
// digest responses redacted, never a password; --trace-max-bytes bounds it.
func TestTraceFile(t *testing.T) {
	digest := regexp.MustCompile(`response="[0-9a-f]{32,}"`)
	for _, tr := range []string{"udp", "tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "trace.txt")
			code, out, errb := runCLI(t, nil, "test", "--transport", tr, "--trace", path)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errb)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			head := regexp.MustCompile(`(?m)^=== \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (sent|received) ` + strings.ToUpper(tr) + ` \S+ (->|<-) \S+ \(\d+ bytes\)$`)
			if n := len(head.FindAllString(s, -1)); n < 20 {
				t.Errorf("%d message headers in the trace; want every message of the transaction (20+)\n%.2000s", n, s)
			}
			for _, want := range []string{"REGISTER sip:example.test SIP/2.0", "SIP/2.0 200 OK", "MESSAGE sip:room001@conf.example.test SIP/2.0", `response="<redacted>"`} {
				if !strings.Contains(s, want) {
					t.Errorf("trace lacks %q", want)
				}
			}
			if !strings.Contains(s, " received ") || !strings.Contains(s, " sent ") {
				t.Errorf("trace lacks a direction")
			}
			if digest.MatchString(s) || strings.Contains(s, "pass0001") || strings.Contains(s, "pass0002") {
				t.Errorf("trace holds a digest response or a password")
			}
		})
	}
	path := filepath.Join(t.TempDir(), "small.txt")
	if code, _, errb := runCLI(t, nil, "test", "--trace", path, "--trace-max-bytes", "2000"); code != 0 {
		t.Fatalf("exit %d %s", code, errb)
	}
	b, _ := os.ReadFile(path)
	if len(b) > 2000+120 || !strings.Contains(string(b), "=== trace stopped: the next message would pass the limit of 2000 bytes") {
		t.Errorf("--trace-max-bytes 2000: %d bytes, ends %q", len(b), b[max(0, len(b)-120):])
	}
	if code, _, errb := runCLI(t, nil, "test", "--trace", t.TempDir()); code != 2 || !strings.Contains(errb, "--trace") {
		t.Errorf("--trace DIR: exit %d %q; want 2", code, errb)
	}
}
