package sipua

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/report"
)

// Account is one user on a UA: its address of record, its Contact (the UA's
// address with a user part of its own, so incoming requests find it), its digest
// credentials with the challenge cache, and its CSeq counter. Safe for
// concurrent use.
type Account struct {
	ua      *UA
	aor     sip.Uri
	key     string // Contact user part, unique on the UA
	auth    *Auth
	handler Handler
	cseq    atomic.Uint32
	closed  atomic.Bool

	// epid is the MS-SIPRE endpoint identifier on every From ("" unless
	// Config.Endpoint); gruu is the GRUU the registrar gave its instance, the
	// Contact of every request but REGISTER once known (nil: none).
	epid    string
	gruu    atomic.Pointer[sip.Uri]
	gruuKey string // the gruu's key in ua.byGRUU; guarded by ua.mu
}

// NewAccount adds a user to the UA. aor is its SIP URI ("sip:alice@example.test");
// username and password are its digest credentials; h receives the requests
// addressed to it (nil: they are answered and dropped). Close removes it. Safe
// for concurrent use; it fails with Canceled once the UA is closed.
func (ua *UA) NewAccount(aor, username, password string, h Handler) (*Account, error) {
	var u sip.Uri
	if err := sip.ParseUri(aor, &u); err != nil || u.User == "" || u.Host == "" {
		return nil, &report.Error{Class: report.Protocol, Op: "account", Detail: fmt.Sprintf("%q is not a SIP URI with a user part", aor)}
	}
	if u.Scheme == "" {
		u.Scheme = "sip"
	}
	// From/To carry the bare AoR: Kamailio keys room membership on user@host.
	u.UriParams, u.Headers = nil, nil
	a := &Account{ua: ua, aor: u, auth: NewAuth(username, password), handler: h}
	a.auth.mode, a.auth.krb, a.auth.chosen = ua.cfg.Auth, ua.krb, ua.chosen
	// MS-SIPAE wants the endpoint identity of a registering endpoint: an
	// account that signs in with NTLM or Kerberos is an MS endpoint.
	if ua.cfg.Endpoint || a.auth.mode == AuthNTLM || a.auth.mode == AuthKerberos {
		a.epid = NewEPID()
	}

	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.closed {
		return nil, &report.Error{Class: report.Canceled, Op: "account", Detail: "user agent closed"}
	}
	// The Contact user part is the AoR's, so server logs read naturally; a
	// second live account with the same user part (another domain, or the same
	// user twice) gets a numbered one.
	a.key = u.User
	for ua.byKey[a.key] != nil {
		ua.seq++
		a.key = fmt.Sprintf("%s.%d", u.User, ua.seq)
	}
	ua.byKey[a.key] = a
	ua.byAoR[aorKey(u)] = a
	return a, nil
}

// AoR returns the account's address of record. Safe for concurrent use.
func (a *Account) AoR() sip.Uri { return a.aor }

// Contact returns the URI that reaches this account: the GRUU the registrar
// gave it, else the UA's socket with the account's own user part. Safe for
// concurrent use; the result is the caller's own copy.
func (a *Account) Contact() sip.Uri {
	if g := a.gruu.Load(); g != nil {
		return *g.Clone()
	}
	return a.socketContact()
}

// socketContact is the Contact naming the UA's socket (Config.Advertise) with
// the account's user part: what REGISTER binds.
func (a *Account) socketContact() sip.Uri {
	c := a.ua.advert
	c.User = a.key
	if c.UriParams != nil {
		c.UriParams = c.UriParams.Clone()
	}
	return c
}

// EPID returns the account's endpoint identifier, "" unless Config.Endpoint.
func (a *Account) EPID() string { return a.epid }

// GRUU returns the GRUU the registrar gave the account, if any. Safe for
// concurrent use.
func (a *Account) GRUU() (sip.Uri, bool) {
	if g := a.gruu.Load(); g != nil {
		return *g.Clone(), true
	}
	return sip.Uri{}, false
}

