package sipua

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestInbox: incoming MESSAGEs over UDP are answered 200 in the read loop and
// handed to their Account once; a retransmission gets the same 200 again and
// is not handed on; OPTIONS is answered only; a request without an RFC 3261
// branch is left to sipgo, which answers and delivers it too.
func TestInbox(t *testing.T) {
	target, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	ua := newUA(t, Config{Target: target.LocalAddr().String(), Transport: "udp"})
	got := make(chan string, 10)
	if _, err := ua.NewAccount("sip:alice@example.test", "alice", "pw", func(req *sip.Request) { got <- string(req.Body()) }); err != nil {
		t.Fatal(err)
	}
	dest, err := net.ResolveUDPAddr("udp", ua.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	request := func(method, branch, body string) []byte {
		return fmt.Appendf(nil, "%s sip:alice@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\n"+
			"From: <sip:room001@conf.example.test>;tag=f1\r\nTo: <sip:alice@example.test>\r\nCall-ID: c-%s\r\n"+
			"CSeq: 1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
			method, ua.LocalAddr(), target.LocalAddr(), branch, branch, method, len(body), body)
	}
	exchange := func(b []byte) *sip.Response {
		t.Helper()
		if _, err := target.WriteTo(b, dest); err != nil {
			t.Fatal(err)
		}
		_ = target.SetReadDeadline(time.Now().Add(guard))
		buf := make([]byte, 65535)
		n, _, err := target.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			t.Fatalf("answer does not parse: %v\n%s", err, buf[:n])
		}
		res, ok := msg.(*sip.Response)
		if !ok || res.StatusCode != 200 {
			t.Fatalf("answer %q; want 200", buf[:n])
		}
		return res
	}
	delivered := func(want string) {
		t.Helper()
		select {
		case b := <-got:
			if b != want {
				t.Fatalf("delivered %q; want %q", b, want)
			}
		case <-time.After(guard):
			t.Fatalf("%q not delivered", want)
		}
	}

	first := request("MESSAGE", "z9hG4bKaaa", "one")
	r1 := exchange(first)
	tag1, _ := r1.To().Params.Get("tag")
	if tag1 == "" || r1.CallID().Value() != "c-z9hG4bKaaa" || !strings.Contains(r1.Via().String(), "branch=z9hG4bKaaa") {
		t.Errorf("200 = %s; want the request's Via and Call-ID, and a To tag", r1.String())
	}
	delivered("one")
	r2 := exchange(first) // a retransmission
	if tag2, _ := r2.To().Params.Get("tag"); tag2 != tag1 {
		t.Errorf("retransmission answered with To tag %q; want the first one %q", tag2, tag1)
	}
	exchange(request("OPTIONS", "z9hG4bKbbb", ""))
	exchange(request("MESSAGE", "z9hG4bKccc", "two"))
	delivered("two") // read loop order: the retransmission and OPTIONS handed nothing on
	exchange(request("MESSAGE", "old-style-branch", "three"))
	delivered("three") // by sipgo
	select {
	case b := <-got:
		t.Errorf("unexpected delivery %q", b)
	default:
	}
}

// The record of answered requests forgets them after Timer J.
func TestInboxExpire(t *testing.T) {
	in := newInbox(nil, "", 0)
	for i, exp := range []int64{10, 20, 30} {
		k := fmt.Sprint(i)
		in.seen[k] = struct{}{}
		in.order = append(in.order, seenEntry{key: k, exp: exp})
	}
	in.expire(20)
	if _, ok := in.seen["1"]; ok || len(in.seen) != 1 {
		t.Errorf("after 20: seen %v; want only the one expiring at 30", in.seen)
	}
	in.expire(30)
	if len(in.seen) != 0 || len(in.order) != 0 {
		t.Errorf("after 30: seen %v, order %v; want both empty", in.seen, in.order)
	}
	if tag := toTag("k"); tag != toTag("k") || tag == toTag("l") || !bytes.Equal([]byte(tag), bytes.ToLower([]byte(tag))) {
		t.Errorf("toTag: %q", tag)
	}
}
