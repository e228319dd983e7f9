package sipua

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/report"
)

// ClassifyStatus returns the failure class of a final SIP status for a request
// of method, with the reason phrase deciding the ambiguous 403. It returns ok=false
// for 2xx (no failure).
//
//	2xx            -> no failure
//	401, 407       -> Auth (only reached after a fresh challenge was answered)
//	403            -> Rejected for "Not relaying" or "Forbidden Domain" (a domain the server does not serve);
//	                  Auth for REGISTER or a reason naming auth/mismatch; else Rejected
//	404            -> NotFound
//	other 300..699 -> Rejected
//	anything else  -> Protocol (not a valid final status)
//
// It is a pure function.
func ClassifyStatus(method sip.RequestMethod, code int, reason string) (c report.Class, ok bool) {
	switch {
	case code >= 200 && code < 300:
		return report.Other, false
	case code == 401 || code == 407:
		return report.Auth, true
	case code == 403:
		r := strings.ToLower(reason)
		if foreignDomain(r) {
			// "Not relaying", "Forbidden Domain": the server does not serve the
			// Request-URI's domain (a routing or domain mistake), whatever the
			// method: not the credentials.
			return report.Rejected, true
		}
		if method == sip.REGISTER || strings.Contains(r, "auth") || strings.Contains(r, "mismatch") ||
			strings.Contains(r, "credential") || strings.Contains(r, "password") {
			return report.Auth, true
		}
		return report.Rejected, true
	case code == 404:
		return report.NotFound, true
	case code >= 300 && code < 700:
		return report.Rejected, true
	}
	return report.Protocol, true
}

// StatusError returns the classified error for a final response to a request of
// method sent to where ("127.0.0.1:5090/udp"), or nil for 2xx. Detail keeps the
// status line: "404 User Not Found from 127.0.0.1:5090/udp". It is a pure function.
func StatusError(op string, method sip.RequestMethod, res *sip.Response, where string) error {
	return statusError(op, method, res.StatusCode, res.Reason, where)
}

func statusError(op string, method sip.RequestMethod, code int, reason, where string) error {
	class, failed := ClassifyStatus(method, code, reason)
	if !failed {
		return nil
	}
	e := &report.Error{
		Class:  class,
		Code:   code,
		Op:     op,
		Detail: fmt.Sprintf("%d %s from %s", code, reason, where),
	}
	if code == 403 && foreignDomain(reason) {
		e.Cause = report.CauseForeignDomain
	}
	return e
}

// errRefused is the cause a UDP transaction is cancelled with when the target
// answered with ICMP port/host unreachable.
type errRefused struct{ errno syscall.Errno }

func (e errRefused) Error() string { return e.errno.Error() }
func (e errRefused) Unwrap() error { return e.errno }

// SendError classifies an error from sending a request to where (no final
// response arrived). timeout is the per-transaction limit, named in the detail.
//
//	deadline exceeded, transaction timeout  -> Timeout "no answer from ADDR/TR within D"
//	certificate not accepted (tls)          -> Transport "certificate of ADDR/tls not trusted: PROBLEM"
//	not TLS from the peer (tls)             -> Transport "ADDR/tls does not speak TLS ..."
//	connection refused (TCP RST, ICMP)      -> Transport "connection refused by ADDR/TR"
//	host/network unreachable                -> Transport "ADDR/TR unreachable"
//	connection reset/closed, write failure  -> Transport "connection to ADDR/TR lost" / "sending to ADDR/TR failed"
//	request too large for UDP               -> Transport
//	caller cancelled                        -> Canceled
//
// An error that already is a *report.Error is returned as is. It is a pure function.
func SendError(op string, err error, where string, timeout time.Duration) error {
	var re *report.Error
	if errors.As(err, &re) {
		return err
	}
	e := &report.Error{Op: op, Err: err, Class: report.Transport}
	var nerr net.Error
	switch {
	case report.CertificateProblem(err) != "":
		// PROBLEM is one of report's Cert* words; the x509 cause (kept, as
		// Diagnosis reads it) tells the particulars: names, dates. The wrappers
		// around it ("TLS handshake error: tls: failed to verify certificate")
		// add nothing.
		e.Detail = "certificate of " + where + " not trusted: " + report.CertificateProblem(err)
		if cv, ok := errors.AsType[*tls.CertificateVerificationError](err); ok && cv.Err != nil {
			e.Err = cv.Err
		}
	case isRecordHeaderError(err):
		e.Detail = where + " does not speak TLS (a plain tcp port?)"
		e.Cause = report.CauseNotTLS
	case strings.Contains(err.Error(), "TLS handshake") && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		// sipgo wraps handshake failures in text only. A peer that hangs up on
		// a ClientHello is a plain SIP port (which cannot parse it) or a TLS
		// server refusing this client.
		e.Detail = "TLS handshake with " + where + " failed: the peer closed the connection (not a TLS port, or it refused this client)"
		e.Cause = report.CauseNotTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Detail = "connection refused by " + where
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN):
		e.Detail = where + " unreachable"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		e.Detail = "connection to " + where + " lost"
	case errors.Is(err, sip.ErrUDPMTUCongestion):
		e.Detail = fmt.Sprintf("request too large for udp to %s (over %d bytes): use tcp", where, sip.UDPMTUSize-200)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, sip.ErrTransactionTimeout),
		errors.As(err, &nerr) && nerr.Timeout():
		e.Class = report.Timeout
		e.Detail = fmt.Sprintf("no answer from %s within %s", where, timeout)
		e.Err = nil // "context deadline exceeded" adds nothing for people
	case errors.Is(err, context.Canceled):
		e.Class = report.Canceled
		e.Detail = "cancelled before " + where + " answered"
		e.Err = nil
	default:
		e.Detail = "sending to " + where + " failed"
	}
	if e.Err != nil && e.Class == report.Transport && report.CertificateProblem(err) == "" {
		e.Err = plainCause(e.Err)
	}
	return e
}

// plainCause is the system's words for a transport failure ("connect: connection
// refused", "EOF"), without the SIP library's wrappers around them ("client
// transcation failed to request connection: Transport<TCP> dial err=dial tcp
// <nil>->..."): the detail already names the address and transport.
func plainCause(err error) error {
	if se, ok := errors.AsType[*os.SyscallError](err); ok {
		return se
	}
	if ope, ok := errors.AsType[*net.OpError](err); ok && ope.Err != nil {
		return ope.Err
	}
	for _, target := range []error{io.EOF, syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNREFUSED, net.ErrClosed} {
		if errors.Is(err, target) {
			return target
		}
	}
	return err
}

// isRecordHeaderError reports whether err says the peer answered the TLS
// handshake with something that is not TLS.
func isRecordHeaderError(err error) bool {
	_, ok := errors.AsType[tls.RecordHeaderError](err)
	return ok
}

// foreignDomain reports whether a 403's reason phrase says the server does not serve
// the request's domain ("Not relaying", "Forbidden Domain").
func foreignDomain(reason string) bool {
	r := strings.ToLower(reason)
	return strings.Contains(r, "relay") || strings.Contains(r, "domain")
}
