package server

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// TestSIPEProvisioningPath: what a pool answers that SIPE (pidgin-sipe) needs
// before it will look for Persistent Chat. The registrar's 200 echoes
// Supported: msrtc-event-categories when the client lists it (SIPE's test for
// an OCS 2007+ pool, the only kind it asks for provisioning-v2), and not
// otherwise; the provisioning 200 is a piggy-backed first NOTIFY (Event,
// subscription-state, ms-piggyback-cseq) only for a client that supports
// ms-piggyback-first-notify, whose body names the pool.
func TestSIPEProvisioningPath(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.Listen = []string{"tcp:127.0.0.1:0"} })
	u := newTestUA(t, s, "tcp", s.Users()[0])
	register := func(supported string) *sip.Response {
		return u.send(func() *sip.Request {
			req := u.registerRequest(300)
			if supported != "" {
				req.AppendHeader(sip.NewHeader("Supported", supported))
			}
			return req
		})
	}
	hasTag := func(res *sip.Response, tag string) bool {
		for _, h := range res.GetHeaders("Supported") {
			for _, v := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(v), tag) {
					return true
				}
			}
		}
		return false
	}
	if res := register(""); res.StatusCode != 200 || hasTag(res, "msrtc-event-categories") {
		t.Fatalf("REGISTER without the tag: %d, Supported %q; want 200 without msrtc-event-categories", res.StatusCode, header(res, "Supported"))
	}
	if res := register("gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence"); res.StatusCode != 200 || !hasTag(res, "msrtc-event-categories") {
		t.Fatalf("REGISTER as SIPE: %d, Supported %q; want 200 with msrtc-event-categories", res.StatusCode, header(res, "Supported"))
	}

	subscribe := func(piggyback bool) *sip.Response {
		return u.send(func() *sip.Request {
			req := u.request(sip.SUBSCRIBE, u.user.URI, u.user.URI, "")
			req.AppendHeader(sip.NewHeader("Event", codec.ProvisioningEvent))
			req.AppendHeader(sip.NewHeader("Expires", "0"))
			if piggyback {
				req.AppendHeader(sip.NewHeader("Supported", "com.microsoft.autoextend"))
				req.AppendHeader(sip.NewHeader("Supported", "ms-piggyback-first-notify"))
			}
			return req
		})
	}
	res := subscribe(false)
	if res.StatusCode != 200 || header(res, "ms-piggyback-cseq") != "" || header(res, "Event") != "" {
		t.Fatalf("SUBSCRIBE without piggyback support: %d, ms-piggyback-cseq %q, Event %q; want 200 and neither", res.StatusCode, header(res, "ms-piggyback-cseq"), header(res, "Event"))
	}
	res = subscribe(true)
	if res.StatusCode != 200 || header(res, "ms-piggyback-cseq") == "" || header(res, "Event") != codec.ProvisioningEvent ||
		!strings.HasPrefix(header(res, "subscription-state"), "terminated") {
		t.Fatalf("SUBSCRIBE as SIPE: %d, ms-piggyback-cseq %q, Event %q, subscription-state %q; want 200, a cseq, Event %s, terminated",
			res.StatusCode, header(res, "ms-piggyback-cseq"), header(res, "Event"), header(res, "subscription-state"), codec.ProvisioningEvent)
	}
	props, err := codec.ParseProvisioning(res.Body(), codec.PChatGroup)
	if err != nil || props[codec.PropDefaultPChatPool] != "sip:"+PChatPoolUser+"@example.test" || props[codec.PropEnablePChat] != "true" {
		t.Fatalf("provisioning body %q: %v %v; want the pool, enabled", res.Body(), props, err)
	}
}
