package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testEnv(vars map[string]string) (*env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] },
		lookupSRV: func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
			return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
		},
		lookupHost: func(ctx context.Context, host string) ([]string, error) {
			if host == "localhost" {
				return []string{"127.0.0.1"}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
	}, &out, &errb
}

func TestReadCredential(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	os.WriteFile(private, []byte("auth1:filepw\nignored\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("openpw\n"), 0o644)

	cases := []struct {
		spec, user, pw string
		warn           bool // a WARNING about file permissions is printed
	}{
		{"s3cret", "", "s3cret", false},                // literal password
		{"bob:s3:cret", "bob", "s3:cret", false},       // authuser: splits at the first colon
		{"env:PW", "", "envpw", false},                 // variable holding a password
		{"env:PWU", "", "u9:pw9", false},               // a variable holds the password only: ':' is part of it
		{"file:" + private, "", "auth1:filepw", false}, // first line only, all of it the password
		{"file:" + open, "", "openpw", true},           // group/world readable: warned
	}
	for _, c := range cases {
		e, _, errb := testEnv(map[string]string{"PW": "envpw", "PWU": "u9:pw9"})
		got, err := readCredential(e, "--sender-credential", c.spec, "sip:a@x")
		if err != nil {
			t.Errorf("readCredential(%q): %v", c.spec, err)
			continue
		}
		if got.authUser != c.user || got.password != c.pw {
			t.Errorf("readCredential(%q) = %q/%q; want %q/%q", c.spec, got.authUser, got.password, c.user, c.pw)
		}
		if w := strings.Contains(errb.String(), "WARNING"); w != c.warn {
			t.Errorf("readCredential(%q) warned = %v (%q); want %v", c.spec, w, errb.String(), c.warn)
		}
	}
}

func TestReadCredentialErrors(t *testing.T) {
	cases := []struct{ spec, want string }{
		{"", "--sender-credential is required"},
		{"env:", "no variable name"},
		{"env:MISSING", "env:MISSING: the variable is not set"},
		{"file:/nonexistent/x", "file:/nonexistent/x: no such file"},
		{"user:", "the password is empty"},
		{"env:EMPTYPW", "env:EMPTYPW: the variable is not set or empty"},
		{"prompt", "not a terminal"},
	}
	for _, c := range cases {
		e, _, _ := testEnv(nil)
		_, err := readCredential(e, "--sender-credential", c.spec, "sip:a@x")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("readCredential(%q) error = %v; want containing %q", c.spec, err, c.want)
		}
	}
}

func TestResolveTarget(t *testing.T) {
	cases := []struct {
		spec, transport, want string
		warn                  bool
	}{
		{"127.0.0.1:5090", "udp", "127.0.0.1:5090", false},
		{"sip:127.0.0.1:5090", "udp", "127.0.0.1:5090", false},
		{"[::1]:5090", "tcp", "[::1]:5090", false},
		{"127.0.0.1", "udp", "127.0.0.1:5060", true}, // no port: default, warned
		{"::1", "tls", "[::1]:5061", true},
		{"chat.example.test", "tcp", "chat.example.test:5060", true}, // SRV fails in testEnv
	}
	for _, c := range cases {
		e, _, errb := testEnv(nil)
		got, err := resolveTarget(context.Background(), e, c.spec, c.transport)
		if err != nil || got != c.want {
			t.Errorf("resolveTarget(%q, %s) = %q, %v; want %q", c.spec, c.transport, got, err, c.want)
		}
		if w := strings.Contains(errb.String(), "WARNING:") && strings.Contains(errb.String(), c.want); w != c.warn {
			t.Errorf("resolveTarget(%q) warning %q; want warned=%v naming %s", c.spec, errb.String(), c.warn, c.want)
		}
	}
	for _, bad := range []string{"", "host:0", "host:99999", "host:x", ":5060", "a b"} {
		e, _, _ := testEnv(nil)
		if _, err := resolveTarget(context.Background(), e, bad, "udp"); err == nil {
			t.Errorf("resolveTarget(%q): want an error", bad)
		}
	}
}

func TestResolveTargetSRV(t *testing.T) {
	e, _, errb := testEnv(nil)
	var asked string
	e.lookupSRV = func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
		asked = "_" + service + "._" + proto + "." + name
		return "", []*net.SRV{{Target: "pool1.example.test.", Port: 5070}}, nil
	}
	got, err := resolveTarget(context.Background(), e, "example.test", "tls")
	if err != nil || got != "pool1.example.test:5070" {
		t.Errorf("resolveTarget via SRV = %q, %v; want pool1.example.test:5070", got, err)
	}
	if asked != "_sips._tcp.example.test" {
		t.Errorf("SRV name asked = %q; want _sips._tcp.example.test", asked)
	}
	if errb.Len() != 0 {
		t.Errorf("unexpected warning: %q", errb.String())
	}
}
