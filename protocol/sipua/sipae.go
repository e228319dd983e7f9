package sipua

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipae"
	"github.com/chatload/chatload/report"
)

// MS-SIPAE sign-in (Lync, Skype for Business): the NTLM and Kerberos schemes,
// their handshake on the request a server challenges, and the security
// association (SA) it sets up, in which every request the account sends is
// signed and every signed response and request it receives is verified.
//
// The hooks: Auth.sign is the one place an outgoing request of an SA gets
// its credentials (Account.build and Dialog.request call it), verify the one
// place an incoming message's signature is checked (call.final, Invite,
// Dialog.Do for responses; UA.onRequest and the inbox for requests).

// The authentication modes of Config.Auth.
const (
	AuthAuto     = "auto"     // by the schemes offered: Kerberos (when configured), NTLM, Digest
	AuthDigest   = "digest"   // RFC 2617/7616 digest only
	AuthNTLM     = "ntlm"     // MS-SIPAE NTLM only
	AuthKerberos = "kerberos" // MS-SIPAE Kerberos only
)

// ValidAuthMode reports whether m is one of the modes. It is a pure function.
func ValidAuthMode(m string) bool {
	switch m {
	case "", AuthAuto, AuthDigest, AuthNTLM, AuthKerberos:
		return true
	}
	return false
}

// signer signs and checks MS-SIPAE buffers with one side's keys of an SA.
// Implementations are immutable and safe for concurrent use.
type signer interface {
	sign(buf []byte) string // hex, as the response/rspauth parameter carries it
	check(buf []byte, sig string) bool
}

type ntlmSigner struct{ k *sipae.Keys }

func (s ntlmSigner) sign(buf []byte) string {
	sig := s.k.Sign(buf)
	return hex.EncodeToString(sig[:])
}

func (s ntlmSigner) check(buf []byte, sig string) bool {
	b, err := hex.DecodeString(sig)
	return err == nil && s.k.Check(buf, b)
}

// secAssoc is one MS-SIPAE security association, or the handshake setting
// it up. Fields are set before it is shared and never changed after, except
// cnum. A handshake belongs to the one call running it; an established SA
// (Auth.sa) is shared by all the account's requests.
type secAssoc struct {
	scheme      string // "NTLM" or "Kerberos", as the server wrote it
	header      string // "Authorization" or "Proxy-Authorization": as the server challenged
	realm       string // echoed byte for byte
	targetname  string
	version     string
	opaque      string
	token       string // gssapi-data of the handshake's next request (base64; "" for NTLM's first leg)
	keys        signer // nil before the handshake's last leg
	cnum        *atomic.Uint32
	started     time.Time
	established bool
}

// infoHeader is where the server's signature comes back.
func (sa *secAssoc) infoHeader() string {
	if sa.header == "Proxy-Authorization" {
		return "Proxy-Authentication-Info"
	}
	return "Authentication-Info"
}

// establish returns the SA the handshake sa has set up, for every later request.
func (sa *secAssoc) establish() *secAssoc {
	e := *sa
	e.token, e.established = "", true
	return &e
}

// Scheme returns the scheme of the account's established MS-SIPAE security
// association ("NTLM", "Kerberos"), or "" when there is none (digest, or not
// signed on). Safe for concurrent use.
func (a *Auth) Scheme() string {
	if sa := a.sa.Load(); sa != nil {
		return sa.scheme
	}
	return ""
}

// sign adds sa's credentials to req: the handshake's token while it runs,
// and once the keys exist crand, cnum and the signature of the request.
func (a *Auth) sign(req *sip.Request, sa *secAssoc) {
	var p sipae.Params
	p.Scheme = sa.scheme
	p.Add("qop", "auth")
	p.Add("realm", sa.realm)
	p.Add("targetname", sa.targetname)
	if sa.opaque != "" {
		p.Add("opaque", sa.opaque)
	}
	p.Add("version", sa.version)
	if !sa.established {
		p.Add("gssapi-data", sa.token)
	}
	if sa.keys != nil {
		crand := sipae.NewRand()
		cnum := strconv.FormatUint(uint64(sa.cnum.Add(1)), 10)
		b := sipae.MessageBuffer(req)
		b.Scheme, b.Rand, b.Num, b.Realm, b.TargetName = sa.scheme, crand, cnum, sa.realm, sa.targetname
		p.Add("crand", crand)
		p.Add("cnum", cnum)
		p.Add("response", sa.keys.sign(b.Bytes()))
	}
	req.RemoveHeader("Authorization")
	req.RemoveHeader("Proxy-Authorization")
	req.AppendHeader(sip.NewHeader(sa.header, p.String()))
}

