package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MS-SIPAE sign-in from the command line: zero-setup NTLM against the
// embedded server, the failure texts, and load runs against chatload serve
// --auth ntlm whose counters show every request after sign-in signed.

func TestTestNTLMEmbedded(t *testing.T) {
	for _, c := range []struct{ protocol, transport string }{{"xccos", ""}, {"imc", "udp"}, {"imc", "tcp"}, {"xccos", "udp"}} {
		t.Run(c.protocol+"/"+c.transport, func(t *testing.T) {
			args := []string{"test", "--protocol", c.protocol, "--auth", "ntlm", "--verbose"}
			if c.transport != "" {
				args = append(args, "--transport", c.transport)
			}
			code, out, errb := runCLI(t, nil, args...)
			if code != 0 || field(out, "Result") != "Success" {
				t.Fatalf("exit %d; want 0 and Success\n%s\n%s", code, out, errb)
			}
			if got := field(out, "Authentication"); got != "NTLM" {
				t.Errorf("Authentication = %q; want NTLM\n%s", got, out)
			}
		})
	}
}

// TestTestNTLMDomainUser: the README's Lync form, the auth user as DOMAIN\user
// from --sender-auth-user and the password alone from env:, signs on.
func TestTestNTLMDomainUser(t *testing.T) {
	code, out, errb := runCLI(t, map[string]string{"PW1": "pass0001", "PW2": "pass0002"},
		"test", "--protocol", "xccos", "--auth", "ntlm", "--verbose",
		"--sender", "sip:user0001@example.test", "--sender-auth-user", `EXAMPLE\user0001`, "--sender-credential", "env:PW1",
		"--receiver", "sip:user0002@example.test", "--receiver-auth-user", "user0002@example.test", "--receiver-credential", "env:PW2")
	if code != 0 || field(out, "Result") != "Success" || field(out, "Authentication") != "NTLM" {
		t.Fatalf("exit %d; want 0, Success, NTLM\n%s\n%s", code, out, errb)
	}
}

func TestTestNTLMFailures(t *testing.T) {
	const pw = "Not-The-Password-9"
	for _, c := range []struct {
		name       string
		args       []string
		diagnosis  string
		errMessage string
	}{
		{"wrong password", []string{"--sender-credential", pw}, "(wrong password)", "NTLM authentication of user0001 refused"},
		{"unknown user", []string{"--sender", "sip:nobody@example.test", "--sender-credential", pw}, "(unknown user)", "NTLM authentication of nobody refused"},
		{"DOMAIN form, wrong password", []string{"--sender-credential", `EXAMPLE\user0001:` + pw}, "(wrong password)", `NTLM authentication of EXAMPLE\user0001 refused`},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"test", "--protocol", "xccos", "--auth", "ntlm"}, c.args...)
			code, out, errb := runCLI(t, nil, args...)
			if code != 1 || field(out, "Result") != "Failure" {
				t.Fatalf("exit %d; want 1 and Failure\n%s\n%s", code, out, errb)
			}
			if em := field(out, "Error Message"); !strings.Contains(em, c.errMessage) {
				t.Errorf("Error Message %q lacks %q", em, c.errMessage)
			}
			if d := field(out, "Diagnosis"); !strings.HasPrefix(d, "Authentication failed") || !strings.Contains(d, c.diagnosis) {
				t.Errorf("Diagnosis %q: want Authentication failed ... %s", d, c.diagnosis)
			}
			if strings.Contains(out+errb, pw) {
				t.Errorf("the password is in the output:\n%s\n%s", out, errb)
			}
		})
	}
	// digest asked of a server offering NTLM only: not offered.
	code, out, _ := runCLI(t, nil, "test", "--auth", "digest", "--target", startNTLMServe(t).addr(t, "udp"),
		"--sender", "sip:user0001@example.test", "--sender-credential", "pass0001",
		"--receiver", "sip:user0002@example.test", "--receiver-credential", "pass0002")
	if code != 1 || !strings.Contains(field(out, "Diagnosis"), "does not offer the authentication scheme") ||
		!strings.Contains(field(out, "Diagnosis"), "it offers: NTLM") {
		t.Errorf("--auth digest against ntlm: exit %d\n%s", code, out)
	}
}

func TestAuthUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"test", "--auth", "tls-dsk"},
		{"test", "--auth", "kerberos"}, // the embedded server has no KDC
		{"run", "--auth", "basic"},
		{"serve", "--auth", "ntlm,bogus"},
		{"serve", "--auth", "kerberos"}, // no keytab
		{"serve", "--keytab", "x.keytab"},
	} {
		code, _, errb := runCLI(t, nil, args...)
		if code != 2 || !strings.Contains(errb, "auth") && !strings.Contains(errb, "keytab") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", args, code, errb)
		}
	}
}

func startNTLMServe(t *testing.T, extra ...string) *serving {
	t.Helper()
	return startServe(t, append([]string{"--auth", "ntlm", "--listen", "udp:127.0.0.1:0,tcp:127.0.0.1:0", "--users", "6", "--rooms", "2"}, extra...)...)
}

