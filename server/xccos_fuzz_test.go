package server

import (
	"errors"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// FuzzServerInfo feeds random bodies to the XCCOS front end as INFOs on a live
// dialog that has joined room001: nothing may panic and every INFO gets
// exactly one final response. The server's own INFOs go nowhere (no network).
func FuzzServerInfo(f *testing.F) {
	room := codec.Room{Domain: DefaultDomain, ID: roomID("room001")}
	for _, seed := range []string{
		`<xccos ver="1" envid="1" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:requri" seqid="1"><data/></cmd></xccos>`,
		`<xccos ver="1" envid="2" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:chansrch" seqid="1"><data><qib qtype="BYNAME" criteria="room" extended="false"/></data></cmd></xccos>`,
		`<xccos ver="1" envid="3" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:bjoin" seqid="1"><data><chanid key="0" domain="example.test" value="` + room.ID + `"/><chanid key="1" domain="example.test" value="x"/></data></cmd></xccos>`,
		`<xccos ver="1" envid="4" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="` + room.String() + `" author="sip:user0001@example.test" ts="2024-05-01T12:00:00Z"><chat>hi</chat></grpchat></xccos>`,
		`<xccos ver="1" envid="5" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:bccontext" seqid="1"><data><chanib uri="` + room.String() + `"/><bcq><last cnt="25"/></bcq></data></cmd></xccos>`,
		`<xccos ver="1" envid="6" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:part" seqid="1"><data><chanib uri="` + room.String() + `"/></data></cmd></xccos>`,
		`<xccos ver="1" envid="7" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:nosuch" seqid="1"/></xccos>`,
		`<xccos`, ``,
	} {
		f.Add([]byte(seed))
	}
	s, err := New(Config{Users: GeneratedUsers(2, ""), Generated: true, Rooms: 2, Listen: []string{"udp:127.0.0.1:0"}})
	if err != nil {
		f.Fatal(err)
	}
	s.copyTx = func(*sip.Request, binding) (sip.ClientTransaction, error) {
		return nil, errors.New("no network in this test")
	}
	if err := s.Start(f.Context()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	p := s.pc
	aor := sip.Uri{Scheme: "sip", User: "user0001", Host: DefaultDomain}
	// live makes sure the dialog exists: the server drops it when its own
	// INFO cannot be sent, which is always here.
	live := func() {
		p.mu.Lock()
		d := p.dialogs["fuzz"]
		p.mu.Unlock()
		if d != nil {
			return
		}
		d = &pdialog{callID: "fuzz", localTag: "l", remoteTag: "r", user: "user0001", aor: aor,
			b:   binding{contact: aor, transport: "udp", dest: "127.0.0.1:9", laddr: s.Addr("udp")},
			out: make(chan codec.Item, pchatQueue), rooms: map[*proom]struct{}{}, ended: make(chan struct{})}
		p.mu.Lock()
		p.dialogs[d.callID] = d
		p.mu.Unlock()
		s.spawn(func() { p.sender(d) })
		p.command(d, 1, codec.NewJoin(room))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		live()
		req := sip.NewRequest(sip.INFO, sip.Uri{Scheme: "sip", User: PChatPoolUser, Host: DefaultDomain})
		req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: "r"}}})
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: PChatPoolUser, Host: DefaultDomain}, Params: sip.HeaderParams{{K: "tag", V: "l"}}})
		cid := sip.CallIDHeader("fuzz")
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.INFO})
		req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5070,
			Params: sip.HeaderParams{{K: "branch", V: "z9hG4bKfuzz"}}})
		req.SetBody(body)
		req.SetTransport("UDP")
		req.SetSource("127.0.0.1:5070")
		tx := siptest.NewServerTxRecorder(req)
		s.serve(req, tx)
		if n := len(tx.Result()); n != 1 {
			t.Errorf("%d responses to an INFO with %q; want 1", n, body)
		}
	})
}
