// Package sipae is the wire side of MS-SIPAE (SIP Authentication
// Extensions), the way Lync and Skype for Business servers authenticate SIP:
// the NTLM and Kerberos schemes' header parameters, the buffer each message's
// signature covers, NTLM's connectionless codec and signatures (MS-NLMP), the
// Kerberos MIC signatures. (The endpoint identifier and its +sip.instance,
// MS-SIPRE, are protocol/sipua's epid.go.) The client (protocol/sipua) and the embedded
// server (server) both build on it. Everything here is a pure function or
// an immutable value unless its comment says otherwise.
package sipae

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Realm is the realm a Lync front end names in its challenges.
const Realm = "SIP Communications Service"

// Protocol version we speak (MS-SIPAE's version 4: the AUTHENTICATE request
// is itself signed).
const ProtocolVersion = 4

// Params are an NTLM or Kerberos credentials, challenge or
// Authentication-Info header: the scheme and its parameters in order.
type Params struct {
	Scheme string // "NTLM", "Kerberos", "TLS-DSK", "Digest", as written
	Keys   []string
	Values []string
}

// ParseParams parses `Scheme k="v", k2=v2`. Values lose their quotes (and
// quoted-pair escapes). It reports an error for a header it cannot read.
func ParseParams(v string) (Params, error) {
	v = strings.TrimSpace(v)
	sp := strings.IndexAny(v, " \t")
	if sp < 0 {
		return Params{Scheme: v}, nil
	}
	p := Params{Scheme: v[:sp]}
	rest := v[sp+1:]
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return p, nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return Params{}, fmt.Errorf("%s parameters: %q has no value", p.Scheme, rest)
		}
		k := strings.TrimSpace(rest[:eq])
		if k == "" { // only white space before the '=' (e.g. CR): no name
			return Params{}, fmt.Errorf("%s parameters: %q has no name", p.Scheme, rest)
		}
		if !isToken(k) { // RFC 3261 auth-param: token "=" ( token / quoted-string )
			return Params{}, fmt.Errorf("%s parameters: %q is not a parameter name", p.Scheme, k)
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) {
				return Params{}, fmt.Errorf("%s parameter %s: unterminated quoted string", p.Scheme, k)
			}
			val, rest = b.String(), rest[i+1:]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		p.Keys = append(p.Keys, k)
		p.Values = append(p.Values, val)
	}
}

// isToken reports whether s is an RFC 3261 token: alphanumerics and
// -.!%*_+`'~ only.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// Get returns the value of parameter k (case-insensitive) and whether it is there.
func (p Params) Get(k string) (string, bool) {
	for i, key := range p.Keys {
		if strings.EqualFold(key, k) {
			return p.Values[i], true
		}
	}
	return "", false
}

// Value returns parameter k's value, "" when absent.
func (p Params) Value(k string) string { v, _ := p.Get(k); return v }

// Add appends parameter k=v.
func (p *Params) Add(k, v string) {
	p.Keys = append(p.Keys, k)
	p.Values = append(p.Values, v)
}

// unquoted parameters: written bare, as Lync writes them.
func bare(k string) bool { return k == "version" }

// String writes the header value: every parameter quoted except version.
func (p Params) String() string {
	var b strings.Builder
	b.WriteString(p.Scheme)
	for i, k := range p.Keys {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		if bare(k) {
			b.WriteString(p.Values[i])
			continue
		}
		b.WriteByte('"')
		for _, c := range []byte(p.Values[i]) {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	return b.String()
}

// Buffer is the values a signature covers (MS-SIPAE 3.2.5.5 / 3.3.5.5), in
// order: the scheme, crand or srand, cnum or snum, realm, targetname,
// Call-ID, CSeq number and method, From URI and tag, To URI and tag, the sip
// and tel URIs of P-Asserted-Identity, Expires, and for a response its status.
type Buffer struct {
	Scheme, Rand, Num, Realm, TargetName string
	CallID, CSeqNum, CSeqMethod          string
	FromURI, FromTag, ToURI, ToTag       string
	PAISip, PAITel, Expires              string
	Status                               string // responses only
}

// Bytes is the signed text: each value in <>, concatenated.
func (b Buffer) Bytes() []byte {
	vals := []string{b.Scheme, b.Rand, b.Num, b.Realm, b.TargetName, b.CallID, b.CSeqNum, b.CSeqMethod,
		b.FromURI, b.FromTag, b.ToURI, b.ToTag, b.PAISip, b.PAITel, b.Expires}
	if b.Status != "" {
		vals = append(vals, b.Status)
	}
	n := 0
	for _, v := range vals {
		n += len(v) + 2
	}
	out := make([]byte, 0, n)
	for _, v := range vals {
		out = append(out, '<')
		out = append(out, v...)
		out = append(out, '>')
	}
	return out
}

// MessageBuffer fills a Buffer's message part from a request or response
// (sipgo's parsed form): everything except the scheme, rand, num, realm and
// targetname.
func MessageBuffer(m sip.Message) Buffer {
	var b Buffer
	if h := m.CallID(); h != nil {
		b.CallID = h.Value()
	}
	if h := m.CSeq(); h != nil {
		b.CSeqNum = strconv.FormatUint(uint64(h.SeqNo), 10)
		b.CSeqMethod = string(h.MethodName)
	}
	if h := m.From(); h != nil {
		b.FromURI = h.Address.String()
		b.FromTag, _ = h.Params.Get("tag")
	}
	if h := m.To(); h != nil {
		b.ToURI = h.Address.String()
		b.ToTag, _ = h.Params.Get("tag")
	}
	for _, h := range m.GetHeaders("P-Asserted-Identity") {
		for _, part := range splitAddresses(h.Value()) {
			u := addrSpec(part)
			switch {
			case hasScheme(u, "sip"), hasScheme(u, "sips"):
				if b.PAISip == "" {
					b.PAISip = u
				}
			case hasScheme(u, "tel"):
				if b.PAITel == "" {
					b.PAITel = u
				}
			}
		}
	}
	if hs := m.GetHeaders("Expires"); len(hs) > 0 {
		b.Expires = strings.TrimSpace(hs[0].Value())
	}
	if res, ok := m.(*sip.Response); ok {
		b.Status = strconv.Itoa(res.StatusCode)
	}
	return b
}

func hasScheme(u, s string) bool {
	return len(u) > len(s) && u[len(s)] == ':' && strings.EqualFold(u[:len(s)], s)
}

// splitAddresses splits a header value on the commas between addresses
// (not those inside <> or quotes).
func splitAddresses(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// addrSpec is the URI of a name-addr ("Name" <uri>;params) or addr-spec.
func addrSpec(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j >= 0 {
			return v[i+1 : i+j]
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// NewRand returns a fresh crand/srand: 8 hex digits.
func NewRand() string {
	var b [4]byte
	randRead(b[:])
	return hex.EncodeToString(b[:])
}

func randRead(b []byte) { _, _ = rand.Read(b) } // crypto/rand.Read never fails on supported platforms
