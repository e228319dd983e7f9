package sipua

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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

// hashFunc is a digest algorithm's hash without its -sess suffix.
type hashFunc uint8

const (
	hashMD5 hashFunc = iota + 1
	hashSHA256
	hashSHA512_256
)

// parseAlgorithm splits a digest algorithm name into its hash and -sess flag.
func parseAlgorithm(alg string) (h hashFunc, sess bool, err error) {
	up := strings.ToUpper(alg)
	base, sess := strings.CutSuffix(up, "-SESS")
	switch base {
	case "", "MD5":
		h = hashMD5
	case "SHA-256":
		h = hashSHA256
	case "SHA-512-256":
		h = hashSHA512_256
	default:
		return 0, false, fmt.Errorf("unsupported digest algorithm %q", alg)
	}
	return h, sess, nil
}

// appendHex appends the lower-case hex hash of data to dst. The fixed-size
// Sum functions keep the state on the stack: a hash.Hash per request would be
// an allocation, and this runs for every request sent.
func (h hashFunc) appendHex(dst, data []byte) []byte {
	switch h {
	case hashSHA256:
		s := sha256.Sum256(data)
		return hex.AppendEncode(dst, s[:])
	case hashSHA512_256:
		s := sha512.Sum512_256(data)
		return hex.AppendEncode(dst, s[:])
	default:
		s := md5.Sum(data)
		return hex.AppendEncode(dst, s[:])
	}
}

// join appends parts separated by ':' to dst.
func join(dst []byte, parts ...string) []byte {
	for i, p := range parts {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, p...)
	}
	return dst
}

// appendNC appends n as the 8 lower-case hex digits of a nonce count.
func appendNC(dst []byte, n uint32) []byte {
	const digits = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		dst = append(dst, digits[(n>>(4*i))&0xf])
	}
	return dst
}

// ha1 returns HA1 in hex: H(username:realm:password), and for a -sess
// algorithm H(that:nonce:cnonce).
func ha1(h hashFunc, sess bool, username, realm, password, nonce, cnonce string) string {
	var in, out [256]byte
	r := h.appendHex(out[:0], join(in[:0], username, realm, password))
	if sess {
		r = h.appendHex(out[len(r):len(r)], join(in[:0], string(r), nonce, cnonce))
	}
	return string(r)
}

// appendResponse appends the request-digest for HA1 ha1 (hex) to dst.
func appendResponse(dst []byte, h hashFunc, ha1, method, uri, nonce string, nc uint32, cnonce, qop string, body []byte) ([]byte, error) {
	var in [512]byte
	var ha2 [128]byte
	var bodyHash [64]byte
	var n int
	switch qop {
	case "", "auth":
		n = len(h.appendHex(ha2[:0], join(in[:0], method, uri)))
	case "auth-int":
		bh := h.appendHex(bodyHash[:0], body)
		n = len(h.appendHex(ha2[:0], join(in[:0], method, uri, string(bh))))
	default:
		return dst, fmt.Errorf("unsupported qop %q", qop)
	}
	b := append(in[:0], ha1...)
	b = append(b, ':')
	b = append(b, nonce...)
	b = append(b, ':')
	if qop != "" {
		b = appendNC(b, nc)
		b = join(append(b, ':'), cnonce, qop, "")
	}
	b = append(b, ha2[:n]...)
	return h.appendHex(dst, b), nil
}

// Response computes the request-digest ("response=" value) for p. It is a pure
// function.
func Response(p Params) (string, error) {
	h, sess, err := parseAlgorithm(p.Algorithm)
	if err != nil {
		return "", err
	}
	r, err := appendResponse(nil, h, ha1(h, sess, p.Username, p.Realm, p.Password, p.Nonce, p.Cnonce),
		p.Method, p.URI, p.Nonce, p.NC, p.Cnonce, p.QOP, p.Body)
	if err != nil {
		return "", err
	}
	return string(r), nil
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

	// MS-SIPAE (sipae.go): the mode (Config.Auth), the Kerberos client when
	// one is configured, and the established security association.
	mode   string
	krb    *kerberosClient
	sa     atomic.Pointer[secAssoc]
	chosen *atomic.Pointer[string] // the UA's record of the scheme last chosen; nil: none
}

// nonceState is a cached challenge with its nonce count. Guarded by Auth.mu.
type nonceState struct {
	ch Challenge
	nc uint32
	// d is what every answer to ch shares, computed once per challenge rather
	// than per request; replaced (never modified) when ch changes.
	d *answerBase
}

// answerBase is the request-independent part of the credentials answering one
// challenge. Immutable.
type answerBase struct {
	h      hashFunc
	qop    string // "", "auth" or "auth-int"
	cnonce string // one per challenge, with nc counting the requests
	ha1    string // hex; for -sess the session key
	prefix string // `Digest username="..",realm="..",nonce="..",uri=`
	suffix string // `,algorithm=..,cnonce="..",opaque="..",qop=..,nc=` (the parts present)
	err    error  // unsupported algorithm or qop
}

