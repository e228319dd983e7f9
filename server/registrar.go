package server

import (
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