// contactHeader is the Contact of a request of method: for REGISTER the
// socket's, with the +sip.instance of the epid (MS-SIPRE 2.2.5, and
// proxy=replace as Lync clients send it) when the account has one; for
// anything else Contact().
func (a *Account) contactHeader(method sip.RequestMethod) *sip.ContactHeader {
	if method != sip.REGISTER {
		return &sip.ContactHeader{Address: a.Contact()}
	}
	h := &sip.ContactHeader{Address: a.socketContact()}
	if a.epid != "" {
		h.Params = sip.HeaderParams{{K: "proxy", V: "replace"}, {K: "+sip.instance", V: `"` + InstanceURN(a.epid) + `"`}}
	}
	return h
}

// supportedGRUU asks the registrar for a GRUU ([MS-SIPRE] 3.4; "gruu-10" is
// what Lync servers look for, "gruu" is RFC 5627's option tag).
var supportedGRUU = sip.NewHeader("Supported", "gruu-10, gruu")

// ownContact returns the Contact header of a response to REGISTER that is
// this account's binding: the one naming its +sip.instance, or its socket's
// Contact (user part and address). Nil when there is none.
func (a *Account) ownContact(res *sip.Response) *sip.ContactHeader {
	inst, sock := "", a.socketContact()
	if a.epid != "" {
		inst = InstanceURN(a.epid)
	}
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if c.Address.User == sock.User && c.Address.Host == sock.Host && c.Address.Port == sock.Port {
			return c
		}
		// sipgo's parameter parser splits quoted values at ';', which a GRUU
		// in gruu="..." always has: the parameters are read from the text.
		if inst == "" {
			continue
		}
		if v, _ := HeaderParam(c.Value(), "+sip.instance"); strings.EqualFold(v, inst) {
			return c
		}
	}
	return nil
}

// Granted returns the registration lifetime a 2xx to REGISTER granted this
// account: its binding's expires parameter, else the Expires header; false
// when the response says neither.
func (a *Account) Granted(res *sip.Response) (time.Duration, bool) {
	if c := a.ownContact(res); c != nil {
		if v, ok := HeaderParam(c.Value(), "expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second, true
			}
		}
	}
	// sipgo's parser keeps Expires as a generic header: its text is read.
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// learnRegistration takes the GRUU from a 2xx to REGISTER: the gruu
// parameter of the Contact that names our +sip.instance (or our socket
// Contact). A binding without one clears it (the fallback: the socket's
// Contact); an answer that does not list our binding (un-REGISTER) changes
// nothing.
func (a *Account) learnRegistration(res *sip.Response) {
	if a.epid == "" || res == nil || res.StatusCode/100 != 2 {
		return
	}
	if c := a.ownContact(res); c != nil {
		var g *sip.Uri
		if gv, ok := HeaderParam(c.Value(), "gruu"); ok {
			var u sip.Uri
			if err := sip.ParseUri(gv, &u); err == nil && u.Host != "" {
				g = &u
			} else {
				a.ua.log.Debug("unusable GRUU from the registrar", "gruu", gv, "error", err)
			}
		}
		a.setGRUU(g)
	}
}

