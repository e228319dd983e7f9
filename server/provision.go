package server

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// In-band provisioning for Lync 2013 clients (note §1.1): a SUBSCRIBE to the
// user's own AoR for vnd-microsoft-provisioning-v2 is answered 200 with the
// persistentChatConfiguration group naming the pool (Expires: 0: the answer
// is all there is, no NOTIFY follows). Other events get 489 Bad Event.

// subscribe answers an authenticated SUBSCRIBE.
func (s *Server) subscribe(req *sip.Request, tx sip.ServerTransaction, a *account) {
	ev := ""
	if h := req.GetHeader("Event"); h != nil {
		ev, _, _ = strings.Cut(h.Value(), ";")
		ev = strings.TrimSpace(ev)
	}
	if !strings.EqualFold(ev, codec.ProvisioningEvent) {
		s.respond(req, tx, 489, "Bad Event", sip.NewHeader("Allow-Events", codec.ProvisioningEvent))
		return
	}
	enabled := "true"
	if s.pc.isDenied(a.user) {
		enabled = "false"
	}
	body := codec.ProvisioningAnswer(codec.PChatGroup,
		codec.PropEnablePChat, enabled,
		codec.PropDefaultPChatPool, s.pc.pool,
		codec.PropPChatPools, s.pc.pool)
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", body)
	res.AppendHeader(sip.NewHeader("Server", userAgent))
	exp := sip.ExpiresHeader(0)
	res.AppendHeader(&exp)
	ct := sip.ContentTypeHeader(codec.ProvisioningType)
	res.AppendHeader(&ct)
	if supports(req, tagPiggybackNotify) {
		// The answer is the first NOTIFY carried in the 200, as a front end
		// does for a client that supports it: SIPE reads a 200's body only
		// when ms-piggyback-cseq is there, and files it by the Event header.
		res.AppendHeader(sip.NewHeader("Event", codec.ProvisioningEvent))
		res.AppendHeader(sip.NewHeader("subscription-state", "terminated;expires=0"))
		res.AppendHeader(sip.NewHeader("ms-piggyback-cseq", "1"))
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "request", req.StartLine(), "error", err)
	}
}
