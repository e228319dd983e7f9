package server

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// foldStream is three messages as a client may send them on one connection:
// a keep-alive, a REGISTER whose Authorization is folded (as pidgin-sipe sends
// it), an INVITE whose SDP body ends in CRLF, and a MESSAGE in compact form.
const foldStream = "\r\n\r\n" +
	"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK1\r\nFrom: <sip:a@example.test>;tag=1\r\n" +
	"To: <sip:a@example.test>\r\nCall-ID: 1\r\nCSeq: 2 REGISTER\r\n" +
	"Authorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\",\r\n targetname=\"x\",\r\n\tgssapi-data=\"\"\r\nContent-Length: 0\r\n\r\n" +
	"INVITE sip:chat@example.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK2\r\nFrom: <sip:a@example.test>;tag=1\r\n" +
	"To: <sip:chat@example.test>\r\nCall-ID: 2\r\nCSeq: 3 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 13\r\n\r\nv=0\r\ns=chat\r\n" +
	"MESSAGE sip:room@example.test SIP/2.0\r\nv: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK3\r\nf: <sip:a@example.test>;tag=1\r\n" +
	"t: <sip:room@example.test>\r\ni: 3\r\nCSeq: 4 MESSAGE\r\nl: 5\r\n\r\nhello"

// TestFoldHoldEverySplit: whatever two reads the stream arrives in, sipgo's
// stream parser behind foldHold gets the three messages whole, the folded
// Authorization included (without foldHold, a read ending just before the
// continuation line fails to parse: sipgo v1.7.3).
func TestFoldHoldEverySplit(t *testing.T) {
	data := []byte(foldStream)
	for cut := 0; cut <= len(data); cut++ {
		chunks := [][]byte{data[:cut], data[cut:]}
		var h foldHold
		ps := sip.NewParser().NewSIPStream()
		var got []sip.Message
		buf := make([]byte, 4096)
		for _, c := range chunks {
			n, err := h.read(func(b []byte) (int, error) { return copy(b, c), nil }, buf)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				continue
			}
			err = ps.ParseSIPStream(buf[:n], func(m sip.Message) { got = append(got, m) })
			if err != nil && err != sip.ErrParseSipPartial {
				t.Fatalf("split at %d: %v", cut, err)
			}
		}
		if len(got) != 3 {
			t.Fatalf("split at %d: %d messages; want 3 (and nothing held: %t)", cut, len(got), h.held)
		}
		auth := got[0].(*sip.Request).GetHeader("Authorization")
		if auth == nil || auth.Value() != `NTLM qop="auth", realm="SIP Communications Service", targetname="x", gssapi-data=""` {
			t.Fatalf("split at %d: Authorization %v", cut, auth)
		}
		if string(got[1].Body()) != "v=0\r\ns=chat\r\n" || string(got[2].Body()) != "hello" {
			t.Fatalf("split at %d: bodies %q %q", cut, got[1].Body(), got[2].Body())
		}
		if h.held {
			t.Fatalf("split at %d: a CRLF still held after whole messages", cut)
		}
	}
}
