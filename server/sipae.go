package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipae"
	"github.com/chatload/chatload/protocol/sipua"
)

// MS-SIPAE on the server side (Lync-style sign-in): the NTLM and Kerberos
// handshakes, the security associations (SA) they set up, the verification
// of every signed request (signature and cnum, replays refused) and the
// signing of every response to one. Which schemes are offered is
// Config.Auth; with digest among them, requests without MS-SIPAE
// credentials are handled as before.

// Auth schemes of Config.Auth, as the flag names them.
const (
	SchemeDigest   = "digest"
	SchemeNTLM     = "ntlm"
	SchemeKerberos = "kerberos"
)

// Texts of the ms-diagnostics header of the server's authentication
// refusals (chatload's own codes; clients read the reason).
const (
	diagWrongPassword = `4001;reason="Wrong password";source="chatload-serve"`
	diagUnknownUser   = `4002;reason="Unknown user";source="chatload-serve"`
	diagBadSignature  = `4003;reason="Signature refused";source="chatload-serve"`
	diagReplay        = `4004;reason="Signature refused: replayed cnum";source="chatload-serve"`
	diagNoSA          = `4005;reason="Security association unknown or expired";source="chatload-serve"`
)

// ReasonSignatureRefused is the reason phrase of a 401 to a signed request
// whose signature or cnum is refused.
const ReasonSignatureRefused = "Signature Refused"

const (
	saLifetime = 8 * time.Hour // an SA (and a pending handshake) is forgotten after this
	saWindow   = 64            // how far behind the highest cnum a request may arrive, once
)

// serverSA is one security association or the handshake setting it up.
type serverSA struct {
	opaque     string
	scheme     string // "NTLM" or "Kerberos"
	targetname string
	created    time.Time

	// NTLM handshake: the server challenge of the CHALLENGE_MESSAGE sent.
	chal [8]byte

	// keys are set once, when the handshake completes.
	keys atomic.Pointer[saKeys]

	snum atomic.Uint32
	mu   sync.Mutex
	cnum ncEntry // highest cnum and window, as digest's nonce counts
}

// saKeys are an established SA's user and signature functions.
type saKeys struct {
	acct *account
	sign func(buf []byte) string
	chk  func(buf []byte, sig string) bool
}

// sipaeState is the server's MS-SIPAE side. Safe for concurrent use.
type sipaeState struct {
	digest, ntlm, kerberos bool
	targetname             string // NTLM's targetname: the server's FQDN
	spn                    string // Kerberos's targetname: sip/<fqdn>
	nbDomain               string
	krb                    *kerberosServer // nil without Kerberos

	mu     sync.Mutex
	sas    map[string]*serverSA // by opaque
	byUser map[string]*serverSA // the latest established SA of each user part
	fifo   []*serverSA
	max    int

	signed, unsigned, refused, handshakes, signedOut atomic.Uint64
}

func newSIPAE(cfg Config) (*sipaeState, error) {
	st := &sipaeState{sas: map[string]*serverSA{}, byUser: map[string]*serverSA{}, max: max(cfg.MaxNonces, 1024)}
	for _, a := range cfg.Auth {
		switch a {
		case SchemeDigest:
			st.digest = true
		case SchemeNTLM:
			st.ntlm = true
		case SchemeKerberos:
			st.kerberos = true
		}
	}
	if len(cfg.Auth) == 0 {
		st.digest = true
	}
	st.targetname = "chatload-serve." + cfg.Domain
	if st.kerberos {
		k, err := newKerberosServer(cfg.Keytab, cfg.SPN)
		if err != nil {
			return nil, err
		}
		st.krb, st.spn = k, k.spn
		if h, ok := strings.CutPrefix(k.spn, "sip/"); ok {
			st.targetname = h
		}
	}
	st.nbDomain = strings.ToUpper(strings.SplitN(cfg.Domain, ".", 2)[0])
	return st, nil
}

// sipaeOnly reports whether digest is not offered: every request but
// OPTIONS must then be signed.
func (st *sipaeState) sipaeOnly() bool { return !st.digest }