// verify checks the server's signature of m (a response to a request signed
// in sa, or a request the server sent in it). A message without one is
// accepted unless required (the final response of a handshake must prove
// the server knows the keys); one that does not verify is refused.
func (a *Auth) verify(m sip.Message, sa *secAssoc, required bool, op string) error {
	if sa == nil || sa.keys == nil {
		return nil
	}
	var info sipae.Params
	found := false
	for _, name := range []string{sa.infoHeader(), "Authentication-Info", "Proxy-Authentication-Info"} {
		for _, h := range m.GetHeaders(name) {
			p, err := sipae.ParseParams(h.Value())
			if err != nil || !strings.EqualFold(p.Scheme, sa.scheme) {
				continue
			}
			if o := p.Value("opaque"); o != "" && sa.opaque != "" && o != sa.opaque {
				continue
			}
			info, found = p, true
			break
		}
		if found {
			break
		}
	}
	what := "request"
	code := 0
	if res, ok := m.(*sip.Response); ok {
		what, code = strconv.Itoa(res.StatusCode)+" response", res.StatusCode
	}
	if !found {
		if required {
			return authError(op, code, sipae.Realm, sa.scheme, report.AuthBadServerSig,
				fmt.Sprintf("the server's %s completing the %s handshake carries no signature (rspauth)", what, sa.scheme))
		}
		return nil
	}
	b := sipae.MessageBuffer(m)
	b.Scheme, b.Rand, b.Num, b.Realm, b.TargetName = sa.scheme, info.Value("srand"), info.Value("snum"), sa.realm, sa.targetname
	if !sa.keys.check(b.Bytes(), info.Value("rspauth")) {
		return authError(op, code, sipae.Realm, sa.scheme, report.AuthBadServerSig,
			fmt.Sprintf("the server's signature (rspauth) of its %s does not verify with the %s session keys", what, sa.scheme))
	}
	return nil
}

// authError is a failure of class Auth saying which problem.
func authError(op string, code int, _ string, scheme, problem, detail string) *report.Error {
	return &report.Error{Class: report.Auth, Code: code, Op: op, Detail: detail,
		Err: &report.AuthFailure{Problem: problem, Scheme: scheme}}
}

// offers are the schemes of a 401/407, by lower-case name: the first
// challenge of each.
func offers(res *sip.Response) (map[string]sipae.Params, []string) {
	name := "WWW-Authenticate"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		name = "Proxy-Authenticate"
	}
	m := map[string]sipae.Params{}
	var order []string
	for _, h := range res.GetHeaders(name) {
		p, err := sipae.ParseParams(h.Value())
		if err != nil {
			continue
		}
		k := strings.ToLower(p.Scheme)
		if _, seen := m[k]; !seen {
			m[k] = p
			order = append(order, p.Scheme)
		}
	}
	return m, order
}