func newAnswerBase(username, password string, ch Challenge) *answerBase {
	d := &answerBase{}
	h, sess, err := parseAlgorithm(ch.Algorithm)
	if err != nil {
		d.err = err
		return d
	}
	d.h = h
	for _, q := range ch.QOP {
		if q == "auth" {
			d.qop = "auth"
			break
		}
		if q == "auth-int" {
			d.qop = "auth-int"
		}
	}
	if len(ch.QOP) > 0 && d.qop == "" {
		d.err = fmt.Errorf("unsupported qop %q", strings.Join(ch.QOP, ","))
		return d
	}
	if d.qop != "" || sess {
		d.cnonce = newCnonce()
	}
	d.ha1 = ha1(h, sess, username, ch.Realm, password, ch.Nonce, d.cnonce)

	var b strings.Builder
	b.WriteString("Digest username=")
	b.WriteString(quote(username))
	b.WriteString(",realm=")
	b.WriteString(quote(ch.Realm))
	b.WriteString(",nonce=")
	b.WriteString(quote(ch.Nonce))
	b.WriteString(",uri=")
	d.prefix = b.String()
	b.Reset()
	if ch.Algorithm != "" {
		b.WriteString(",algorithm=")
		b.WriteString(ch.Algorithm)
	}
	if d.cnonce != "" {
		b.WriteString(",cnonce=")
		b.WriteString(quote(d.cnonce))
	}
	if ch.Opaque != "" {
		b.WriteString(",opaque=")
		b.WriteString(quote(ch.Opaque))
	}
	if d.qop != "" {
		b.WriteString(",qop=")
		b.WriteString(d.qop)
		b.WriteString(",nc=")
	}
	d.suffix = b.String()
	return d
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
	d := newAnswerBase(a.username, a.password, c) // outside the lock: it hashes
	a.mu.Lock()
	defer a.mu.Unlock()
	a.proxyFor[method] = c.Proxy
	a.last = c.Realm
	if st := a.realms[c.Realm]; st != nil && st.ch.Nonce == c.Nonce && st.ch.Algorithm == c.Algorithm {
		st.ch, st.d = c, d
		return st
	}
	st := &nonceState{ch: c, d: d}
	a.realms[c.Realm] = st
	return st
}

// Authorize adds credentials for the most recent challenge to req, incrementing
// that nonce's count. It reports false (and leaves req alone) when nothing is
// cached yet. The digest uri is the Request-URI. Safe for concurrent use (req
// is the caller's, not shared).
func (a *Auth) Authorize(req *sip.Request) (bool, error) {
	st := a.cached()
	if st == nil {
		return false, nil
	}
	return true, a.authorize(req, st)
}

// authorize adds credentials answering st's challenge to req.
func (a *Auth) authorize(req *sip.Request, st *nonceState) error {
	// One allocation for the value: built on the stack, copied once into a string.
	var buf [512]byte
	name, b, err := a.appendCredentials(buf[:0], req.Method, req.Recipient.String(), req.Body(), st)
	if err != nil {
		return err
	}
	req.RemoveHeader(name)
	req.AppendHeader(sip.NewHeader(name, string(b)))
	return nil
}

// appendCredentials appends the value of the header answering st's challenge
// for a request of method to uri (the Request-URI) with body, counting one
// more use of the nonce, and returns the header's name (Authorization, or
// Proxy-Authorization for a proxy's challenge).
func (a *Auth) appendCredentials(dst []byte, method sip.RequestMethod, uri string, body []byte, st *nonceState) (string, []byte, error) {
	a.mu.Lock()
	st.nc++
	d, nonce, nc := st.d, st.ch.Nonce, st.nc
	a.mu.Unlock()
	if d.err != nil {
		return "", dst, d.err
	}
	b := append(dst, d.prefix...)
	b = appendQuoted(b, uri)
	b = append(b, `,response="`...)
	b, err := appendResponse(b, d.h, d.ha1, string(method), uri, nonce, nc, d.cnonce, d.qop, body)
	if err != nil {
		return "", dst, err
	}
	b = append(b, '"')
	b = append(b, d.suffix...)
	if d.qop != "" {
		b = appendNC(b, nc)
	}
	return a.headerName(method), b, nil
}

// headerName is the name of the credentials header for method: Authorization,
// or Proxy-Authorization after a proxy's challenge to it (or, before any,
// for everything but REGISTER: registrars challenge REGISTER with 401 and
// proxies the rest with 407).
func (a *Auth) headerName(method sip.RequestMethod) string {
	a.mu.Lock()
	proxy, seen := a.proxyFor[method]
	a.mu.Unlock()
	if !seen {
		proxy = method != sip.REGISTER
	}
	if proxy {
		return "Proxy-Authorization"
	}
	return "Authorization"
}

// cached returns the state of the most recent challenge, nil when none.
func (a *Auth) cached() *nonceState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.realms[a.last]
}

// quote returns s as a quoted-string (RFC 3261 section 25.1: only '"' and '\'
// are escaped).
func quote(s string) string { return string(appendQuoted(nil, s)) }

// appendQuoted appends s to dst as quote does.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

func newCnonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