// HeaderParam returns the value of the header parameter name (unquoted) in
// the text of a name-addr header value ("<uri;p>;a=1;b=\"x;y\""): the
// parameters after the URI, split at ';' outside quotes. Names compare
// case-insensitively. It is a pure function.
func HeaderParam(value, name string) (string, bool) {
	if i := strings.IndexByte(value, '<'); i >= 0 {
		j := strings.IndexByte(value[i:], '>')
		if j < 0 {
			return "", false
		}
		value = value[i+j+1:]
	} else if i := strings.IndexByte(value, ';'); i >= 0 {
		value = value[i:]
	} else {
		return "", false
	}
	for len(value) > 0 {
		value = strings.TrimLeft(value, " \t;")
		end, quoted := 0, false
		for end < len(value) && (quoted || value[end] != ';') {
			switch {
			case value[end] == '\\' && quoted:
				end++
			case value[end] == '"':
				quoted = !quoted
			}
			end++
		}
		end = min(end, len(value))
		kv := value[:end]
		value = value[end:]
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

func (a *Account) setGRUU(g *sip.Uri) {
	ua := a.ua
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if a.gruuKey != "" && ua.byGRUU[a.gruuKey] == a {
		delete(ua.byGRUU, a.gruuKey)
	}
	a.gruuKey = ""
	if g != nil && !a.closed.Load() {
		if a.gruuKey = gruuKey(*g); a.gruuKey != "" {
			ua.byGRUU[a.gruuKey] = a
		}
	}
	a.gruu.Store(g)
}

// gruuKey identifies a GRUU among the UA's accounts: its AoR with the
// parameters that make it one (RFC 5627's gr, Lync's opaque with a gruu
// flag); "" when u is not a GRUU. It is a pure function.
func gruuKey(u sip.Uri) string {
	if u.UriParams == nil {
		return ""
	}
	gr, isGR := u.UriParams.Get("gr")
	_, isMS := u.UriParams.Get("gruu")
	if !isGR && !isMS {
		return ""
	}
	op, _ := u.UriParams.Get("opaque")
	return strings.ToLower(u.User + "@" + u.Host + ";" + op + ";" + gr)
}

// Close removes the account from the UA's routing; requests for it are still
// answered 200 but no longer handed to its handler, and Do fails with Canceled.
// Idempotent and safe for concurrent use.
func (a *Account) Close() {
	if a.closed.Swap(true) {
		return
	}
	ua := a.ua
	ua.mu.Lock()
	if ua.byKey[a.key] == a {
		delete(ua.byKey, a.key)
	}
	if k := aorKey(a.aor); ua.byAoR[k] == a {
		delete(ua.byAoR, k)
	}
	if a.gruuKey != "" && ua.byGRUU[a.gruuKey] == a {
		delete(ua.byGRUU, a.gruuKey)
	}
	empty := len(ua.byKey) == 0
	ua.mu.Unlock()
	if empty && ua.onEmpty != nil {
		ua.onEmpty(ua)
	}
}

// LocalAddr returns the address of the socket the account's requests leave
// from ("127.0.0.1:40312"): its UA's. Safe for concurrent use.
func (a *Account) LocalAddr() string { return a.ua.LocalAddr() }

// Request describes a request to send. Do builds a fresh *sip.Request from it for
// every attempt, since sipgo owns a request once it is sent. It is a plain value,
// read and never modified by Do.
type Request struct {
	Method sip.RequestMethod
	URI    sip.Uri  // Request-URI
	To     *sip.Uri // nil: URI without parameters
	// CallID is the Call-ID; empty: a new random one.
	CallID string
	// Contact adds the account's Contact header.
	Contact bool
	// Headers are added as given (Expires, In-Reply-To, ...).
	Headers     []sip.Header
	ContentType string
	Body        []byte
	// Hold (DoAsync over UDP) queues the request until UA.Flush sends it with
	// the others queued by then: a caller starting many requests at once
	// (the load engine's pacer) saves a system call per request. A retry
	// after a challenge is sent at once. Do ignores it.
	Hold bool

	// binding (a REGISTER refresh over UDP, unsigned) reads of a 2xx only
	// what a binding is read from (parseBinding).
	binding bool
}

// Do sends r and returns its final response. Credentials go along pre-emptively
// when a challenge is cached; on 401/407 (stale or not) the new challenge is
// learned and the request retried once with credentials for it, so a second
// challenge means the credentials are wrong (report.Auth), unless it says
// stale=true, which earns one last retry.
//
// The error is a *report.Error for op: a classified status for a non-2xx final
// response (which is returned too), or a send failure (Timeout, Transport,
// Canceled) with a nil response. Details name the target and transport and
// never the password. Safe for concurrent use: each call is its own
// transaction(s) with its own Call-ID (unless r.CallID is set) and CSeq.
func (a *Account) Do(ctx context.Context, op string, r Request) (*sip.Response, error) {
	type result struct {
		res *sip.Response
		err error
	}
	ch := make(chan result, 1)
	r.Hold = false // nobody would flush it
	a.start(ctx, op, r, true, func(res *sip.Response, err error) { ch <- result{res, err} })
	out := <-ch
	return out.res, out.err
}

// DoAsync is Do without waiting: it returns at once and calls done exactly
// once with what Do would have returned, except that the response to a 2xx
// over UDP is not parsed: res is nil then. Over UDP the request is one of the
// UA's own transactions; over TCP and TLS sipgo's transaction runs on a
// goroutine of its own, since sipgo's client blocks. done is called from the
// UA's goroutines (or from DoAsync itself) and must not block. The UA's
// per-transaction timeout bounds each attempt; ctx cancels. Safe for
// concurrent use.
func (a *Account) DoAsync(ctx context.Context, op string, r Request, done func(res *sip.Response, err error)) {
	if !a.ua.own(r.Method) {
		go a.start(ctx, op, r, false, done)
		return
	}
	a.start(ctx, op, r, false, done)
}

// call is one Do: the request, its Call-ID and From tag, and how many
// challenges it has answered.
type call struct {
	a      *Account
	ctx    context.Context
	op     string
	r      Request
	callID string
	tag    string
	tries  int
	full   bool
	done   func(*sip.Response, error)
	hs     *secAssoc // the MS-SIPAE handshake this call runs, nil when none
	sent   *secAssoc // the SA (or handshake) the last attempt was signed in
}

func (a *Account) start(ctx context.Context, op string, r Request, full bool, done func(*sip.Response, error)) {
	if a.closed.Load() {
		done(nil, &report.Error{Class: report.Canceled, Op: op, Detail: "account " + a.aor.String() + " closed"})
		return
	}
	c := &call{a: a, ctx: ctx, op: op, r: r, callID: r.CallID, tag: newTag(), full: full, done: done}
	if c.callID == "" {
		c.callID = NewCallID()
	}
	c.send(nil)
}

// send builds the next attempt (credentials for st, or the cached challenge
// when st is nil) and starts its transaction.
func (c *call) send(st *nonceState) {
	ua := c.a.ua
	hold := c.r.Hold && c.tries == 0 && !ua.sendNow
	sa := c.hs
	if sa == nil && st == nil {
		sa = c.a.auth.sa.Load()
	}
	c.sent = sa
	if ua.own(c.r.Method) && sa == nil {
		id := ua.txs.nextID()
		data, err := c.a.appendRequest(make([]byte, 0, 448+len(c.r.Body)), c.r, c.callID, c.tag, st,
			ua.txs.via(id, ua.contact.Host, ua.contact.Port))
		if err != nil {
			c.done(nil, &report.Error{Class: report.Other, Op: c.op, Detail: "building the request", Err: err})
			return
		}
		parse := fullIf(c.full)
		if c.full && c.r.binding {
			parse = parseBinding
		}
		ua.txs.startData(c.ctx, id, data, parse, hold, c.final)
		return
	}
	req, err := c.a.build(c.r, c.callID, c.tag, st, sa)
	if err != nil {
		c.done(nil, &report.Error{Class: report.Other, Op: c.op, Detail: "building the request", Err: err})
		return
	}
	// A signed request's response is parsed whatever its status: its
	// signature is verified.
	ua.transact(c.ctx, req, c.full || sa != nil, hold, c.final)
}

// final takes an attempt's outcome: a challenge is answered with a retry, the
// rest ends the call.
func (c *call) final(t txResult) {
	where := c.a.ua.where
	if t.err != nil {
		c.done(nil, SendError(c.op, t.err, where, c.a.ua.timeout))
		return
	}
	res := t.res
	if t.code != sip.StatusUnauthorized && t.code != sip.StatusProxyAuthRequired {
		if err := c.a.verified(c.op, res, c.sent); err != nil {
			c.done(res, err)
			return
		}
		if c.r.Method == sip.REGISTER {
			c.a.learnRegistration(res)
		}
		c.done(res, statusError(c.op, c.r.Method, t.code, t.reason, where))
		return
	}
	c.tries++
	st, hs, err := c.a.auth.challenged(c.op, c.r.Method, res, c.tries, c.sent, where)
	if err != nil {
		c.done(res, err)
		return
	}
	// The retry answers this very challenge (not whatever a concurrent request
	// cached meanwhile) and is the same request (Call-ID, From tag) with the
	// next CSeq and a new branch (RFC 3261 section 22.2).
	c.hs = hs
	c.send(st)
}

// verified checks the signature of res, the final response to a request
// signed in sa (nil: not signed), and when it completes a handshake makes
// its SA the account's.
func (a *Account) verified(op string, res *sip.Response, sa *secAssoc) error {
	if sa == nil || res == nil {
		return nil
	}
	completes := !sa.established && sa.keys != nil && res.StatusCode < 300
	if err := a.auth.verify(res, sa, completes, op); err != nil {
		return err
	}
	if completes {
		e := sa.establish()
		if e.opaque == "" { // Kerberos: the server names the SA in its signed answer
			e.opaque = infoOpaque(res, sa)
		}
		a.auth.sa.Store(e)
	}
	return nil
}

func isChallenge(res *sip.Response) bool {
	return res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired
}

// build makes a fresh request for r with the next CSeq and credentials: for st's
// challenge, or pre-emptively for the cached one when st is nil.
//
// Max-Forwards, User-Agent and a Content-Type seen before are the UA's shared
// header values: sipgo only reads the headers of a request it sends (it adds
// its own Via), so one copy serves every request.
func (a *Account) build(r Request, callID, tag string, st *nonceState, sa *secAssoc) (*sip.Request, error) {
	req := sip.NewRequest(r.Method, r.URI)
	req.AppendHeader(a.from(tag))
	to := r.URI
	if r.To != nil {
		to = *r.To
	}
	to.UriParams, to.Headers = nil, nil
	req.AppendHeader(&sip.ToHeader{Address: to})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: a.cseq.Add(1), MethodName: r.Method})
	req.AppendHeader(a.ua.shared.maxForwards)
	if r.Contact {
		req.AppendHeader(a.contactHeader(r.Method))
	}
	if a.ua.shared.userAgent != nil {
		req.AppendHeader(a.ua.shared.userAgent)
	}
	if r.Method == sip.REGISTER && a.epid != "" {
		req.AppendHeader(supportedGRUU)
	}
	for _, h := range r.Headers {
		req.AppendHeader(h)
	}
	if r.ContentType != "" {
		req.AppendHeader(a.ua.shared.contentType(r.ContentType))
	}
	req.SetBody(r.Body) // also sets Content-Length, which TCP framing needs
	req.SetTransport(a.ua.network)
	req.SetDestination(a.ua.dest)
	if sa != nil {
		a.auth.sign(req, sa)
		return req, nil
	}
	if st != nil {
		return req, a.auth.authorize(req, st)
	}
	if _, err := a.auth.Authorize(req); err != nil {
		return nil, err
	}
	return req, nil
}

