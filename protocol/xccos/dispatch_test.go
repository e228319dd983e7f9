package xccos

import (
	"github.com/chatload/chatload/protocol/xccos/codec"
	"log/slog"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestDispatchByName: a reply without envid goes to the oldest command of its
// name still unanswered; a reply with the envid of a command always reaches
// that command, taking the place of a reply given it by name, which then
// moves on to the next command of that name; nothing reaches a command of
// another name.
func TestDispatchByName(t *testing.T) {
	s := &session{d: &Driver{log: slog.New(slog.DiscardHandler)}, waiters: map[uint64]*waiter{}}
	for env, name := range map[uint64]string{10: codec.NameJoin, 11: codec.NameJoin, 12: codec.NamePart} {
		s.waiters[env] = &waiter{name: name, ch: make(chan codec.Reply, 1)}
	}
	join := codec.Command{Name: codec.NameJoin, SeqID: "1"}
	byName := codec.NewReply(0, join, codec.CodeOK, codec.Data{})
	byName.Text = "by name"
	s.dispatch(byName)
	if w := s.waiters[10]; len(w.ch) != 1 || !w.byName {
		t.Fatalf("the reply without envid did not go to the oldest join")
	}
	strict := codec.NewReply(10, join, codec.CodeNoSuchNode, codec.Data{})
	s.dispatch(strict)
	if r := <-s.waiters[10].ch; r.CommandEnvID != 10 {
		t.Errorf("command 10 got %+v; want its own reply (envid 10)", r)
	}
	if r := <-s.waiters[11].ch; r.Text != "by name" {
		t.Errorf("command 11 got %+v; want the reply by name moved on to it", r)
	}
	if len(s.waiters[12].ch) != 0 {
		t.Error("a part command got a join reply")
	}
	s.dispatch(codec.NewReply(99, join, codec.CodeOK, codec.Data{})) // nobody's: dropped, nothing blocks
	s.dispatch(codec.NewReply(0, codec.Command{Name: codec.NameBJoin}, codec.CodeOK, codec.Data{}))
	if len(s.waiters[12].ch) != 0 {
		t.Error("an unmatched reply reached a command")
	}
}

// TestOffersEvent: in-band provisioning is asked for only when the
// registrar's 200 lists it in Allow-Events (several headers, lists, any case).
func TestOffersEvent(t *testing.T) {
	res := sip.NewResponse(200, "OK")
	if offersEvent(res, codec.ProvisioningEvent) {
		t.Error("no Allow-Events: offered")
	}
	res.AppendHeader(sip.NewHeader("Allow-Events", "presence, vnd-microsoft-roaming-self"))
	if offersEvent(res, codec.ProvisioningEvent) {
		t.Error("other events: offered")
	}
	res.AppendHeader(sip.NewHeader("Allow-Events", "benotify, VND-Microsoft-Provisioning-V2"))
	if !offersEvent(res, codec.ProvisioningEvent) {
		t.Error("listed in a second Allow-Events: not offered")
	}
}
