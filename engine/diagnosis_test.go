package engine_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
)

// TestDiagnosisCertificate: a Transport failure caused by the server's
// certificate is diagnosed as a trust problem with its remedy, not as an
// unreachable server.
func TestDiagnosisCertificate(t *testing.T) {
	cfg := engine.ProbeConfig{Sender: engine.User{URI: alice}, Receiver: engine.User{URI: bob}}
	const target = "127.0.0.1:5061/tls"
	cases := []struct {
		name  string
		cause error
		want  []string // all in the Diagnosis
	}{
		{"unknown authority", x509.UnknownAuthorityError{}, []string{"not trusted: unknown authority", "--tls-ca"}},
		{"name mismatch", x509.HostnameError{Host: "sip.example.test"}, []string{"not trusted: name mismatch", "--tls-server-name"}},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, []string{"not trusted: expired", "renew"}},
		{"not a certificate problem", fmt.Errorf("dial: connection refused"), []string{"could not be reached"}},
	}
	for _, c := range cases {
		err := &report.Error{Class: report.Transport, Op: "register",
			Err: fmt.Errorf("TLS handshake error: %w", &tls.CertificateVerificationError{Err: c.cause})}
		if report.CertificateProblem(c.cause) == "" {
			err.Err = c.cause
		}
		r := engine.ProbeResult{FailedStep: engine.StepLogonSender, Err: err}
		d := r.Diagnosis(cfg, target)
		for _, w := range c.want {
			if !strings.Contains(d, w) {
				t.Errorf("%s: Diagnosis = %q; want it to contain %q", c.name, d, w)
			}
		}
		if !strings.Contains(d, target) {
			t.Errorf("%s: Diagnosis = %q; want it to name %s", c.name, d, target)
		}
	}
}
