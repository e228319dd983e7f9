package sipua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/report"
)

func TestClassifyStatus(t *testing.T) {
	cases := []struct {
		method sip.RequestMethod
		code   int
		reason string
		want   report.Class
		failed bool
	}{
		{sip.MESSAGE, 200, "OK", report.Other, false},
		{sip.REGISTER, 202, "Accepted", report.Other, false},
		{sip.REGISTER, 401, "Unauthorized", report.Auth, true}, // after a fresh challenge
		{sip.MESSAGE, 407, "Proxy Authentication Required", report.Auth, true},
		{sip.REGISTER, 403, "Forbidden", report.Auth, true},                    // a registrar's 403 is about the credentials
		{sip.MESSAGE, 403, "Auth User Mismatch", report.Auth, true},            // Kamailio auth rc -8
		{sip.MESSAGE, 403, "Not A Member Of This Room", report.Rejected, true}, // imc rc -200
		{sip.MESSAGE, 403, "Forbidden Domain", report.Rejected, true},          // policy, not credentials
		{sip.REGISTER, 403, "Forbidden Domain", report.Rejected, true},         // Kamailio: a domain it does not serve
		{sip.REGISTER, 403, "Not relaying", report.Rejected, true},             // the embedded server's word for it
		{sip.REGISTER, 404, "User Not Found", report.NotFound, true},           // unknown user
		{sip.MESSAGE, 404, "Not Found", report.NotFound, true},                 // unknown recipient
		{sip.MESSAGE, 500, "Chat Command Failed", report.Rejected, true},       // imc command failed
		{sip.MESSAGE, 400, "Bad Command", report.Rejected, true},               // imc rc -20
		{sip.MESSAGE, 302, "Moved Temporarily", report.Rejected, true},         // we do not follow redirects
		{sip.MESSAGE, 503, "Service Unavailable", report.Rejected, true},       // overload
		{sip.MESSAGE, 603, "Decline", report.Rejected, true},                   // global failure
		{sip.MESSAGE, 180, "Ringing", report.Protocol, true},                   // not a final status
		{sip.MESSAGE, 999, "Weird", report.Protocol, true},                     // not a SIP status
	}
	for _, c := range cases {
		got, failed := ClassifyStatus(c.method, c.code, c.reason)
		if got != c.want || failed != c.failed {
			t.Errorf("ClassifyStatus(%s, %d %s) = %s, %v; want %s, %v", c.method, c.code, c.reason, got, failed, c.want, c.failed)
		}
	}
}

func TestStatusError(t *testing.T) {
	res := sip.NewResponse(404, "User Not Found")
	err := StatusError("register", sip.REGISTER, res, "127.0.0.1:5090/udp")
	var e *report.Error
	if !errors.As(err, &e) {
		t.Fatalf("StatusError = %v; want a *report.Error", err)
	}
	if e.Class != report.NotFound || e.Code != 404 || e.Op != "register" || e.Detail != "404 User Not Found from 127.0.0.1:5090/udp" {
		t.Errorf("StatusError = %+v; want not-found 404 with the status line and where", e)
	}
	if err := StatusError("send", sip.MESSAGE, sip.NewResponse(200, "OK"), "x"); err != nil {
		t.Errorf("StatusError(200) = %v; want nil", err)
	}
}

func TestSendError(t *testing.T) {
	const where = "127.0.0.1:5099/udp"
	opErr := func(e error) error { return &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("write", e)} }
	cases := []struct {
		name   string
		err    error
		class  report.Class
		detail string
	}{
		{"ctx deadline", context.DeadlineExceeded, report.Timeout, "no answer from " + where + " within 5s"},
		{"sipgo timer B/F", fmt.Errorf("Timer_B timed out. %w", sip.ErrTransactionTimeout), report.Timeout, "no answer from " + where},
		{"dial i/o timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, report.Timeout, "no answer from " + where},
		{"ICMP refused (cause)", errRefused{syscall.ECONNREFUSED}, report.Transport, "connection refused by " + where},
		{"TCP RST on dial", fmt.Errorf("dial err=%w", opErr(syscall.ECONNREFUSED)), report.Transport, "connection refused by " + where},
		{"host unreachable", opErr(syscall.EHOSTUNREACH), report.Transport, where + " unreachable"},
		{"reset", fmt.Errorf("x: %w", opErr(syscall.ECONNRESET)), report.Transport, "connection to " + where + " lost"},
		{"connection closed", fmt.Errorf("connection closed: %w", io.EOF), report.Transport, "connection to " + where + " lost"},
		{"too big for udp", sip.ErrUDPMTUCongestion, report.Transport, "too large for udp"},
		{"sipgo transport", fmt.Errorf("x. %w", sip.ErrTransactionTransport), report.Transport, "sending to " + where + " failed"},
		{"caller cancelled", context.Canceled, report.Canceled, "cancelled"},
	}
	for _, c := range cases {
		err := SendError("send", c.err, where, 5*time.Second)
		var e *report.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: SendError = %v; want a *report.Error", c.name, err)
			continue
		}
		if e.Class != c.class || !strings.Contains(e.Detail, c.detail) || e.Op != "send" {
			t.Errorf("%s: SendError = class %s detail %q; want class %s detail containing %q", c.name, e.Class, e.Detail, c.class, c.detail)
		}
	}
	// An already classified error passes through.
	in := report.Errorf(report.Auth, "x", 401, "y")
	if got := SendError("send", in, where, time.Second); got != error(in) {
		t.Errorf("SendError(*report.Error) = %v; want it unchanged", got)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestValidCallID(t *testing.T) {
	for s, want := range map[string]bool{
		"abc123":                  true,
		"msg///1-31947@127.0.0.1": true,
		"run1-s2-42":              true,
		"":                        false,
		"has space":               false,
		"two@at@signs":            false,
		"@leading":                false,
		"line\nbreak":             false,
	} {
		if got := ValidCallID(s); got != want {
			t.Errorf("ValidCallID(%q) = %v; want %v", s, got, want)
		}
	}
}
