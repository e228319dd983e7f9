package sipua

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Challenge is one digest challenge from a WWW-Authenticate (401) or
// Proxy-Authenticate (407) header. It is a plain value.
type Challenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string   // upper case; "" means MD5
	QOP       []string // offered qop values, trimmed and lower case
	Stale     bool
	Proxy     bool // from a 407: answer with Proxy-Authorization
}

// ErrNoChallenge is returned by ChallengeFrom for a 401/407 without a digest
// challenge this package can answer. Compare with errors.Is.
var ErrNoChallenge = errors.New("no usable digest challenge")

// ParseChallenge parses a challenge header value ("Digest realm=..., nonce=...").
// It is a pure function.
func ParseChallenge(value string) (Challenge, error) {
	c, err := digest.ParseChallenge(value)
	if err != nil {
		return Challenge{}, err
	}
	ch := Challenge{
		Realm:     c.Realm,
		Nonce:     c.Nonce,
		Opaque:    c.Opaque,
		Algorithm: strings.ToUpper(strings.TrimSpace(c.Algorithm)),
		Stale:     c.Stale,
	}
	// icholy splits qop on "," without trimming: `qop="auth, auth-int"` gives " auth-int".
	for _, q := range c.QOP {
		if q = strings.ToLower(strings.TrimSpace(q)); q != "" {
			ch.QOP = append(ch.QOP, q)
		}
	}
	if ch.Nonce == "" {
		return Challenge{}, errors.New("digest challenge without nonce")
	}
	return ch, nil
}

// ChallengeFrom picks the challenge to answer from a 401 or 407 response: the
// strongest algorithm this package supports when several are offered (RFC 8760
// lets a server offer SHA-256 and MD5 side by side). It only reads res.
func ChallengeFrom(res *sip.Response) (Challenge, error) {
	name := "WWW-Authenticate"
	proxy := res.StatusCode == sip.StatusProxyAuthRequired
	if proxy {
		name = "Proxy-Authenticate"
	}
	var best Challenge
	bestRank := -1
	var lastErr error
	for _, h := range res.GetHeaders(name) {
		c, err := ParseChallenge(h.Value())
		if err != nil {
			lastErr = err
			continue
		}
		r := algorithmRank(c.Algorithm)
		if r < 0 || !qopSupported(c.QOP) {
			continue
		}
		if r > bestRank {
			best, bestRank = c, r
		}
	}
	if bestRank < 0 {
		if lastErr != nil {
			return Challenge{}, fmt.Errorf("%w: %v", ErrNoChallenge, lastErr)
		}
		return Challenge{}, ErrNoChallenge
	}
	best.Proxy = proxy
	return best, nil
}

// algorithmRank orders the supported algorithms by preference; -1 is unsupported.
func algorithmRank(alg string) int {
	switch alg {
	case "", "MD5":
		return 0
	case "MD5-SESS":
		return 1
	case "SHA-256":
		return 3
	case "SHA-256-SESS":
		return 2
	case "SHA-512-256":
		return 5
	case "SHA-512-256-SESS":
		return 4
	}
	return -1
}

func qopSupported(qop []string) bool {
	if len(qop) == 0 {
		return true // RFC 2069 style
	}
	for _, q := range qop {
		if q == "auth" || q == "auth-int" {
			return true
		}
	}
	return false
}

// Params are the inputs of one digest response computation (RFC 7616 section 3.4.1,
// which SIP uses unchanged per RFC 3261 and RFC 8760). It is a plain value.
type Params struct {
	Algorithm string // MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256(-sess); "" = MD5
	Username  string
	Realm     string
	Password  string
	Method    string
	URI       string
	Nonce     string
	NC        uint32 // nonce count; written as 8 hex digits
	Cnonce    string
	QOP       string // "", "auth" or "auth-int"
	Body      []byte // for auth-int only
}

