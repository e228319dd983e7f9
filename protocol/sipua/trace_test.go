package sipua

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	msg := "REGISTER sip:example.test SIP/2.0\r\n" +
		"Authorization: Digest username=\"alice\", realm=\"example.test\", nonce=\"abc\", uri=\"sip:example.test\", response=\"0123456789abcdef0123456789abcdef\", qop=auth, nc=00000001\r\n" +
		"Proxy-Authorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\", targetname=\"fe.example.test\", gssapi-data=\"TlRMTVNTUAADAAAA\", crand=\"5e1f\", cnum=\"1\", response=\"01000000abcd\"\r\n" +
		"authorization: Basic YWxpY2U6c2VjcmV0\r\n" +
		"Authentication-Info: rspauth=\"feedface\", qop=auth\r\n" +
		"Content-Length: 30\r\n\r\n" +
		"response=\"body is not a header\""
	got := string(Redact([]byte(msg)))
	for _, secret := range []string{"0123456789abcdef0123456789abcdef", "TlRMTVNTUAADAAAA", "5e1f", "01000000abcd", "YWxpY2U6c2VjcmV0", "feedface"} {
		if strings.Contains(got, secret) {
			t.Errorf("Redact kept %q:\n%s", secret, got)
		}
	}
	for _, kept := range []string{`username="alice"`, `nonce="abc"`, `targetname="fe.example.test"`, `response="body is not a header"`, "Content-Length: 30"} {
		if !strings.Contains(got, kept) {
			t.Errorf("Redact dropped %q:\n%s", kept, got)
		}
	}
}

func TestTraceBounded(t *testing.T) {
	var b bytes.Buffer
	tr := NewTrace(&b, 300)
	for range 10 {
		tr.Record(true, "UDP", "127.0.0.1:1", "127.0.0.1:2", []byte(strings.Repeat("x", 100)))
	}
	if b.Len() > 300+100 || !strings.Contains(b.String(), "trace stopped") || strings.Count(b.String(), "=== trace stopped") != 1 {
		t.Errorf("%d bytes:\n%s", b.Len(), b.String())
	}
	var nilTrace *Trace
	nilTrace.Record(true, "UDP", "a", "b", nil) // no trace: a no-op
}
