package server

import (
	"errors"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// TestPChatSessionExpiry: a dialog whose client sends nothing for the
// Session-Expires interval is ended (and leaves its rooms).
func TestPChatSessionExpiry(t *testing.T) {
	s, err := New(Config{Users: GeneratedUsers(1, ""), Generated: true, Rooms: 1, Listen: []string{"udp:127.0.0.1:0"},
		PChat: PChatConfig{SessionExpires: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s.copyTx = func(*sip.Request, binding) (sip.ClientTransaction, error) {
		return nil, errors.New("no network in this test")
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.pc
	aor := sip.Uri{Scheme: "sip", User: "user0001", Host: DefaultDomain}
	d := &pdialog{callID: "idle", localTag: "l", remoteTag: "r", user: "user0001", aor: aor,
		b:   binding{contact: aor, transport: "udp", dest: "127.0.0.1:9", laddr: s.Addr("udp")},
		out: make(chan codec.Item, pchatQueue), rooms: map[*proom]struct{}{}, ended: make(chan struct{})}
	d.seen.Store(s.now().UnixNano())
	p.mu.Lock()
	p.dialogs[d.callID] = d
	p.mu.Unlock()
	s.spawn(func() { p.sender(d) })
	select {
	case <-d.ended:
	case <-time.After(3 * time.Second):
		t.Fatal("an idle dialog was not ended within 3s of a 200ms Session-Expires")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dialogs["idle"] != nil {
		t.Error("the expired dialog is still listed")
	}
}