// challenged decides how to answer a 401/407 to a request of method that
// carried sent (the SA or handshake it was signed in; nil: none or digest):
// the digest challenge to answer (st), the handshake's next leg (sa), or the
// error that ends the call. tries counts the challenges this call has had.
func (a *Auth) challenged(op string, method sip.RequestMethod, res *sip.Response, tries int, sent *secAssoc, where string) (*nonceState, *secAssoc, error) {
	code := res.StatusCode
	offered, order := offers(res)
	if sent != nil && sent.established {
		// A signed request refused: the SA expired (start over, once), or its
		// signature was refused.
		a.sa.CompareAndSwap(sent, nil)
		if strings.Contains(strings.ToLower(res.Reason+" "+diagnostics(res)), "signature") {
			return nil, nil, authError(op, code, "", sent.scheme, report.AuthSignatureRefused,
				fmt.Sprintf("%d %s from %s: the server refused the %s signature of the request%s", code, res.Reason, where, sent.scheme, diagSuffix(res)))
		}
		sent = nil
	}
	if sent != nil {
		p, ok := offered[strings.ToLower(sent.scheme)]
		token := p.Value("gssapi-data")
		if ok && token != "" && sent.keys == nil && strings.EqualFold(sent.scheme, "NTLM") {
			next, err := a.ntlmAuthenticate(op, sent, p, token, where, code)
			return nil, next, err
		}
		// The server started over after our proof: it refused the credentials.
		problem := report.AuthWrongPassword
		if strings.EqualFold(sent.scheme, "Kerberos") {
			problem = report.AuthHandshakeFailed // the KDC vouched for the password
		}
		switch d := strings.ToLower(res.Reason + " " + diagnostics(res)); {
		case strings.Contains(d, "unknown user"), strings.Contains(d, "not found"):
			problem = report.AuthUnknownUser
		case strings.Contains(d, "clock skew"):
			problem = report.AuthClockSkew
		case strings.Contains(d, "service principal"):
			problem = report.AuthUnknownSPN
		}
		return nil, nil, authError(op, code, "", sent.scheme, problem,
			fmt.Sprintf("%d %s from %s: %s authentication of %s refused%s", code, res.Reason, where, sent.scheme, a.username, diagSuffix(res)))
	}
	if tries > 4 {
		return nil, nil, authError(op, code, "", "", report.AuthHandshakeFailed,
			fmt.Sprintf("%d %s from %s: challenged %d times", code, res.Reason, where, tries))
	}
	scheme, err := a.choose(offered, order)
	if err != nil {
		return nil, nil, &report.Error{Class: report.Auth, Code: code, Op: op,
			Detail: fmt.Sprintf("%d %s from %s: %v", code, res.Reason, where, err),
			Err:    &report.AuthFailure{Problem: report.AuthSchemeNotOffered, Scheme: strings.Join(order, ", ")}}
	}
	if a.chosen != nil {
		a.chosen.Store(&scheme)
	}
	p := offered[strings.ToLower(scheme)]
	header := "Authorization"
	if code == sip.StatusProxyAuthRequired {
		header = "Proxy-Authorization"
	}
	switch strings.ToLower(scheme) {
	case "ntlm":
		if tok := p.Value("gssapi-data"); tok != "" {
			// A server that skips the first leg (an SA it still knows).
			sa := a.newSA(p, header)
			next, err := a.ntlmAuthenticate(op, sa, p, tok, where, code)
			return nil, next, err
		}
		return nil, a.newSA(p, header), nil
	case "kerberos":
		sa := a.newSA(p, header)
		if err := a.kerberosToken(op, sa, code, where); err != nil {
			return nil, nil, err
		}
		return nil, sa, nil
	}
	// Digest, as before: a challenge after credentials computed from a fresh
	// challenge means they are wrong; only stale=true earns one more try.
	ch, cerr := ChallengeFrom(res)
	if cerr != nil {
		return nil, nil, &report.Error{Class: report.Protocol, Code: code, Op: op,
			Detail: fmt.Sprintf("%d %s from %s: %v", code, res.Reason, where, cerr)}
	}
	if tries == 3 || (tries == 2 && !ch.Stale) {
		why := "credentials of " + a.username + " refused"
		if ch.Stale {
			why = "fresh nonce refused as stale again"
		}
		return nil, nil, &report.Error{Class: report.Auth, Code: code, Op: op,
			Detail: fmt.Sprintf("%d %s from %s: %s", code, res.Reason, where, why)}
	}
	return a.learn(method, ch), nil, nil
}

// choose picks the scheme to answer among those offered, by name (never by
// position), as the mode says.
func (a *Auth) choose(offered map[string]sipae.Params, order []string) (string, error) {
	has := func(s string) bool { _, ok := offered[s]; return ok }
	pick := func(s string) string { return offered[s].Scheme }
	list := strings.Join(order, ", ")
	if list == "" {
		list = "none this client can read"
	}
	switch a.mode {
	case AuthDigest:
		if has("digest") {
			return pick("digest"), nil
		}
	case AuthNTLM:
		if has("ntlm") {
			return pick("ntlm"), nil
		}
	case AuthKerberos:
		if has("kerberos") {
			return pick("kerberos"), nil
		}
	default:
		switch {
		case has("kerberos") && a.krb != nil:
			return pick("kerberos"), nil
		case has("ntlm"):
			return pick("ntlm"), nil
		case has("digest"):
			return pick("digest"), nil
		case has("kerberos"):
			return pick("kerberos"), nil
		}
		return "", fmt.Errorf("authentication scheme not offered: the server offers %s; chatload answers Kerberos, NTLM and Digest", list)
	}
	return "", fmt.Errorf("authentication scheme not offered: --auth %s, but the server offers %s", a.mode, list)
}