// Response computes the request-digest ("response=" value) for p. It is a pure
// function.
func Response(p Params) (string, error) {
	alg := strings.ToUpper(p.Algorithm)
	var h hash.Hash
	switch strings.TrimSuffix(alg, "-SESS") {
	case "", "MD5":
		h = md5.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-512-256":
		h = sha512.New512_256()
	default:
		return "", fmt.Errorf("unsupported digest algorithm %q", p.Algorithm)
	}
	hx := func(parts ...string) string {
		h.Reset()
		for i, s := range parts {
			if i > 0 {
				h.Write([]byte{':'})
			}
			h.Write([]byte(s))
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	ha1 := hx(p.Username, p.Realm, p.Password)
	if strings.HasSuffix(alg, "-SESS") {
		ha1 = hx(ha1, p.Nonce, p.Cnonce)
	}
	var ha2 string
	switch p.QOP {
	case "", "auth":
		ha2 = hx(p.Method, p.URI)
	case "auth-int":
		h.Reset()
		h.Write(p.Body)
		ha2 = hx(p.Method, p.URI, hex.EncodeToString(h.Sum(nil)))
	default:
		return "", fmt.Errorf("unsupported qop %q", p.QOP)
	}
	if p.QOP == "" {
		return hx(ha1, p.Nonce, ha2), nil
	}
	return hx(ha1, p.Nonce, fmt.Sprintf("%08x", p.NC), p.Cnonce, p.QOP, ha2), nil
}

// Auth holds one user's digest credentials and the challenges last seen for them,
// so that requests carry credentials pre-emptively: a cached nonce is reused with
// the nonce count incremented, and an authenticated request costs one round trip
// instead of two. Safe for concurrent use. It never exposes the password.
type Auth struct {
	username string
	password string

	mu     sync.Mutex
	realms map[string]*nonceState // by realm
	last   string                 // realm of the most recent challenge
	// proxyFor remembers, per method, whether the server wanted Proxy-Authorization
	// (407) or Authorization (401), so a pre-emptive header has the right name.
	proxyFor map[sip.RequestMethod]bool
}

type nonceState struct {
	ch Challenge
	nc uint32
}

// NewAuth returns an Auth for username and password with an empty cache.
func NewAuth(username, password string) *Auth {
	return &Auth{
		username: username,
		password: password,
		realms:   map[string]*nonceState{},
		proxyFor: map[sip.RequestMethod]bool{},
	}
}

// Username returns the digest username. Safe for concurrent use.
func (a *Auth) Username() string { return a.username }

// String names the user without the password. Safe for concurrent use.
func (a *Auth) String() string { return "digest user " + a.username }

// GoString keeps %#v from printing the password. Safe for concurrent use.
func (a *Auth) GoString() string { return "sipua.Auth{username:" + strconv.Quote(a.username) + "}" }

// Learn stores a challenge (from a 401/407) as the one to answer next. A new
// nonce starts counting at 1; the nonce already cached keeps its count, so that
// counts never repeat for a server that checks them. Safe for concurrent use.
func (a *Auth) Learn(method sip.RequestMethod, c Challenge) {
	a.learn(method, c)
}

func (a *Auth) learn(method sip.RequestMethod, c Challenge) *nonceState {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.proxyFor[method] = c.Proxy
	a.last = c.Realm
	if st := a.realms[c.Realm]; st != nil && st.ch.Nonce == c.Nonce && st.ch.Algorithm == c.Algorithm {
		st.ch = c
		return st
	}
	st := &nonceState{ch: c}
	a.realms[c.Realm] = st
	return st
}

// Authorize adds credentials for the most recent challenge to req, incrementing
// that nonce's count. It reports false (and leaves req alone) when nothing is
// cached yet. The digest uri is the Request-URI. Safe for concurrent use (req
// is the caller's, not shared).
func (a *Auth) Authorize(req *sip.Request) (bool, error) {
	a.mu.Lock()
	st := a.realms[a.last]
	a.mu.Unlock()
	if st == nil {
		return false, nil
	}
	return true, a.authorize(req, st)
}

// authorize adds credentials answering st's challenge to req.
func (a *Auth) authorize(req *sip.Request, st *nonceState) error {
	a.mu.Lock()
	st.nc++
	ch, nc := st.ch, st.nc
	proxy, seen := a.proxyFor[req.Method]
	a.mu.Unlock()
	if !seen {
		// Registrars challenge REGISTER with 401 and proxies everything else with 407.
		proxy = req.Method != sip.REGISTER
	}

	qop := ""
	for _, q := range ch.QOP {
		if q == "auth" {
			qop = "auth"
			break
		}
		if q == "auth-int" {
			qop = "auth-int"
		}
	}
	p := Params{
		Algorithm: ch.Algorithm,
		Username:  a.username,
		Realm:     ch.Realm,
		Password:  a.password,
		Method:    string(req.Method),
		URI:       req.Recipient.String(),
		Nonce:     ch.Nonce,
		NC:        nc,
		QOP:       qop,
		Body:      req.Body(),
	}
	if qop != "" || strings.HasSuffix(ch.Algorithm, "-SESS") {
		p.Cnonce = newCnonce()
	}
	resp, err := Response(p)
	if err != nil {
		return err
	}
	name := "Authorization"
	if proxy {
		name = "Proxy-Authorization"
	}
	req.RemoveHeader(name)
	req.AppendHeader(sip.NewHeader(name, credentials(p, ch.Opaque, resp)))
	return nil
}

// credentials formats the Authorization header value (RFC 3261 section 25.1
// quoting: only '"' and '\' are escaped).
func credentials(p Params, opaque, response string) string {
	var b strings.Builder
	b.WriteString("Digest username=")
	b.WriteString(quote(p.Username))
	b.WriteString(",realm=")
	b.WriteString(quote(p.Realm))
	b.WriteString(",nonce=")
	b.WriteString(quote(p.Nonce))
	b.WriteString(",uri=")
	b.WriteString(quote(p.URI))
	b.WriteString(",response=")
	b.WriteString(quote(response))
	if p.Algorithm != "" {
		b.WriteString(",algorithm=")
		b.WriteString(p.Algorithm)
	}
	if p.Cnonce != "" {
		b.WriteString(",cnonce=")
		b.WriteString(quote(p.Cnonce))
	}
	if opaque != "" {
		b.WriteString(",opaque=")
		b.WriteString(quote(opaque))
	}
	if p.QOP != "" {
		b.WriteString(",qop=")
		b.WriteString(p.QOP)
		b.WriteString(",nc=")
		b.WriteString(fmt.Sprintf("%08x", p.NC))
	}
	return b.String()
}

func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func newCnonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
