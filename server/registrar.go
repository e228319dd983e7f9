package server

import (
	"encoding/base64"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// binding is where requests to one user go: one contact per AoR, as Kamailio's
// save("location","0x04") keeps it.
type binding struct {
	contact   sip.Uri   // as registered; the R-URI of requests to the user
	transport string    // "udp", "tcp" or "tls": as the REGISTER came in
	dest      string    // udp: the contact's address; tcp: the REGISTER's connection (fix_nated_register)
	laddr     string    // udp: our listening socket the REGISTER came in on, so replies come from it
	expires   time.Time // binding is gone after this
	instance  string    // the Contact's +sip.instance ("<urn:uuid:...>"), "" when none
	gruu      string    // opaque parameter of the GRUU issued for instance, "" when none
}

// registrar is the in-memory location table, keyed by the AoR's user part (usrloc
// with use_domain=0). Safe for concurrent use.
type registrar struct {
	mu sync.RWMutex
	m  map[string]binding
}

func newRegistrar() *registrar { return &registrar{m: make(map[string]binding)} }

func (r *registrar) set(user string, b binding) {
	r.mu.Lock()
	r.m[user] = b
	r.mu.Unlock()
}

func (r *registrar) remove(user string) {
	r.mu.Lock()
	delete(r.m, user)
	r.mu.Unlock()
}

// lookup returns user's live binding. Entries are bounded by the provisioned users,
// so expired ones are left for the next REGISTER to overwrite.
func (r *registrar) lookup(user string, now time.Time) (binding, bool) {
	r.mu.RLock()
	b, ok := r.m[user]
	r.mu.RUnlock()
	if !ok || !now.Before(b.expires) {
		return binding{}, false
	}
	return b, true
}

// contactDest returns where to send requests for a contact registered over UDP
// from src: the contact's address when it is an IP literal, else src (we never
// resolve names).
func contactDest(contact sip.Uri, src string) string {
	host := strings.Trim(contact.Host, "[]")
	if net.ParseIP(host) == nil {
		return src
	}
	port := contact.Port
	if port == 0 {
		port = sip.DefaultUdpPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// requestedExpiry returns the lifetime asked for by a REGISTER's contact:
// the contact's expires parameter, else the Expires header, else def.
func requestedExpiry(req *sip.Request, c *sip.ContactHeader, def time.Duration) (time.Duration, bool) {
	if c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			return parseSeconds(v)
		}
	}
	if h := req.GetHeader("Expires"); h != nil {
		return parseSeconds(h.Value())
	}
	return def, true
}

func parseSeconds(v string) (time.Duration, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// gruuOpaque is the opaque parameter of the GRUU issued for a +sip.instance
// "<urn:uuid:X>": "user:epid:" and the UUID's 16 bytes in URL-safe base64, the
// shape of a Lync public GRUU (sip:alice@contoso.com;opaque=user:epid:...;gruu)
// [R: the exact encoding Lync uses is not published]. "" when instance is not
// a UUID URN. It is a pure function.
func gruuOpaque(instance string) string {
	id, ok := strings.CutPrefix(strings.ToLower(instance), "<urn:uuid:")
	if !ok {
		return ""
	}
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSuffix(id, ">"), "-", ""))
	if err != nil || len(b) != 16 {
		return ""
	}
	return "user:epid:" + base64.RawURLEncoding.EncodeToString(b)
}

// gruuURI is the GRUU of user on domain with opaque (see gruuOpaque).
func gruuURI(user, domain, opaque string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: domain, UriParams: sip.HeaderParams{{K: "opaque", V: opaque}, {K: "gruu"}}}
}

// gruuBinding returns the live registration behind u when u is a GRUU this
// server issued (its user's binding has u's opaque).
func (s *Server) gruuBinding(u sip.Uri) (binding, bool) {
	if u.UriParams == nil || !u.UriParams.Has("gruu") {
		return binding{}, false
	}
	op, _ := u.UriParams.Get("opaque")
	b, ok := s.lookup(u.User)
	if !ok || op == "" || b.gruu != op || !strings.EqualFold(u.Host, s.cfg.Domain) {
		return binding{}, false
	}
	return b, true
}