func (a *Auth) newSA(p sipae.Params, header string) *secAssoc {
	v := p.Value("version")
	if v == "" {
		v = strconv.Itoa(sipae.ProtocolVersion)
	}
	return &secAssoc{scheme: p.Scheme, header: header, realm: p.Value("realm"), targetname: p.Value("targetname"),
		version: v, opaque: p.Value("opaque"), cnum: new(atomic.Uint32), started: time.Now()}
}

// ntlmAuthenticate answers the server's CHALLENGE_MESSAGE (token, base64)
// for the handshake sa: the returned SA sends the AUTHENTICATE_MESSAGE,
// signed with the keys it sets up.
func (a *Auth) ntlmAuthenticate(op string, sa *secAssoc, p sipae.Params, token, where string, code int) (*secAssoc, error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return nil, &report.Error{Class: report.Protocol, Code: code, Op: op,
			Detail: fmt.Sprintf("NTLM challenge from %s: gssapi-data is not base64", where)}
	}
	ch, err := sipae.ParseChallenge(raw)
	if err != nil {
		return nil, &report.Error{Class: report.Protocol, Code: code, Op: op, Detail: "NTLM challenge from " + where, Err: err}
	}
	user, domain := sipae.SplitUser(a.username, "")
	if domain == "" {
		domain = ch.TargetName // the server's domain, as Windows does for a bare user name
	}
	msg, keys, err := sipae.Authenticate(ch, sipae.Credentials{User: user, Domain: domain, Password: a.password, Workstation: "CHATLOAD"},
		sipae.AuthenticateOptions{Now: filetime(time.Now())})
	if err != nil {
		return nil, authError(op, code, "", "NTLM", report.AuthHandshakeFailed, fmt.Sprintf("NTLM challenge from %s: %v", where, err))
	}
	next := *sa
	if o := p.Value("opaque"); o != "" {
		next.opaque = o
	}
	if r := p.Value("realm"); r != "" {
		next.realm = r
	}
	if t := p.Value("targetname"); t != "" {
		next.targetname = t
	}
	next.token = base64.StdEncoding.EncodeToString(msg)
	next.keys = ntlmSigner{keys}
	return &next, nil
}

// filetime is t as a Windows FILETIME: 100 ns since 1601.
func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// diagnostics is the response's ms-diagnostics header value, "" when none.
func diagnostics(res *sip.Response) string {
	if h := res.GetHeader("ms-diagnostics"); h != nil {
		return h.Value()
	}
	return ""
}

func diagSuffix(res *sip.Response) string {
	if d := diagnostics(res); d != "" {
		return "; ms-diagnostics: " + d
	}
	return ""
}

// Scheme returns the scheme the account signed in with when it has an
// MS-SIPAE security association ("NTLM", "Kerberos"), else "". Safe for
// concurrent use.
func (a *Account) Scheme() string { return a.auth.Scheme() }

// ReasonBadSignature is the reason phrase of the 403 with which an account
// refuses a request the server signed when the signature does not verify.
const ReasonBadSignature = "Bad Signature"

// accept verifies the server's signature of req, a request for the account,
// when it has one in the account's security association; a signature that
// does not verify is logged and the request refused.
func (a *Account) accept(req *sip.Request) bool {
	sa := a.auth.sa.Load()
	if sa == nil {
		return true
	}
	if err := a.auth.verify(req, sa, false, "receive"); err != nil {
		a.ua.log.Warn("refused a request the server signed", "user", a.aor.String(), "method", req.Method, "error", err)
		a.ua.badSigs.Add(1)
		return false
	}
	return true
}

// BadSignatures counts the requests the UA refused because the server's
// signature did not verify. Safe for concurrent use.
func (ua *UA) BadSignatures() uint64 { return ua.badSigs.Load() }

// infoOpaque is the opaque of the server's signature of m in sa's scheme.
func infoOpaque(m sip.Message, sa *secAssoc) string {
	for _, name := range []string{sa.infoHeader(), "Authentication-Info", "Proxy-Authentication-Info"} {
		for _, h := range m.GetHeaders(name) {
			if p, err := sipae.ParseParams(h.Value()); err == nil && strings.EqualFold(p.Scheme, sa.scheme) {
				return p.Value("opaque")
			}
		}
	}
	return ""
}
