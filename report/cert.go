package report

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// The certificate problems CertificateProblem names. They are short, stable
// words: Error Message and Diagnosis quote them, and scripts may match them.
const (
	CertUnknownAuthority = "unknown authority" // no trusted CA signed it (self-signed, private CA)
	CertNameMismatch     = "name mismatch"     // not issued for the name or address the client asked for
	CertExpired          = "expired"           // expired, or not valid yet (clock skew)
	CertInvalid          = "invalid"           // any other reason verification failed
)

// CertificateProblem names why a TLS peer's certificate was not accepted when
// err is (or wraps) a failed certificate verification, and returns "" for any
// other error (refused connections, timeouts, a peer that does not speak TLS).
// It is a pure function.
func CertificateProblem(err error) string {
	if err == nil {
		return ""
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return CertUnknownAuthority
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return CertNameMismatch
	}
	if e, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		if e.Reason == x509.Expired {
			return CertExpired
		}
		return CertInvalid
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return CertInvalid
	}
	return ""
}
