package xccos

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// In-band provisioning (note §1.1, [MS-SIPREGE] 2.2.2.5.11): after signing in,
// a Lync 2013 client SUBSCRIBEs to its own AoR for the event
// vnd-microsoft-provisioning-v2 with Expires: 0 and a list of the
// provisioning groups it wants; the 200 carries them. The group
// persistentChatConfiguration names the Persistent Chat pool.

const (
	// ProvisioningEvent is the Event of the provisioning SUBSCRIBE.
	ProvisioningEvent = "vnd-microsoft-provisioning-v2"
	// ProvisioningType is the Content-Type of its request and answer.
	ProvisioningType = "application/vnd-microsoft-roaming-provisioning-v2+xml"
	// PChatGroup is the provisioning group of Persistent Chat.
	PChatGroup = "persistentChatConfiguration"
	// Property names of PChatGroup.
	PropEnablePChat      = "EnablePersistentChat"
	PropDefaultPChatPool = "DefaultPersistentChatPoolUri"
	PropPChatPools       = "PersistentChatPoolUris"
)

// ProvisioningRequest is the body of the provisioning SUBSCRIBE: the groups
// asked for.
func ProvisioningRequest(groups ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist">`)
	for _, g := range groups {
		b.WriteString(`<provisioningGroup name="`)
		_ = xml.EscapeText(&b, []byte(g))
		b.WriteString(`"/>`)
	}
	b.WriteString(`</provisioningGroupList>`)
	return b.Bytes()
}

// ProvisioningAnswer is the body of a 200 to the provisioning SUBSCRIBE with
// one group and its properties, in order (name, value pairs).
func ProvisioningAnswer(group string, props ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification"><provisionGroup name="`)
	_ = xml.EscapeText(&b, []byte(group))
	b.WriteString(`"><propertyEntryList>`)
	for i := 0; i+1 < len(props); i += 2 {
		b.WriteString(`<property name="`)
		_ = xml.EscapeText(&b, []byte(props[i]))
		b.WriteString(`">`)
		_ = xml.EscapeText(&b, []byte(props[i+1]))
		b.WriteString(`</property>`)
	}
	b.WriteString(`</propertyEntryList></provisionGroup></provisionGroupList>`)
	return b.Bytes()
}

// ParseProvisioning returns the properties of group in a provisioning
// answer (nil when the answer has no such group). Namespaces are ignored,
// element and group names compare case-insensitively, and unknown elements
// are skipped. It is a pure function.
func ParseProvisioning(body []byte, group string) (map[string]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var props map[string]string
	depth, in := 0, 0 // in: depth of the wanted provisionGroup, 0 outside
	var name string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return props, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case in == 0 && strings.EqualFold(t.Name.Local, "provisionGroup") && strings.EqualFold(attr(t, "name"), group):
				in = depth
				if props == nil {
					props = map[string]string{}
				}
			case in != 0 && strings.EqualFold(t.Name.Local, "property"):
				name = attr(t, "name")
				text.Reset()
			}
		case xml.CharData:
			if name != "" {
				text.Write(t)
			}
		case xml.EndElement:
			if name != "" && strings.EqualFold(t.Name.Local, "property") {
				props[name] = strings.TrimSpace(text.String())
				name = ""
			}
			if depth == in {
				in = 0
			}
			depth--
		}
	}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if strings.EqualFold(a.Name.Local, name) {
			return a.Value
		}
	}
	return ""
}

// ProvisionedPool is the chat service a persistentChatConfiguration names
// for a client: DefaultPersistentChatPoolUri when EnablePersistentChat is
// "true", else "" (SIPE's order, note §1.1). It is a pure function.
func ProvisionedPool(props map[string]string) string {
	if !strings.EqualFold(props[PropEnablePChat], "true") {
		return ""
	}
	return strings.TrimSpace(props[PropDefaultPChatPool])
}

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
			sip.NewHeader("Event", ProvisioningEvent),
			sip.NewHeader("Accept", ProvisioningType),
			sip.NewHeader("Supported", "com.microsoft.autoextend, ms-benotify, ms-piggyback-first-notify"),
			&exp,
		},
		ContentType: ProvisioningType, Body: ProvisioningRequest(PChatGroup),
	})
	if err != nil {
		// Cancelled with the caller's context: nothing was learnt about the
		// domain, the next session asks again. Any other failure (a timeout,
		// an error status) is the registrar's answer and kept.
		c, _ := report.ClassOf(err)
		return "", "failed: " + err.Error(), c == report.Canceled || ctx.Err() != nil
	}
	props, err := ParseProvisioning(res.Body(), PChatGroup)
	switch {
	case err != nil:
		return "", "answer unreadable: " + err.Error(), false
	case props == nil:
		return "", "gave no " + PChatGroup, false
	}
	pool = ProvisionedPool(props)
	if pool == "" {
		return "", "says " + PropEnablePChat + "=" + props[PropEnablePChat], true
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
