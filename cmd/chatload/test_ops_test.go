package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

// TestTestJSONFields: --output json says when and what was tested.
func TestTestJSONFields(t *testing.T) {
	t0 := time.Now()
	code, out, errb := runCLI(t, nil, "test", "--output", "json", "--transport", "tcp")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := map[string]string{"target": "embedded", "protocol": "imc", "transport": "tcp", "result": "Success",
		"sender": "sip:user0001@example.test", "receiver": "sip:user0002@example.test"}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v; want %q", k, r[k], v)
		}
	}
	if room, _ := r["room"].(string); !strings.Contains(room, "room001@conf.example.test") {
		t.Errorf("room = %v; want the room found", r["room"])
	}
	ts, err := time.Parse(time.RFC3339Nano, r["timestamp"].(string))
	if err != nil || ts.Before(t0.Add(-time.Second)) || ts.After(time.Now()) || ts.Location() != time.UTC {
		t.Errorf("timestamp %v (%v); want the UTC start of the test", r["timestamp"], err)
	}
	for _, k := range []string{"target_fqdn", "latency_ms", "error_message", "diagnosis", "steps"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
}

// TestTestDNSFailure: a name that does not resolve is a Failure with a diagnosis,
// exit 1, in text and JSON (the test env's resolver knows no names).
func TestTestDNSFailure(t *testing.T) {
	args := []string{"test", "--target", "sip.example.invalid", "--sender", "sip:a@example.invalid",
		"--sender-credential", "pa", "--receiver", "sip:b@example.invalid", "--receiver-credential", "pb", "--timeout", "3s"}
	code, out, errb := runCLI(t, nil, args...)
	if code != 1 || field(out, "Result") != "Failure" {
		t.Fatalf("exit %d; want 1 and a Result : Failure\n%s\n%s", code, out, errb)
	}
	if em := field(out, "Error Message"); !strings.Contains(em, "sip.example.invalid:5060") || !strings.Contains(em, "no such host") {
		t.Errorf("Error Message = %q; want the name and the DNS error", em)
	}
	if d := field(out, "Diagnosis"); !strings.Contains(d, "could not be resolved") || !strings.Contains(d, "DNS") {
		t.Errorf("Diagnosis = %q; want it to blame DNS", d)
	}
	code, out, _ = runCLI(t, nil, append(args, "--output", "json")...)
	var r struct {
		Result, FailureClass, FailedStep, Diagnosis, Target, TargetFqdn string
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&struct {
		Result       *string `json:"result"`
		FailureClass *string `json:"failure_class"`
		FailedStep   *string `json:"failed_step"`
		Diagnosis    *string `json:"diagnosis"`
		Target       *string `json:"target"`
		TargetFqdn   *string `json:"target_fqdn"`
	}{&r.Result, &r.FailureClass, &r.FailedStep, &r.Diagnosis, &r.Target, &r.TargetFqdn}); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if code != 1 || r.Result != "Failure" || r.FailureClass != "transport" || r.FailedStep != "logon-sender" ||
		r.Diagnosis == "" || r.Target != "sip.example.invalid" || r.TargetFqdn != "sip.example.invalid:5060" {
		t.Errorf("json: exit %d %+v; want 1 and a transport Failure at logon-sender", code, r)
	}
}

var perfdata = regexp.MustCompile(`\| latency=[0-9.]+s;[0-9.]*;[0-9.]*;0; logon-sender=[0-9.]+s;;;0; `)

func TestTestNagios(t *testing.T) {
	code, out, errb := runCLI(t, nil, "test", "--nagios")
	if code != 0 || !strings.HasPrefix(out, "CHATLOAD OK - message exchanged in sip:room001@conf.example.test") || !perfdata.MatchString(out) {
		t.Errorf("OK: exit %d %q; want 0 and a CHATLOAD OK line with perfdata\n%s", code, out, errb)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("OK: %d lines; want 1", strings.Count(out, "\n"))
	}
	code, out, _ = runCLI(t, nil, "test", "--nagios", "--warning", "1ns")
	if code != 1 || !strings.HasPrefix(out, "CHATLOAD WARNING - transaction took") || !strings.Contains(out, "latency=") {
		t.Errorf("WARNING: exit %d %q; want 1", code, out)
	}
	code, out, _ = runCLI(t, nil, "test", "--nagios", "--warning", "1ns", "--critical", "2ns")
	if code != 2 || !strings.HasPrefix(out, "CHATLOAD CRITICAL - transaction took") {
		t.Errorf("CRITICAL (latency): exit %d %q; want 2", code, out)
	}
	code, out, _ = runCLI(t, nil, "test", "--nagios", "--room", "room999")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 2 || !strings.HasPrefix(out, "CHATLOAD CRITICAL - Joining the sender") ||
		len(lines) != 2 || !strings.Contains(lines[1], "does not exist") {
		t.Errorf("CRITICAL (failure): exit %d %q; want 2, the error and the diagnosis on a second line", code, out)
	}
	for _, args := range [][]string{
		{"test", "--nagios", "--transport", "sctp"},
		{"test", "--nagios", "--no-such-flag"},
		{"test", "--nagios", "--output", "json"},
		{"test", "--nagios", "--warning", "2s", "--critical", "1s"},
	} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 3 || !strings.HasPrefix(out, "CHATLOAD UNKNOWN - ") {
			t.Errorf("%v: exit %d %q; want 3 UNKNOWN", args, code, out)
		}
	}
	if code, _, _ := runCLI(t, nil, "test", "--warning", "1s"); code != 2 {
		t.Errorf("--warning without --nagios: exit %d; want 2", code)
	}
	if code, _, _ := runCLI(t, nil, "test", "--transport", "sctp"); code != 2 {
		t.Errorf("usage error without --nagios: exit %d; want 2 (not the plugin's 3)", code)
	}
}