// challenges are the WWW-Authenticate / Proxy-Authenticate values offering
// the MS-SIPAE schemes, in Lync's order (Kerberos, then NTLM).
func (st *sipaeState) challenges() []string {
	var out []string
	if st.kerberos {
		out = append(out, fmt.Sprintf(`Kerberos realm="%s", targetname="%s", version=%d`, sipae.Realm, st.spn, sipae.ProtocolVersion))
	}
	if st.ntlm {
		out = append(out, fmt.Sprintf(`NTLM realm="%s", targetname="%s", version=%d`, sipae.Realm, st.targetname, sipae.ProtocolVersion))
	}
	return out
}

// credentials returns the MS-SIPAE credentials of req (from Authorization or
// Proxy-Authorization) and the header they came in; ok false when none.
func credentials(req *sip.Request) (p sipae.Params, header string, ok bool, err error) {
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		for _, h := range req.GetHeaders(name) {
			v := strings.TrimSpace(h.Value())
			sch, _, _ := strings.Cut(v, " ")
			if !strings.EqualFold(sch, "NTLM") && !strings.EqualFold(sch, "Kerberos") {
				continue
			}
			p, err := sipae.ParseParams(v)
			return p, name, err == nil, err
		}
	}
	return sipae.Params{}, "", false, nil
}

// sipaeTx answers on a request's transaction with every response signed in
// the request's SA.
type sipaeTx struct {
	sip.ServerTransaction
	sa     *serverSA
	header string // the credentials' header: the signature goes in the matching -Info
}

// Connection forwards to the wrapped transaction (localAddr reads it).
func (t *sipaeTx) Connection() sip.Connection {
	if c, ok := t.ServerTransaction.(interface{ Connection() sip.Connection }); ok {
		return c.Connection()
	}
	return nil
}

// Respond signs res and sends it.
func (t *sipaeTx) Respond(res *sip.Response) error {
	name := "Authentication-Info"
	if t.header == "Proxy-Authorization" {
		name = "Proxy-Authentication-Info"
	}
	res.AppendHeader(sip.NewHeader(name, t.sa.authInfo(res)))
	return t.ServerTransaction.Respond(res)
}

// authInfo signs m (a response, or a request the server sends) in sa with the
// next server sequence number and returns the value of its Authentication-Info:
// rspauth, srand, snum and the SA's parameters. sa's keys must be set.
func (sa *serverSA) authInfo(m sip.Message) string {
	k := sa.keys.Load()
	srand := sipae.NewRand()
	snum := strconv.FormatUint(uint64(sa.snum.Add(1)), 10)
	b := sipae.MessageBuffer(m)
	b.Scheme, b.Rand, b.Num, b.Realm, b.TargetName = sa.scheme, srand, snum, sipae.Realm, sa.targetname
	var p sipae.Params
	p.Scheme = sa.scheme
	p.Add("rspauth", k.sign(b.Bytes()))
	p.Add("srand", srand)
	p.Add("snum", snum)
	p.Add("opaque", sa.opaque)
	p.Add("qop", "auth")
	p.Add("targetname", sa.targetname)
	p.Add("realm", sipae.Realm)
	return p.String()
}

// saOf returns the SA a request was verified in, nil when none.
func saOf(tx sip.ServerTransaction) *sipaeTx {
	t, _ := tx.(*sipaeTx)
	return t
}

