package xccos

import (
	"context"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos/codec"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// provision is the outcome of a domain's provisioning SUBSCRIBE, shared by
// the driver's sessions of that domain.
type provision struct {
	done chan struct{} // closed when pool and why are set
	pool string        // the provisioned chat service; "" when none
	why  string        // how provisioning ended, for logs
}

// chatService returns the chat service to INVITE and where it came from:
// Config.ChatURI, else the pool in-band provisioning names, else
// sip:ocschat@<domain>.
func (s *session) chatService(ctx context.Context) (uri, from string) {
	d := s.d
	if d.cfg.ChatURI != "" {
		return d.cfg.ChatURI, "the configured chat service, --chat-service"
	}
	def := "sip:" + LookupUser + "@" + s.domain
	if d.cfg.NoProvisioning {
		return def, "the default lookup service sip:" + LookupUser + "@<domain>"
	}
	s.mu.Lock()
	offered := s.provOffered
	s.mu.Unlock()
	if !offered {
		return def, "the default lookup service sip:" + LookupUser + "@<domain>; the registrar offers no in-band provisioning (Allow-Events)"
	}
	key := strings.ToLower(s.domain)
	d.provMu.Lock()
	p := d.provisioned[key]
	first := p == nil
	if first {
		p = &provision{done: make(chan struct{})}
		d.provisioned[key] = p
	}
	d.provMu.Unlock()
	if first {
		var perUser bool
		p.pool, p.why, perUser = s.subscribeProvisioning(ctx)
		d.log.Debug("in-band provisioning", "domain", s.domain, "pool", p.pool, "outcome", p.why)
		if perUser {
			// The user's own policy (Persistent Chat not enabled), or a
			// cancelled attempt: the next session of the domain asks itself.
			d.provMu.Lock()
			delete(d.provisioned, key)
			d.provMu.Unlock()
		}
		close(p.done)
	} else {
		select {
		case <-p.done:
		case <-ctx.Done():
			return def, "the default lookup service sip:" + LookupUser + "@<domain> (provisioning still running)"
		}
	}
	if p.pool != "" {
		return p.pool, "from in-band provisioning"
	}
	return def, "the default lookup service sip:" + LookupUser + "@<domain>; in-band provisioning " + p.why
}

// subscribeProvisioning asks for the persistentChatConfiguration and returns
// the pool it names, or "" and why not; perUser when the answer is about the
// user (Persistent Chat not enabled for it), not the domain.
func (s *session) subscribeProvisioning(ctx context.Context) (pool, why string, perUser bool) {
	aor := s.acct.AoR()
	exp := sip.ExpiresHeader(0)
	res, err := s.acct.Do(ctx, "provisioning", sipua.Request{
		Method: sip.SUBSCRIBE, URI: aor, To: &aor, Contact: true,
		Headers: []sip.Header{
			sip.NewHeader("Event", codec.ProvisioningEvent),
			sip.NewHeader("Accept", codec.ProvisioningType),
			sip.NewHeader("Supported", "com.microsoft.autoextend, ms-benotify, ms-piggyback-first-notify"),
			&exp,
		},
		ContentType: codec.ProvisioningType, Body: codec.ProvisioningRequest(codec.PChatGroup),
	})
	if err != nil {
		// Cancelled with the caller's context: nothing was learnt about the
		// domain, the next session asks again. Any other failure (a timeout,
		// an error status) is the registrar's answer and kept.
		c, _ := report.ClassOf(err)
		return "", "failed: " + err.Error(), c == report.Canceled || ctx.Err() != nil
	}
	props, err := codec.ParseProvisioning(res.Body(), codec.PChatGroup)
	switch {
	case err != nil:
		return "", "answer unreadable: " + err.Error(), false
	case props == nil:
		return "", "gave no " + codec.PChatGroup, false
	}
	pool = codec.ProvisionedPool(props)
	if pool == "" {
		return "", "says " + codec.PropEnablePChat + "=" + props[codec.PropEnablePChat], true
	}
	var u sip.Uri
	if err := sip.ParseUri(scenarios.NormalizeURI(pool), &u); err != nil || u.Host == "" {
		return "", "named an unusable pool " + pool, false
	}
	return pool, "ok", false
}

// offersEvent reports whether a response lists event in its Allow-Events
// (names compare case-insensitively).
func offersEvent(res *sip.Response, event string) bool {
	if res == nil {
		return false
	}
	for _, h := range res.GetHeaders("Allow-Events") {
		for _, e := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(e), event) {
				return true
			}
		}
	}
	return false
}
