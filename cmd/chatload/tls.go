package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/protocol/sipua"
)

// tlsFlags are the client's TLS flags of test and run.
type tlsFlags struct {
	ca         string
	insecure   bool
	serverName string
}

func addTLSFlags(cmd *cobra.Command, f *tlsFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.ca, "tls-ca", "", "--transport tls: PEM `FILE` of the CA certificates (or the self-signed server certificate) to trust instead of the system's (default: the system's)")
	fl.BoolVar(&f.insecure, "tls-insecure", false, "--transport tls: do not verify the server's certificate at all (tests only; warned)")
	fl.StringVar(&f.serverName, "tls-server-name", "", "--transport tls: `NAME` the server's certificate must be valid for (default: the --target host)")
}

// set reports whether any of the flags was given.
func (f tlsFlags) set() bool { return f.ca != "" || f.insecure || f.serverName != "" }

// validate checks the flags against the transport and the target (empty: the
// embedded server).
func (f tlsFlags) validate(transport, target string) error {
	if !f.set() {
		return nil
	}
	if transport != "tls" {
		return usageErr("--tls-ca, --tls-insecure and --tls-server-name need --transport tls")
	}
	if target == "" {
		return usageErr("--tls-ca, --tls-insecure and --tls-server-name apply with --target: the embedded server's own certificate is trusted as it is")
	}
	if f.ca != "" && f.insecure {
		return usageErr("--tls-ca and --tls-insecure exclude each other")
	}
	return nil
}

// config returns the client TLS configuration for --target spec (the host the
// user named, before DNS SRV: RFC 5922 verifies the SIP domain, not the SRV
// target). It warns on stderr when verification is off. Nil for other transports.
func (f tlsFlags) config(e *env, transport, spec string) (*tls.Config, error) {
	if transport != "tls" {
		return nil, nil
	}
	c := &tls.Config{ServerName: f.serverName}
	if c.ServerName == "" {
		c.ServerName = targetHost(spec)
	}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, usageErr("--tls-ca: %v", err)
		}
		if c.RootCAs, err = sipua.CertPool(pem); err != nil {
			return nil, usageErr("--tls-ca %s: %v", f.ca, err)
		}
	}
	if f.insecure {
		fmt.Fprintln(e.stderr, "WARNING: --tls-insecure: the server's certificate is not verified")
		c.InsecureSkipVerify = true
	}
	return c, nil
}

// embeddedTLS returns the client TLS configuration trusting exactly pem, the
// certificate the embedded server made for itself. Nil for other transports.
func embeddedTLS(transport string, pem []byte) (*tls.Config, error) {
	if transport != "tls" {
		return nil, nil
	}
	pool, err := sipua.CertPool(pem)
	if err != nil {
		return nil, fmt.Errorf("embedded server certificate: %w", err)
	}
	// The server's certificate names 127.0.0.1, where it listens.
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, nil
}

// targetHost returns the host of a --target HOST[:PORT] as given.
func targetHost(spec string) string {
	spec = strings.TrimSpace(spec)
	spec = strings.TrimPrefix(strings.TrimPrefix(spec, "sip:"), "sips:")
	if host, _, err := net.SplitHostPort(spec); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(spec, "["), "]")
}