// sipaeRequest runs MS-SIPAE for req before it is served: a handshake leg is
// answered here (ok false); a signed request is verified (refused: ok
// false) and its transaction returned wrapped so that the answer is signed.
// A request without MS-SIPAE credentials is returned as it is for the
// methods authenticate challenges (and for everything when digest is
// offered); other requests are challenged here when only MS-SIPAE schemes
// are offered. ACK is verified and never answered.
func (s *Server) sipaeRequest(req *sip.Request, tx sip.ServerTransaction) (sip.ServerTransaction, bool) {
	st := s.sae
	p, header, found, err := credentials(req)
	if err != nil {
		st.unsigned.Add(1)
		if req.Method != sip.ACK {
			s.respond(req, tx, sip.StatusBadRequest, ReasonBadCredentials)
		}
		return nil, false
	}
	if !found {
		if req.Method == sip.OPTIONS {
			return tx, true
		}
		st.unsigned.Add(1)
		if st.digest {
			return tx, true
		}
		switch req.Method {
		case sip.REGISTER, sip.MESSAGE:
			return tx, true // authenticate challenges
		case sip.INVITE:
			if tag, _ := req.To().Params.Get("tag"); tag == "" {
				return tx, true
			}
		case sip.ACK:
			return nil, false
		}
		s.sipaeChallenge(req, tx, "")
		return nil, false
	}
	scheme := p.Scheme
	opaque := p.Value("opaque")
	token, hasToken := p.Get("gssapi-data")
	if (strings.EqualFold(scheme, "NTLM") && !st.ntlm) || (strings.EqualFold(scheme, "Kerberos") && !st.kerberos) {
		st.unsigned.Add(1)
		if req.Method != sip.ACK {
			s.sipaeChallenge(req, tx, "")
		}
		return nil, false
	}
	if req.Method == sip.ACK && hasToken {
		return nil, false // no handshake on ACK
	}
	var sa *serverSA
	switch {
	case strings.EqualFold(scheme, "NTLM") && hasToken && token == "" && opaque == "":
		// Leg 1: the client asks for the CHALLENGE_MESSAGE.
		st.unsigned.Add(1)
		s.ntlmChallenge(req, tx, p)
		return nil, false
	case strings.EqualFold(scheme, "NTLM") && hasToken && token != "":
		// Leg 3: the AUTHENTICATE_MESSAGE, in a request signed with its keys.
		sa = st.lookup(opaque, s.now())
		if sa == nil || sa.keys.Load() != nil {
			st.unsigned.Add(1)
			s.sipaeChallenge(req, tx, diagNoSA)
			return nil, false
		}
		if !s.ntlmAuthenticate(req, tx, sa, token) {
			return nil, false
		}
	case strings.EqualFold(scheme, "Kerberos") && hasToken && token != "":
		if sa = s.kerberosAccept(req, tx, token); sa == nil {
			return nil, false
		}
	default:
		sa = st.lookup(opaque, s.now())
		if sa == nil || sa.keys.Load() == nil {
			st.unsigned.Add(1)
			if req.Method != sip.ACK {
				s.sipaeChallenge(req, tx, diagNoSA)
			}
			return nil, false
		}
	}
	// Every request in the SA, the last handshake leg included (version 4),
	// is signed: check the signature, then the cnum (a replay is refused).
	b := sipae.MessageBuffer(req)
	b.Scheme, b.Rand, b.Num, b.Realm, b.TargetName = sa.scheme, p.Value("crand"), p.Value("cnum"), p.Value("realm"), p.Value("targetname")
	cnum, cerr := strconv.Atoi(p.Value("cnum"))
	k := sa.keys.Load()
	if cerr != nil || cnum < 1 || b.Realm != sipae.Realm || b.TargetName != sa.targetname || !k.chk(b.Bytes(), p.Value("response")) {
		st.refused.Add(1)
		s.refuseSignature(req, tx, diagBadSignature)
		return nil, false
	}
	sa.mu.Lock()
	fresh := sa.cnum.mark(cnum)
	sa.mu.Unlock()
	if !fresh {
		st.refused.Add(1)
		s.refuseSignature(req, tx, diagReplay)
		return nil, false
	}
	st.signed.Add(1)
	if req.Method == sip.ACK {
		return nil, false
	}
	if req.Method == sip.REGISTER {
		if msg := instanceProblem(req); msg != "" {
			t := &sipaeTx{ServerTransaction: tx, sa: sa, header: header}
			s.respond(req, t, sip.StatusBadRequest, msg)
			return nil, false
		}
	}
	return &sipaeTx{ServerTransaction: tx, sa: sa, header: header}, true
}

