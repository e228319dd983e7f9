package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRefusesBadInputBeforeRunning: combinations that would silently ignore a
// setting, bad files and unwritable outputs are usage errors (exit 2) found before
// anything runs.
func TestRunRefusesBadInputBeforeRunning(t *testing.T) {
	dir := t.TempDir()
	stray := filepath.Join(dir, "stray.csv")
	os.WriteFile(stray, []byte("uri,username,password\n\"sip:user0001@example.test,,pass0001\nsip:user0002@example.test,,pass0002\n"), 0o600)
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("uri,username,password\nsip:user0001@example.test,,pass0001\nsip:user0002@example.test,,pass0002\n"), 0o600)
	yamlBoth := filepath.Join(dir, "both.yaml")
	os.WriteFile(yamlBoth, []byte("scenario: steady\nrate: 10/s\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "10/s", "--concurrency", "2"}, "--rate and --concurrency: give one"},
		{[]string{yamlBoth, "--concurrency", "2"}, "both.yaml: rate and --concurrency: give one"},
		{[]string{"--ramp", "1s:10/s", "--concurrency", "2"}, "--ramp and --concurrency"},
		{[]string{"--iterations", "10", "--duration", "1s"}, "--iterations and --duration: give one"},
		{[]string{"--threshold", ""}, `--threshold "": empty`},
		{[]string{"--threshold", "messages.lost == 0", "--threshold", " "}, `--threshold "": empty`},
		{[]string{"--target", "[::1", "--users-file", good, "--pairs", "1"}, "--target"},
		{[]string{"--users-file", stray}, `stray.csv:2: uri "\"sip:user0001@example.test" contains a quote`},
		{[]string{"--out", "/nonexistent/dir/x.json"}, "--out /nonexistent/dir/x.json: directory /nonexistent/dir"},
		{[]string{"--out", dir}, "is a directory"},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, append([]string{"run", "--duration", "1m", "--quiet"}, c.args...)...)
		if strings.Contains(strings.Join(c.args, " "), "--iterations") {
			code, out, errb = runCLI(t, nil, append([]string{"run", "--quiet"}, c.args...)...)
		}
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("run %q: exit %d %q; want 2 naming %q", c.args, code, errb, c.want)
		}
		if out != "" {
			t.Errorf("run %q printed tables: it ran", c.args)
		}
	}
}

func TestRunOutStdout(t *testing.T) {
	code, out, errb := runCLI(t, nil, "run", "--rate", "20/s", "--duration", "1s", "--quiet", "--out", "-")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	var r struct {
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.SchemaVersion == 0 {
		t.Errorf("--out -: stdout is not the JSON report (%v):\n%.300s", err, out)
	}
	if !strings.Contains(errb, "| delivery") {
		t.Errorf("--out -: the tables should be on stderr:\n%s", errb)
	}
	if _, err := os.Stat("-"); err == nil {
		os.Remove("-")
		t.Errorf("--out - created a file named -")
	}
}

func TestServeTLSCertOutDirectory(t *testing.T) {
	dir := t.TempDir()
	code, _, errb := runCLI(t, nil, "serve", "--listen", "tls:127.0.0.1:0", "--tls-cert-out", dir)
	if code != 2 || !strings.Contains(errb, "--tls-cert-out "+dir+": is a directory") {
		t.Errorf("serve --tls-cert-out DIR: exit %d %q; want 2", code, errb)
	}
	code, _, errb = runCLI(t, nil, "serve", "--listen", "udp:127.0.0.1:0", "--stats", filepath.Join(dir, "no", "s.json"))
	if code != 2 || !strings.Contains(errb, "--stats") {
		t.Errorf("serve --stats in a missing directory: exit %d %q; want 2", code, errb)
	}
}
