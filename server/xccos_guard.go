package server

import (
	"log/slog"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// XCCOS dialogs belong to whoever created them. An in-dialog request (INFO,
// BYE, UPDATE, re-INVITE) is served when it comes over the TCP or TLS
// connection the INVITE authenticated on (or from its UDP source address);
// from anywhere else it must carry valid credentials of the dialog's user:
// without them it is challenged, with another user's it is refused 403.
// Knowing a dialog's Call-ID and tags is not enough to post in it or end it.

// owner reports whether req may act on d; when not, it has been answered.
func (p *pchat) owner(req *sip.Request, tx sip.ServerTransaction, d *pdialog) bool {
	s := p.s
	if strings.EqualFold(req.Transport(), d.srcTr) && req.Source() == d.src {
		return true
	}
	if req.GetHeader("Proxy-Authorization") == nil {
		s.stats.inDialogRefused.Add(1)
		s.diag(slog.LevelError, "xccos: in-dialog request from another connection without credentials", "user", d.user, "source", req.Source(), "method", req.Method)
	}
	a := s.authenticate(req, tx) // challenges, or refuses bad credentials
	if a == nil {
		return false
	}
	if a.user != d.user {
		s.stats.inDialogRefused.Add(1)
		s.reject(req, tx, sip.StatusForbidden, "Not The Dialog's Owner")
		return false
	}
	return true
}

// hookConn ends d when the TCP or TLS connection it belongs to closes: nothing
// can reach its client any more, and its rooms must not keep a dead member.
func (p *pchat) hookConn(d *pdialog) {
	if d.srcTr != "tcp" && d.srcTr != "tls" {
		return // UDP: the Session-Expires janitor ends it
	}
	g := p.s.connOf(d.srcTr, d.src)
	if g == nil {
		return
	}
	unhook := g.onClosed(func() {
		p.mu.Lock()
		live := p.dialogs[d.callID] == d
		p.mu.Unlock()
		if live {
			p.s.stats.dialogsClosed.Add(1)
			p.drop(d)
		}
	})
	p.mu.Lock()
	d.unhook = unhook
	p.mu.Unlock()
}

// offer queues a fan-out item (a message, a notice) for member d without
// waiting: a member whose queue is full does not keep up, so it is dropped
// (its dialog ended, its rooms told) rather than holding the room back.
func (p *pchat) offer(d *pdialog, it codec.Item) {
	select {
	case d.out <- it:
		return
	case <-d.ended:
		return
	default:
	}
	if d.dropping.CompareAndSwap(false, true) {
		s := p.s
		s.stats.slowDropped.Add(1)
		s.diag(slog.LevelError, "xccos: member dropped, its queue is full (it does not keep up)", "user", d.user, "queued", len(d.out))
		if !s.spawn(func() { p.drop(d) }) {
			p.drop(d) // closing: nothing to wait for
		}
	}
}
