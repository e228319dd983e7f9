package sipua

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestOKResponse: the 200 to an incoming MESSAGE carries what RFC 3261 section
// 8.2.6.2 asks for (Vias in order, From, Call-ID, CSeq, To with a tag), fills in
// rport/received (RFC 3581) on the top Via only, and leaves the request as it was.
func TestOKResponse(t *testing.T) {
	raw := "MESSAGE sip:alice@192.0.2.10:5070 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-top;rport\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.2:5062;branch=z9hG4bK-second;rport\r\n" +
		"Record-Route: <sip:192.0.2.1;lr>\r\n" +
		"From: <sip:room001@conf.example.test>;tag=from-tag\r\n" +
		"To: <sip:alice@example.test>\r\n" +
		"Call-ID: call-1@example.test\r\n" +
		"CSeq: 10 MESSAGE\r\n" +
		"Supported: kamailio/imc\r\n" +
		"In-Reply-To: orig-call\r\n" +
		"Content-Type: text/plain\r\n" +
		"Content-Length: 5\r\n\r\nhello"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	req.SetSource("192.0.2.1:5060")
	req.SetTransport("UDP")
	before := req.String()

	res := okResponse(req)
	if res.StatusCode != 200 || res.Reason != "OK" {
		t.Fatalf("status %d %s; want 200 OK", res.StatusCode, res.Reason)
	}
	var vias []string
	for _, h := range res.GetHeaders("Via") {
		vias = append(vias, h.Value())
	}
	want := []string{
		"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-top;rport=5060;received=192.0.2.1",
		"SIP/2.0/UDP 192.0.2.2:5062;branch=z9hG4bK-second;rport",
	}
	if strings.Join(vias, "|") != strings.Join(want, "|") {
		t.Errorf("Vias %q; want %q", vias, want)
	}
	if got := res.From().Value(); got != "<sip:room001@conf.example.test>;tag=from-tag" {
		t.Errorf("From %q", got)
	}
	if got := res.CallID().Value(); got != "call-1@example.test" {
		t.Errorf("Call-ID %q", got)
	}
	if got := res.CSeq().Value(); got != "10 MESSAGE" {
		t.Errorf("CSeq %q", got)
	}
	to := res.To()
	if tag, ok := to.Params.Get("tag"); !ok || len(tag) != 16 || to.Address.String() != "sip:alice@example.test" {
		t.Errorf("To %q; want the request's To with a 16-digit tag", to.Value())
	}
	if cl := res.ContentLength(); cl == nil || *cl != 0 {
		t.Errorf("Content-Length %v; want 0", cl)
	}
	for _, name := range []string{"Record-Route", "Supported", "In-Reply-To", "Content-Type"} {
		if res.GetHeader(name) != nil {
			t.Errorf("response carries %s", name)
		}
	}
	if res.Destination() != "192.0.2.1:5060" || res.Transport() != "UDP" {
		t.Errorf("destination %s/%s; want the request's source 192.0.2.1:5060/UDP", res.Destination(), res.Transport())
	}
	if after := req.String(); after != before {
		t.Errorf("request changed by answering it:\n%s\nwas\n%s", after, before)
	}

	// A To that already has a tag (in a dialog) keeps it.
	req.To().Params.Add("tag", "theirs")
	if tag, _ := okResponse(req).To().Params.Get("tag"); tag != "theirs" {
		t.Errorf("To tag %q; want the request's own", tag)
	}
}

func TestNewTag(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tag := newTag()
		if len(tag) != 16 || strings.Trim(tag, "0123456789abcdef") != "" || seen[tag] {
			t.Fatalf("tag %q: want 16 hex digits, unique", tag)
		}
		seen[tag] = true
	}
	id := NewCallID()
	if len(id) != 24 || !ValidCallID(id) || id == NewCallID() {
		t.Errorf("NewCallID() = %q; want 24 hex digits, unique", id)
	}
}
