package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatload/chatload/server"
)

// startTLSServer starts an embedded server with a tls listener (its generated
// certificate) and returns its address and the path of its certificate's PEM.
func startTLSServer(t *testing.T) (addr, certFile string) {
	t.Helper()
	srv, err := server.New(server.Config{
		Listen: []string{"tls:127.0.0.1:0"}, Users: server.GeneratedUsers(4, "example.test"),
		Rooms: 2, Generated: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	certFile = filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(certFile, srv.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.Addrs()[0].Addr, certFile
}

// tlsTestArgs is `chatload test` against target over tls with the users of startTLSServer.
func tlsTestArgs(target string, extra ...string) []string {
	return append([]string{"test", "--target", target, "--transport", "tls",
		"--sender", "sip:user0001@example.test", "--sender-credential", "pass0001",
		"--receiver", "sip:user0002@example.test", "--receiver-credential", "pass0002",
		"--timeout", "10s"}, extra...)
}

const insecureWarning = "WARNING: --tls-insecure: the server's certificate is not verified"

// TestTestTLSEmbedded: with no target the embedded server's own certificate is
// trusted, without --tls-insecure and without a warning.
func TestTestTLSEmbedded(t *testing.T) {
	code, out, errb := runCLI(t, nil, "test", "--transport", "tls")
	if code != 0 || field(out, "Result") != "Success" {
		t.Fatalf("exit %d; want 0 and Success\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
	if strings.Contains(errb, "WARNING") {
		t.Errorf("stderr %q; want no warning", errb)
	}
}

// TestTestTLSTarget: a certificate the client does not trust is a Failure that
// names the problem, with a Diagnosis saying what to do; --tls-ca with the
// server's certificate and --tls-insecure (warned) both succeed.
func TestTestTLSTarget(t *testing.T) {
	addr, certFile := startTLSServer(t)
	failures := []struct {
		name          string
		extra         []string
		errWant, diag string
	}{
		{"system roots", nil, "certificate of " + addr + "/tls not trusted: unknown authority", "--tls-ca"},
		{"trusted, another name", []string{"--tls-ca", certFile, "--tls-server-name", "chat.other.test"},
			"not trusted: name mismatch", "--tls-server-name"},
	}
	for _, c := range failures {
		t.Run(c.name, func(t *testing.T) {
			code, out, errb := runCLI(t, nil, tlsTestArgs(addr, c.extra...)...)
			if code != 1 || field(out, "Result") != "Failure" {
				t.Fatalf("exit %d; want 1 and Failure\nstdout:\n%s\nstderr:\n%s", code, out, errb)
			}
			if em := field(out, "Error Message"); !strings.Contains(em, c.errWant) {
				t.Errorf("Error Message = %q; want it to contain %q", em, c.errWant)
			}
			d := field(out, "Diagnosis")
			if !strings.Contains(d, "The server's certificate is not trusted") || !strings.Contains(d, c.diag) {
				t.Errorf("Diagnosis = %q; want it to say the certificate is not trusted and mention %s", d, c.diag)
			}
		})
	}
	successes := []struct {
		name  string
		extra []string
		warn  bool
	}{
		{"--tls-ca", []string{"--tls-ca", certFile}, false},
		{"--tls-insecure", []string{"--tls-insecure"}, true},
	}
	for _, c := range successes {
		t.Run(c.name, func(t *testing.T) {
			code, out, errb := runCLI(t, nil, tlsTestArgs(addr, c.extra...)...)
			if code != 0 || field(out, "Result") != "Success" {
				t.Fatalf("exit %d; want 0 and Success\nstdout:\n%s\nstderr:\n%s", code, out, errb)
			}
			if got := strings.Contains(errb, insecureWarning); got != c.warn {
				t.Errorf("stderr %q: warning %t; want %t", errb, got, c.warn)
			}
		})
	}
}

func TestTLSUsageErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644)
	target := []string{"--target", "127.0.0.1:5061", "--sender", "a@x", "--sender-credential", "p",
		"--receiver", "b@x", "--receiver-credential", "p"}
	cases := []struct {
		args []string
		want string
	}{
		{append([]string{"test", "--tls-insecure"}, target...), "need --transport tls"},
		{[]string{"test", "--transport", "tls", "--tls-ca", notPEM}, "apply with --target"},
		{append([]string{"test", "--transport", "tls", "--tls-ca", notPEM, "--tls-insecure"}, target...), "exclude each other"},
		{append([]string{"test", "--transport", "tls", "--tls-ca", filepath.Join(dir, "missing.pem")}, target...), "missing.pem"},
		{append([]string{"test", "--transport", "tls", "--tls-ca", notPEM}, target...), "no PEM certificate"},
		{[]string{"run", "--transport", "tcp", "--tls-server-name", "x"}, "need --transport tls"},
		{[]string{"run", "--transport", "tls", "--tls-insecure"}, "apply with --target"},
		{[]string{"serve", "--listen", "udp:127.0.0.1:0", "--tls-cert-out", filepath.Join(dir, "c.pem")}, "need a tls listener"},
		{[]string{"serve", "--listen", "tls:127.0.0.1:0", "--tls-cert", notPEM}, "--tls-cert and --tls-key go together"},
		{[]string{"serve", "--listen", "tls:127.0.0.1:0", "--tls-cert", notPEM, "--tls-key", notPEM}, "not.pem"},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q\n%s", c.args, code, errb, c.want, out)
		}
		if strings.Contains(out, "listening on") {
			t.Errorf("%v: listened despite the usage error:\n%s", c.args, out)
		}
	}
}

// TestRunTLSEmbedded: a short steady run over tls against the embedded server
// delivers every message, and the report says tls.
func TestRunTLSEmbedded(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--transport", "tls",
		"--rate", "40/s", "--duration", "1s", "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readReportFile(t, out)
	if m := r.Messages; m.Sent != 40 || m.Delivered != 40 || m.Lost != 0 || m.Duplicated != 0 {
		t.Errorf("messages = %+v; want 40 sent and delivered, none lost or duplicated", m)
	}
	if r.Target.Transport != "tls" || !r.Target.Embedded {
		t.Errorf("target = %+v; want tls, embedded", r.Target)
	}
	if strings.Contains(stderr, "WARNING") {
		t.Errorf("stderr %q; want no warning", stderr)
	}
}

// TestServeTLS: serve with a tls listener writes its generated certificate
// with --tls-cert-out before it says it listens, and a client trusting that
// file passes the synthetic transaction.
func TestServeTLS(t *testing.T) {
	certFile := filepath.Join(t.TempDir(), "serve.pem")
	s := startServe(t, "--listen", "tls:127.0.0.1:0,udp:127.0.0.1:0", "--users", "2", "--rooms", "1",
		"--tls-cert-out", certFile)
	if want := "tls certificate: self-signed, valid 24h, written to " + certFile; !strings.Contains(s.out.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, s.out)
	}
	if pem, err := os.ReadFile(certFile); err != nil || !strings.HasPrefix(string(pem), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("--tls-cert-out file: %v %q", err, pem)
	}
	addr := s.addr(t, "tls")
	code, out, errb := runCLI(t, nil, tlsTestArgs(addr, "--tls-ca", certFile)...)
	if code != 0 || field(out, "Result") != "Success" {
		t.Fatalf("test against serve over tls: exit %d\n%s\n%s", code, out, errb)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("serve exit %d after the interrupt; want 0\n%s", code, s.errb)
	}
}