// The Done-when of MS-SIPAE load runs: login and message against serve
// --auth ntlm, 0 errors, and the server's counters: every request is signed
// but the first two legs of each sign-in.
func TestRunAgainstServeNTLM(t *testing.T) {
	dir := t.TempDir()
	stats := filepath.Join(dir, "stats.json")
	s := startNTLMServe(t, "--stats", stats)
	users := filepath.Join(dir, "users.csv")
	csv := "uri,username,password\n"
	for i := 1; i <= 6; i++ {
		auth := fmt.Sprintf(`EXAMPLE\user%04d`, i)
		if i%2 == 0 {
			auth = fmt.Sprintf("user%04d@example.test", i)
		}
		csv += fmt.Sprintf("sip:user%04d@example.test,%s,pass%04d\n", i, auth, i)
	}
	if err := os.WriteFile(users, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		transport string
		args      []string
	}{
		{"udp", []string{"--scenario", "login", "--iterations", "12", "--rate", "50/s"}},
		{"tcp", []string{"--scenario", "message", "--to", "sip:user0001@example.test", "--iterations", "40", "--rate", "100/s"}},
		{"udp", []string{"--scenario", "message", "--to", "sip:user0001@example.test", "--iterations", "40", "--rate", "100/s"}},
	} {
		out := filepath.Join(dir, "r.json")
		args := append([]string{"run", "--target", s.addr(t, c.transport), "--transport", c.transport, "--users-file", users,
			"--auth", "ntlm", "--quiet", "--out", out,
			"--allow-failures"}, c.args...) // the errors are checked below; a busy machine may miss the schedule (exit 5)
		code, stdout, stderr := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", c.args, code, stdout, stderr)
		}
		r := readReportFile(t, out)
		for name, op := range r.Operations {
			if op.Errors != 0 {
				t.Errorf("%v: %s had %d errors", c.args, name, op.Errors)
			}
		}
		if r.Target.Auth != "NTLM" {
			t.Errorf("report target auth %q; want NTLM", r.Target.Auth)
		}
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	b, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Requests             map[string]uint64
		SignedRequests       uint64 `json:"signed_requests"`
		UnsignedRequests     uint64 `json:"unsigned_requests"`
		SignatureRefused     uint64 `json:"signature_refused"`
		SecurityAssociations uint64 `json:"security_associations"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var total uint64
	for m, n := range st.Requests {
		if m != "OPTIONS" {
			total += n
		}
	}
	if st.SecurityAssociations == 0 || st.UnsignedRequests != 2*st.SecurityAssociations || st.SignatureRefused != 0 ||
		st.SignedRequests+st.UnsignedRequests != total {
		t.Errorf("server counters: %d requests, %d signed, %d unsigned, %d refused, %d sign-ins; want unsigned = 2 x sign-ins, signed + unsigned = requests\n%s",
			total, st.SignedRequests, st.UnsignedRequests, st.SignatureRefused, st.SecurityAssociations, b)
	}
	t.Logf("serve --auth ntlm counters: %d requests, %d signed, %d unsigned (%d sign-ins)", total, st.SignedRequests, st.UnsignedRequests, st.SecurityAssociations)
}

// Kerberos from the command line against serve --auth kerberos and a real
// MIT KDC (CHATLOAD_KDC: see scripts/krb5/start.sh).
func TestKerberosCLI(t *testing.T) {
	dir := os.Getenv("CHATLOAD_KDC")
	if dir == "" {
		t.Skip("CHATLOAD_KDC not set: start a KDC with scripts/krb5/start.sh")
	}
	s := startServe(t, "--auth", "kerberos,ntlm", "--keytab", filepath.Join(dir, "sip.keytab"),
		"--listen", "tcp:127.0.0.1:0", "--users", "4", "--rooms", "1")
	base := []string{"test", "--target", s.addr(t, "tcp"), "--transport", "tcp", "--auth", "kerberos",
		"--krb5-conf", filepath.Join(dir, "krb5.conf"), "--verbose",
		"--sender", "sip:user0001@example.test", "--receiver", "sip:user0002@example.test",
		"--receiver-credential", "user0002@CHATLOAD.TEST:pass0002"}
	for _, protocol := range []string{"imc", "xccos"} {
		code, out, errb := runCLI(t, nil, append(base, "--protocol", protocol, "--sender-credential", "user0001:pass0001")...)
		if code != 0 || field(out, "Result") != "Success" || field(out, "Authentication") != "Kerberos" {
			t.Errorf("%s: exit %d; want Success with Kerberos\n%s\n%s", protocol, code, out, errb)
		}
	}
	// A keytab instead of a password (scripts/krb5 keeps user0003's and
	// user0004's keys in users.keytab): no sender credential at all.
	code, out, errb := runCLI(t, nil, "test", "--target", s.addr(t, "tcp"), "--transport", "tcp", "--auth", "kerberos",
		"--krb5-conf", filepath.Join(dir, "krb5.conf"), "--krb5-keytab", filepath.Join(dir, "users.keytab"), "--verbose",
		"--sender", "sip:user0003@example.test", "--receiver", "sip:user0004@example.test", "--protocol", "xccos")
	if code != 0 || field(out, "Result") != "Success" || field(out, "Authentication") != "Kerberos" {
		t.Errorf("--krb5-keytab: exit %d; want Success with Kerberos and no password\n%s\n%s", code, out, errb)
	}
	for _, c := range []struct{ cred, diagnosis string }{
		{"user0001:Wrong-Pass-7", "(wrong password)"},
		{"ghost:Wrong-Pass-7", "(unknown user)"},
	} {
		code, out, errb := runCLI(t, nil, append(base, "--sender-credential", c.cred)...)
		if code != 1 || !strings.Contains(field(out, "Diagnosis"), c.diagnosis) || !strings.Contains(field(out, "Error Message"), "Kerberos") {
			t.Errorf("%s: exit %d; want 1 with %s\n%s", c.cred, code, c.diagnosis, out)
		}
		if strings.Contains(out+errb, "Wrong-Pass-7") {
			t.Errorf("the password is in the output:\n%s\n%s", out, errb)
		}
	}
}