// from is the account's From header with tag (and its epid, MS-SIPRE 3.2.4.1).
func (a *Account) from(tag string) *sip.FromHeader {
	h := &sip.FromHeader{Address: a.aor, Params: sip.HeaderParams{{K: "tag", V: tag}}}
	if a.epid != "" {
		h.Params = append(h.Params, sip.HeaderKV{K: "epid", V: a.epid})
	}
	return h
}

// NewCallID returns a random Call-ID: 24 hex digits (96 bits) from
// math/rand/v2's runtime-seeded ChaCha8, which makes it unique without the
// allocations of crypto/rand. Safe for concurrent use.
func NewCallID() string {
	var b [12]byte
	v, w := rand.Uint64(), rand.Uint32()
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
	for i := range 4 {
		b[8+i] = byte(w >> (8 * i))
	}
	var out [24]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}

// sharedHeaders are header values the UA's requests have in common. Their
// headers are never modified once made; safe for concurrent use.
type sharedHeaders struct {
	maxForwards *sip.MaxForwardsHeader
	userAgent   sip.Header // nil: no User-Agent
	ctype       atomic.Pointer[sip.ContentTypeHeader]
}

func newSharedHeaders(userAgent string) *sharedHeaders {
	mf := sip.MaxForwardsHeader(70)
	sh := &sharedHeaders{maxForwards: &mf}
	if userAgent != "" {
		sh.userAgent = sip.NewHeader("User-Agent", userAgent)
	}
	return sh
}

// contentType returns a Content-Type header for v, the shared one when v is
// the value last asked for (a driver sends one type, text/plain, nearly always).
func (sh *sharedHeaders) contentType(v string) *sip.ContentTypeHeader {
	if ct := sh.ctype.Load(); ct != nil && string(*ct) == v {
		return ct
	}
	ct := sip.ContentTypeHeader(v)
	sh.ctype.Store(&ct)
	return &ct
}

// ValidCallID reports whether s can be sent as a Call-ID (RFC 3261 section 25.1:
// word ["@" word]). It is a pure function.
func ValidCallID(s string) bool {
	if s == "" {
		return false
	}
	at := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~()<>:\\\"/[]?{}", c) >= 0:
		case c == '@' && !at && i > 0 && i < len(s)-1:
			at = true
		default:
			return false
		}
	}
	return true
}
