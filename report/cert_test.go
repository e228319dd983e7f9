package report

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestCertificateProblem(t *testing.T) {
	// verified wraps a verification error as crypto/tls and then sipgo return it.
	verified := func(err error) error {
		return fmt.Errorf("TLS handshake error: %w", &tls.CertificateVerificationError{Err: err})
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"no error", nil, ""},
		{"not a certificate problem", fmt.Errorf("dial: %w", io.EOF), ""},
		{"not TLS from the peer", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ""},
		{"unknown authority", verified(x509.UnknownAuthorityError{}), CertUnknownAuthority},
		{"name mismatch", verified(x509.HostnameError{Host: "wrong.example"}), CertNameMismatch},
		{"expired", verified(x509.CertificateInvalidError{Reason: x509.Expired}), CertExpired},
		{"other invalid reason", verified(x509.CertificateInvalidError{Reason: x509.IncompatibleUsage}), CertInvalid},
		{"verification failed otherwise", verified(errors.New("policy")), CertInvalid},
		// A verification error reached without the crypto/tls wrapper (VerifyPeerCertificate).
		{"bare x509 error", x509.HostnameError{Host: "h"}, CertNameMismatch},
		// Classified errors keep their cause: the problem is found through them.
		{"inside a report.Error", &Error{Class: Transport, Op: "register", Err: verified(x509.UnknownAuthorityError{})}, CertUnknownAuthority},
	}
	for _, c := range cases {
		if got := CertificateProblem(c.err); got != c.want {
			t.Errorf("%s: CertificateProblem(%v) = %q; want %q", c.name, c.err, got, c.want)
		}
	}
}
