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

// TestDiagnosisTypedCause: the Persistent Chat diagnoses come from the cause and
// code kind the driver set on its *report.Error, not from the error's text: the
// words alone diagnose nothing, the cause alone does.
func TestDiagnosisTypedCause(t *testing.T) {
	cfg := engine.ProbeConfig{Sender: engine.User{URI: alice}, Receiver: engine.User{URI: bob}}
	cases := []struct {
		name string
		err  *report.Error
		step string
		want string
		not  string
	}{
		{"no chat server by cause", &report.Error{Class: report.Rejected, Code: 404, Op: "connect", Cause: report.CauseNoChatServer},
			engine.StepLogonSender, "no chat server answers the chat URI", ""},
		{"no chat server in words only", &report.Error{Class: report.Rejected, Code: 404, Op: "connect", Detail: "CHAT_SERVER_NOT_FOUND"},
			engine.StepLogonSender, "", "no chat server answers"},
		{"not enabled by cause", &report.Error{Class: report.Rejected, Op: "connect", Cause: report.CauseNotChatEnabled},
			engine.StepLogonReceiver, "not enabled for Persistent Chat", ""},
		{"reply code", &report.Error{Class: report.Rejected, Code: 403, CodeKind: report.CodeReply, Op: "join"},
			engine.StepJoinSender, "XCCOS reply code 403", ""},
		{"SIP status", &report.Error{Class: report.Rejected, Code: 403, Op: "join", Detail: "rpl: in a SIP reason"},
			engine.StepJoinSender, "SIP 403", "XCCOS"},
	}
	for _, c := range cases {
		d := engine.ProbeResult{FailedStep: c.step, Err: c.err, Room: "sip:room@conf.example.test"}.Diagnosis(cfg, "127.0.0.1:5060/udp")
		if c.want != "" && !strings.Contains(d, c.want) {
			t.Errorf("%s: Diagnosis = %q; want it to contain %q", c.name, d, c.want)
		}
		if c.not != "" && strings.Contains(d, c.not) {
			t.Errorf("%s: Diagnosis = %q; want it without %q", c.name, d, c.not)
		}
	}
}
