package server

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
)

// FuzzHandle feeds raw SIP bytes, parsed by sipgo's parser as the transport would,
// to the request handler: first as is (auth in front), then straight to the room
// front end as an authenticated user. Every request but ACK must get exactly one
// final response, and nothing may panic.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:user0001@example.test>;tag=1\r\nTo: <sip:user0001@example.test>\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\nContact: <sip:user0001@127.0.0.1:5070>\r\nAuthorization: Digest username=\"user0001\", realm=\"example.test\", nonce=\"AAAA\", uri=\"sip:example.test\", response=\"00\", qop=auth, nc=00000001, cnonce=\"x\"\r\nContent-Length: 0\r\n\r\n",
		"MESSAGE sip:room001@conf.example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\nFrom: <sip:user0001@example.test>;tag=1\r\nTo: <sip:room001@conf.example.test>\r\nCall-ID: b\r\nCSeq: 2 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n#join",
		"MESSAGE sip:room001@conf.example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK3\r\nFrom: <sip:user0001@example.test>;tag=1\r\nTo: <sip:room001@conf.example.test>\r\nCall-ID: c\r\nCSeq: 3 MESSAGE\r\nContent-Length: 8\r\n\r\n#exit x@",
		"MESSAGE sip:room001@conf.example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK4\r\nFrom: <sip:user0001@example.test>;tag=1\r\nTo: <sip:room001@conf.example.test>\r\nCall-ID: d\r\nCSeq: 4 MESSAGE\r\nContent-Length: 2\r\n\r\nhi",
		"MESSAGE sip:user0002@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK5\r\nFrom: <sip:user0001@example.test>;tag=1\r\nTo: <sip:user0002@example.test>\r\nCall-ID: e\r\nCSeq: 5 MESSAGE\r\nProxy-Authorization: Digest garbage\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK6\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: f\r\nCSeq: 6 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"INVITE tel:+123 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK7\r\nCSeq: 7 INVITE\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	s, err := New(Config{Users: GeneratedUsers(2, ""), Generated: true, Rooms: 2, Listen: []string{"udp:127.0.0.1:0"}})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Start(f.Context()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	acct := s.byUser["user0001"]

	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		// The transaction layer answers 400 itself when it cannot key a request.
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return
		}
		req.SetTransport("UDP")
		req.SetSource("127.0.0.1:5070")
		check := func(stage string, tx *siptest.ServerTxRecorder) {
			if n := len(tx.Result()); req.Method != sip.ACK && n != 1 {
				t.Errorf("%s: %d responses to %q, want 1", stage, n, data)
			}
		}
		tx := siptest.NewServerTxRecorder(req.Clone())
		s.serve(req.Clone(), tx)
		check("serve", tx)
		if req.Method == sip.MESSAGE && req.From() != nil && req.To() != nil && req.CallID() != nil && req.CSeq() != nil {
			tx := siptest.NewServerTxRecorder(req.Clone())
			s.roomRequest(req.Clone(), tx, acct)
			check("room", tx)
		}
	})
}