// TestTestCredentialWithColon: a password from env: or file: is all password,
// ':' included; the auth user comes from --sender-auth-user or the URI.
func TestTestCredentialWithColon(t *testing.T) {
	users := []scenarios.User{
		{URI: "sip:alice@example.test", Password: "p:ss"},
		{URI: "sip:bob@example.test", AuthUser: "bobauth", Password: "b:o:b"},
	}
	srv, err := server.New(server.Config{Listen: []string{"udp:127.0.0.1:0"}, Users: users, Rooms: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	code, out, errb := runCLI(t, map[string]string{"PWA": "p:ss", "PWB": "b:o:b"}, "test", "--target", srv.Addrs()[0].Addr,
		"--sender", "sip:alice@example.test", "--sender-credential", "env:PWA",
		"--receiver", "sip:bob@example.test", "--receiver-credential", "env:PWB", "--receiver-auth-user", "bobauth",
		"--room", "room001", "--timeout", "5s")
	if code != 0 || field(out, "Result") != "Success" {
		t.Fatalf("exit %d; want Success with passwords containing ':'\n%s\n%s", code, out, errb)
	}
	if strings.Contains(out+errb, "p:ss") || strings.Contains(out+errb, "b:o:b") {
		t.Errorf("a password in the output:\n%s\n%s", out, errb)
	}
}

func TestTestTargetSyntax(t *testing.T) {
	for _, bad := range []string{"[::1", "::1]", "[::1]]:5060", "[[::1]", "host name"} {
		code, _, errb := runCLI(t, nil, "test", "--target", bad, "--sender", "sip:a@x", "--sender-credential", "p",
			"--receiver", "sip:b@x", "--receiver-credential", "p")
		if code != 2 || !strings.Contains(errb, "--target") {
			t.Errorf("--target %q: exit %d %q; want 2 naming --target", bad, code, errb)
		}
	}
}

// TestTestTransportDiagnoses: a closed TCP port says so without the SIP library's
// words; an XCCOS (TLS) test against a plain TCP port blames the handshake, not
// reachability; 403 Not relaying blames the domain, not the password.
func TestTestTransportDiagnoses(t *testing.T) {
	srv, err := server.New(server.Config{Listen: []string{"tcp:127.0.0.1:0"}, Users: server.GeneratedUsers(2, "example.test"), Rooms: 1, Generated: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tcp := srv.Addrs()[0].Addr
	users := []string{"--sender", "sip:user0001@example.test", "--sender-credential", "pass0001",
		"--receiver", "sip:user0002@example.test", "--receiver-credential", "pass0002", "--timeout", "3s"}

	// A port nothing listens on.
	srv2, _ := server.New(server.Config{Listen: []string{"tcp:127.0.0.1:0"}, Users: server.GeneratedUsers(2, "example.test"), Rooms: 1, Generated: true})
	srv2.Start(t.Context())
	gone := srv2.Addrs()[0].Addr
	srv2.Close()
	_, out, _ := runCLI(t, nil, append([]string{"test", "--target", gone, "--transport", "tcp"}, users...)...)
	if em := field(out, "Error Message"); !strings.Contains(em, "connection refused by "+gone+"/tcp") || strings.Contains(em, "transcation") || strings.Contains(em, "dial err") {
		t.Errorf("closed tcp port: Error Message %q; want 'connection refused by ...' without sipgo's text", em)
	}

	_, out, _ = runCLI(t, nil, append([]string{"test", "--protocol", "xccos", "--target", tcp, "--tls-insecure"}, users...)...)
	if d := field(out, "Diagnosis"); !strings.Contains(d, "TLS handshake failed") || strings.Contains(d, "nothing accepted") {
		t.Errorf("xccos against a tcp port: Diagnosis %q; want the handshake blamed", d)
	}

	code, out, _ := runCLI(t, nil, "test", "--target", tcp, "--transport", "tcp",
		"--sender", "sip:user0001@other.test", "--sender-credential", "pass0001",
		"--receiver", "sip:user0002@example.test", "--receiver-credential", "pass0002", "--room", "room001@conf.other.test", "--timeout", "3s")
	if d := field(out, "Diagnosis"); code != 1 || !strings.Contains(d, "Not relaying") || strings.Contains(d, "Authentication failed") {
		t.Errorf("403 Not relaying: Diagnosis %q; want the domain blamed, not the password", d)
	}
	if em := field(out, "Error Message"); strings.Contains(em, "wrong password") {
		t.Errorf("403 Not relaying: Error Message %q blames the password", em)
	}
}