// instanceProblem checks what MS-SIPAE asks of a registering endpoint that
// names itself: the Contact's +sip.instance must be the one derived from the
// From's epid.
func instanceProblem(req *sip.Request) string {
	epid, _ := req.From().Params.Get("epid")
	c := req.Contact()
	if c == nil {
		return ""
	}
	inst, ok := c.Params.Get("+sip.instance")
	if !ok {
		return ""
	}
	inst = strings.Trim(inst, `"<>`)
	if epid == "" {
		return "Instance Without Epid"
	}
	if !strings.EqualFold(inst, "urn:uuid:"+sipua.InstanceUUID(epid)) {
		return "Instance Does Not Match Epid"
	}
	return ""
}

// sipaeChallenge answers req with the first-stage challenges (401 for
// REGISTER, else 407), with diag as ms-diagnostics when not empty.
func (s *Server) sipaeChallenge(req *sip.Request, tx sip.ServerTransaction, diag string) {
	name, code, reason := "Proxy-Authenticate", sip.StatusProxyAuthRequired, "Proxy Authentication Required"
	if req.Method == sip.REGISTER {
		name, code, reason = "WWW-Authenticate", sip.StatusUnauthorized, "Unauthorized"
	}
	var hdrs []sip.Header
	for _, c := range s.sae.challenges() {
		hdrs = append(hdrs, sip.NewHeader(name, c))
	}
	if s.sae.digest {
		hdrs = append(hdrs, sip.NewHeader(name, s.auth.challenge(false)))
	}
	if diag != "" {
		hdrs = append(hdrs, sip.NewHeader("ms-diagnostics", diag))
	}
	s.stats.authChallenges.Add(1)
	s.respond(req, tx, code, reason, hdrs...)
}

// refuseSignature answers a signed request whose signature or cnum is refused.
func (s *Server) refuseSignature(req *sip.Request, tx sip.ServerTransaction, diag string) {
	if req.Method == sip.ACK {
		return
	}
	s.stats.authFailures.Add(1)
	name := "Proxy-Authenticate"
	code := sip.StatusProxyAuthRequired
	if req.Method == sip.REGISTER {
		name, code = "WWW-Authenticate", sip.StatusUnauthorized
	}
	var hdrs []sip.Header
	for _, c := range s.sae.challenges() {
		hdrs = append(hdrs, sip.NewHeader(name, c))
	}
	hdrs = append(hdrs, sip.NewHeader("ms-diagnostics", diag))
	s.respond(req, tx, code, ReasonSignatureRefused, hdrs...)
}

// ntlmChallenge answers NTLM's first leg with a CHALLENGE_MESSAGE in a new
// pending SA.
func (s *Server) ntlmChallenge(req *sip.Request, tx sip.ServerTransaction, p sipae.Params) {
	st := s.sae
	sa := &serverSA{opaque: strings.ToUpper(sipae.NewRand()), scheme: "NTLM", targetname: st.targetname, created: s.now()}
	randBytes(sa.chal[:])
	st.add(sa)
	msg := sipae.NewChallenge(sipae.ServerFlags, sa.chal, st.nbDomain, "CHATLOAD", s.cfg.Domain, st.targetname)
	var c sipae.Params
	c.Scheme = "NTLM"
	c.Add("opaque", sa.opaque)
	c.Add("gssapi-data", base64.StdEncoding.EncodeToString(msg))
	c.Add("targetname", st.targetname)
	c.Add("realm", sipae.Realm)
	c.Add("version", strconv.Itoa(sipae.ProtocolVersion))
	name, code, reason := "Proxy-Authenticate", sip.StatusProxyAuthRequired, "Proxy Authentication Required"
	if req.Method == sip.REGISTER {
		name, code, reason = "WWW-Authenticate", sip.StatusUnauthorized, "Unauthorized"
	}
	s.stats.authChallenges.Add(1)
	s.respond(req, tx, code, reason, sip.NewHeader(name, c.String()))
}

// ntlmAuthenticate verifies the AUTHENTICATE_MESSAGE of NTLM's last leg and
// establishes sa, or answers req (false).
func (s *Server) ntlmAuthenticate(req *sip.Request, tx sip.ServerTransaction, sa *serverSA, token string) bool {
	st := s.sae
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		st.unsigned.Add(1)
		s.respond(req, tx, sip.StatusBadRequest, ReasonBadCredentials)
		return false
	}
	msg, err := sipae.ParseAuthenticate(raw)
	if err != nil {
		st.unsigned.Add(1)
		s.respond(req, tx, sip.StatusBadRequest, ReasonBadCredentials)
		return false
	}
	a := s.ntlmAccount(msg.User, msg.Domain)
	if a == nil {
		st.unsigned.Add(1)
		st.drop(sa.opaque)
		s.stats.authFailures.Add(1)
		s.sipaeChallenge(req, tx, diagUnknownUser)
		return false
	}
	keys, err := msg.Verify(sa.chal, a.password)
	if err != nil {
		st.unsigned.Add(1)
		st.drop(sa.opaque)
		s.stats.authFailures.Add(1)
		diag := diagWrongPassword
		if !errors.Is(err, sipae.ErrWrongResponse) {
			diag = `4006;reason="` + strings.ReplaceAll(err.Error(), `"`, "'") + `";source="chatload-serve"`
		}
		s.sipaeChallenge(req, tx, diag)
		return false
	}
	st.establish(sa, a, func(b []byte) string { x := keys.Sign(b); return hex.EncodeToString(x[:]) },
		func(b []byte, sig string) bool {
			x, err := hex.DecodeString(sig)
			return err == nil && keys.Check(b, x)
		})
	return true
}

// ntlmAccount finds the account an NTLM user and domain name: the auth user
// DOMAIN\user or user@domain as provisioned, else the bare user
// (case-insensitive, as Windows compares account names).
func (s *Server) ntlmAccount(user, domain string) *account {
	for _, k := range []string{domain + `\` + user, user + "@" + domain, user} {
		if a := s.byAuth[k]; a != nil {
			return a
		}
	}
	for k, a := range s.byAuth {
		u, _ := sipae.SplitUser(k, "")
		if strings.EqualFold(u, user) {
			return a
		}
	}
	return nil
}

func (st *sipaeState) establish(sa *serverSA, a *account, sign func([]byte) string, chk func([]byte, string) bool) {
	sa.keys.Store(&saKeys{acct: a, sign: sign, chk: chk})
	st.mu.Lock()
	st.byUser[a.user] = sa
	st.mu.Unlock()
	st.handshakes.Add(1)
}

// signRequest signs a request the server sends to a user (a room copy, a
// notice, an XCCOS INFO, a relayed MESSAGE) in the user's latest security
// association, as a Lync front end signs what it sends to a signed-in
// endpoint. Without one (digest, or not signed in) req is left alone.
func (st *sipaeState) signRequest(req *sip.Request) {
	if !st.ntlm && !st.kerberos {
		return
	}
	to := req.To()
	if to == nil {
		return
	}
	st.mu.Lock()
	sa := st.byUser[to.Address.User]
	st.mu.Unlock()
	if sa == nil {
		return
	}
	req.RemoveHeader("Authentication-Info")
	req.AppendHeader(sip.NewHeader("Authentication-Info", sa.authInfo(req)))
	st.signedOut.Add(1)
}

func randBytes(b []byte) { _, _ = rand.Read(b) } // crypto/rand.Read never fails on supported platforms

func (st *sipaeState) add(sa *serverSA) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for len(st.sas) >= st.max && len(st.fifo) > 0 {
		old := st.fifo[0]
		st.fifo[0] = nil
		st.fifo = st.fifo[1:]
		if st.sas[old.opaque] == old {
			delete(st.sas, old.opaque)
		}
	}
	st.sas[sa.opaque] = sa
	st.fifo = append(st.fifo, sa)
}

func (st *sipaeState) drop(opaque string) {
	st.mu.Lock()
	delete(st.sas, opaque)
	st.mu.Unlock()
}

// lookup returns the live SA (or pending handshake) of opaque.
func (st *sipaeState) lookup(opaque string, now time.Time) *serverSA {
	st.mu.Lock()
	defer st.mu.Unlock()
	sa := st.sas[opaque]
	if sa == nil {
		return nil
	}
	if now.Sub(sa.created) > saLifetime {
		delete(st.sas, opaque)
		return nil
	}
	return sa
}
