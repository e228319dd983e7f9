package sipae

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// NTLM (MS-NLMP) as MS-SIPAE uses it: connectionless (no NEGOTIATE_MESSAGE),
// NTLMv2 responses only, extended session security, key exchange, and a
// signature per SIP message. The message codec is ours: the Go NTLM
// libraries we looked at (github.com/Azure/go-ntlmssp among them) do the HTTP
// connection-oriented exchange and neither export the session key nor sign,
// and the server side (verifying an AUTHENTICATE_MESSAGE) is not in them at all.

// NTLM negotiate flags (MS-NLMP 2.2.2.5).
const (
	FlagUnicode       uint32 = 0x00000001
	FlagOEM           uint32 = 0x00000002
	FlagRequestTarget uint32 = 0x00000004
	FlagSign          uint32 = 0x00000010
	FlagSeal          uint32 = 0x00000020
	FlagDatagram      uint32 = 0x00000040
	FlagNTLM          uint32 = 0x00000200
	FlagAlwaysSign    uint32 = 0x00008000
	FlagTargetDomain  uint32 = 0x00010000
	FlagTargetServer  uint32 = 0x00020000
	FlagESS           uint32 = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	FlagIdentify      uint32 = 0x00100000
	FlagTargetInfo    uint32 = 0x00800000
	FlagVersion       uint32 = 0x02000000
	Flag128           uint32 = 0x20000000
	FlagKeyExch       uint32 = 0x40000000
	Flag56            uint32 = 0x80000000
)

// ServerFlags are the flags the embedded server offers in its
// CHALLENGE_MESSAGE: what a Lync front end requires by default (sign, key
// exchange, datagram, extended session security, 128-bit) plus Unicode and
// target info.
const ServerFlags = FlagUnicode | FlagRequestTarget | FlagSign | FlagDatagram | FlagNTLM | FlagAlwaysSign | FlagIdentify |
	FlagTargetServer | FlagESS | FlagTargetInfo | FlagVersion | Flag128 | FlagKeyExch | Flag56

// required are the flags a connectionless NTLM security association for SIP
// cannot do without: the signature scheme implemented here needs them.
const required = FlagSign | FlagDatagram | FlagESS | FlagKeyExch

// AV pair ids (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avTimestamp       = 7
)

var ntlmSignature = []byte("NTLMSSP\x00")

// Version is the 8-byte VERSION structure (MS-NLMP 2.2.2.10) we send:
// Windows 6.1 build 7601, NTLM revision 15.
var Version = [8]byte{6, 1, 0xb1, 0x1d, 0, 0, 0, 0x0f}

// Challenge is a parsed CHALLENGE_MESSAGE.
type Challenge struct {
	Flags      uint32
	ServerChal [8]byte
	TargetName string
	TargetInfo []byte // raw AV pairs
	Raw        []byte
}

// NewChallenge builds a CHALLENGE_MESSAGE (connectionless: the server's flags
// are the offer) for the given NetBIOS/DNS names. It is a pure function.
func NewChallenge(flags uint32, chal [8]byte, nbDomain, nbComputer, dnsDomain, dnsComputer string) []byte {
	var info []byte
	av := func(id uint16, s string) {
		v := utf16le(s)
		info = binary.LittleEndian.AppendUint16(info, id)
		info = binary.LittleEndian.AppendUint16(info, uint16(len(v)))
		info = append(info, v...)
	}
	av(avNbDomainName, nbDomain)
	av(avNbComputerName, nbComputer)
	if dnsDomain != "" {
		av(avDNSDomainName, dnsDomain)
	}
	if dnsComputer != "" {
		av(avDNSComputerName, dnsComputer)
	}
	info = append(info, 0, 0, 0, 0) // MsvAvEOL
	target := utf16le(nbDomain)
	const hdr = 56
	b := make([]byte, 0, hdr+len(target)+len(info))
	b = append(b, ntlmSignature...)
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = appendField(b, len(target), hdr)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(b, chal[:]...)
	b = append(b, make([]byte, 8)...)
	b = appendField(b, len(info), hdr+len(target))
	b = append(b, Version[:]...)
	b = append(b, target...)
	return append(b, info...)
}

// ParseChallenge parses a CHALLENGE_MESSAGE. It is a pure function.
func ParseChallenge(b []byte) (*Challenge, error) {
	if len(b) < 48 || string(b[:8]) != string(ntlmSignature) || binary.LittleEndian.Uint32(b[8:]) != 2 {
		return nil, errors.New("ntlm: not a CHALLENGE_MESSAGE")
	}
	c := &Challenge{Flags: binary.LittleEndian.Uint32(b[20:]), Raw: b}
	copy(c.ServerChal[:], b[24:32])
	tn, err := field(b, 12)
	if err != nil {
		return nil, fmt.Errorf("ntlm: challenge target name: %w", err)
	}
	c.TargetName = decodeString(tn, c.Flags)
	if c.Flags&FlagTargetInfo != 0 {
		if c.TargetInfo, err = field(b, 40); err != nil {
			return nil, fmt.Errorf("ntlm: challenge target info: %w", err)
		}
	}
	return c, nil
}

// Credentials are an NTLM user's: the user name and domain as MS-NLMP
// computes NTOWFv2 over them, and the password.
type Credentials struct {
	User, Domain, Password string
	Workstation            string
}

// SplitUser turns an auth user into NTLM's user and domain: DOMAIN\user,
// user@domain (the domain is then the UPN suffix, which Windows accepts as
// the domain), or a bare user with defDomain. It is a pure function.
func SplitUser(authUser, defDomain string) (user, domain string) {
	if i := strings.IndexByte(authUser, '\\'); i >= 0 {
		return authUser[i+1:], authUser[:i]
	}
	if i := strings.LastIndexByte(authUser, '@'); i >= 0 {
		return authUser[:i], authUser[i+1:]
	}
	return authUser, defDomain
}

// NTOWFv2 is MS-NLMP 3.3.2's ResponseKeyNT. It is a pure function.
func NTOWFv2(password, user, domain string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(user)+domain))
}

// AuthenticateOptions fix what is otherwise random or current (tests
// reproduce the specification's examples with them).
type AuthenticateOptions struct {
	Flags      uint32   // 0: the challenge's flags less what we do not do
	ClientChal [8]byte  // zero: random
	Time       uint64   // zero: the challenge's MsvAvTimestamp, else now
	SessionKey [16]byte // the random session key sent under key exchange; zero: random
	Version    *[8]byte // nil: Version
	Now        uint64   // current FILETIME when Time is zero and the challenge has none
}

// Authenticate computes the AUTHENTICATE_MESSAGE answering ch for cr, and
// the security association's keys. It refuses a challenge that does not
// offer what connectionless signing needs.
func Authenticate(ch *Challenge, cr Credentials, o AuthenticateOptions) ([]byte, *Keys, error) {
	flags := o.Flags
	if flags == 0 {
		flags = ch.Flags &^ (FlagOEM | FlagTargetDomain | FlagTargetServer | FlagSeal)
		if flags&required != required {
			return nil, nil, fmt.Errorf("ntlm: the server's challenge lacks %s", describeFlags(required&^flags))
		}
	}
	cc := o.ClientChal
	if cc == ([8]byte{}) {
		randRead(cc[:])
	}
	ts := o.Time
	if ts == 0 {
		if v, ok := avValue(ch.TargetInfo, avTimestamp); ok && len(v) == 8 {
			ts = binary.LittleEndian.Uint64(v)
		} else {
			ts = o.Now
		}
	}
	key := NTOWFv2(cr.Password, cr.User, cr.Domain)
	temp := ntlmv2Temp(ts, cc, ch.TargetInfo)
	proof := hmacMD5(key, append(ch.ServerChal[:], temp...))
	nt := append(proof, temp...)
	lm := append(hmacMD5(key, append(ch.ServerChal[:], cc[:]...)), cc[:]...)
	base := hmacMD5(key, proof)

	exported := base
	var encKey []byte
	if flags&FlagKeyExch != 0 {
		sk := o.SessionKey
		if sk == ([16]byte{}) {
			randRead(sk[:])
		}
		exported = sk[:]
		encKey = rc4K(base, sk[:])
	}
	ver := Version
	if o.Version != nil {
		ver = *o.Version
	}
	dom, usr, ws := encodeString(cr.Domain, flags), encodeString(cr.User, flags), encodeString(cr.Workstation, flags)
	const hdr = 72
	b := make([]byte, 0, hdr+len(dom)+len(usr)+len(ws)+len(lm)+len(nt)+len(encKey))
	b = append(b, ntlmSignature...)
	b = binary.LittleEndian.AppendUint32(b, 3)
	off := hdr + len(dom) + len(usr) + len(ws)
	b = appendField(b, len(lm), off)
	b = appendField(b, len(nt), off+len(lm))
	b = appendField(b, len(dom), hdr)
	b = appendField(b, len(usr), hdr+len(dom))
	b = appendField(b, len(ws), hdr+len(dom)+len(usr))
	b = appendField(b, len(encKey), off+len(lm)+len(nt))
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(b, ver[:]...)
	b = append(b, dom...)
	b = append(b, usr...)
	b = append(b, ws...)
	b = append(b, lm...)
	b = append(b, nt...)
	b = append(b, encKey...)
	return b, NewKeys(exported, flags, true), nil
}

// ntlmv2Temp is MS-NLMP 3.3.2's temp: the NTLMv2_CLIENT_CHALLENGE.
func ntlmv2Temp(ts uint64, cc [8]byte, info []byte) []byte {
	t := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	t = binary.LittleEndian.AppendUint64(t, ts)
	t = append(t, cc[:]...)
	t = append(t, 0, 0, 0, 0)
	t = append(t, info...)
	return append(t, 0, 0, 0, 0)
}

// Authenticated is a parsed AUTHENTICATE_MESSAGE, as the server reads it.
type Authenticated struct {
	Flags                 uint32
	User, Domain, Station string
	LM, NT, EncKey        []byte
}

// ParseAuthenticate parses an AUTHENTICATE_MESSAGE. It is a pure function.
func ParseAuthenticate(b []byte) (*Authenticated, error) {
	if len(b) < 64 || string(b[:8]) != string(ntlmSignature) || binary.LittleEndian.Uint32(b[8:]) != 3 {
		return nil, errors.New("ntlm: not an AUTHENTICATE_MESSAGE")
	}
	a := &Authenticated{Flags: binary.LittleEndian.Uint32(b[60:])}
	var fs [6][]byte
	for i := range fs {
		f, err := field(b, 12+8*i)
		if err != nil {
			return nil, fmt.Errorf("ntlm: authenticate field %d: %w", i, err)
		}
		fs[i] = f
	}
	a.LM, a.NT, a.EncKey = fs[0], fs[1], fs[5]
	a.Domain, a.User, a.Station = decodeString(fs[2], a.Flags), decodeString(fs[3], a.Flags), decodeString(fs[4], a.Flags)
	return a, nil
}

// ErrWrongResponse is Verify's answer to an NTLMv2 response that the
// password does not reproduce (wrong password, or a tampered message).
var ErrWrongResponse = errors.New("ntlm: NTLMv2 response does not match the password")

// Verify checks a's NTLMv2 response against serverChal and the user's
// password, and returns the server's keys of the security association.
func (a *Authenticated) Verify(serverChal [8]byte, password string) (*Keys, error) {
	if len(a.NT) < 16+28 {
		return nil, errors.New("ntlm: no NTLMv2 response (NTLMv1 is refused)")
	}
	if a.Flags&required != required {
		return nil, fmt.Errorf("ntlm: the client's flags lack %s", describeFlags(required&^a.Flags))
	}
	key := NTOWFv2(password, a.User, a.Domain)
	proof := hmacMD5(key, append(serverChal[:], a.NT[16:]...))
	if subtle.ConstantTimeCompare(proof, a.NT[:16]) != 1 {
		return nil, ErrWrongResponse
	}
	base := hmacMD5(key, proof)
	exported := base
	if a.Flags&FlagKeyExch != 0 {
		if len(a.EncKey) != 16 {
			return nil, errors.New("ntlm: key exchange without a 16-byte session key")
		}
		exported = rc4K(base, a.EncKey)
	}
	return NewKeys(exported, a.Flags, false), nil
}

// Keys are one side's keys of an NTLM security association: it signs with
// its own signing and sealing keys and verifies with the peer's. Immutable;
// safe for concurrent use.
type Keys struct {
	flags            uint32
	signOut, sealOut []byte
	signIn, sealIn   []byte
}

// NewKeys derives the keys (MS-NLMP 3.4.5) from the exported session key;
// client tells which side uses them. It is a pure function.
func NewKeys(exported []byte, flags uint32, client bool) *Keys {
	k := &Keys{flags: flags}
	cs, ss := signKey(exported, true), signKey(exported, false)
	cl, sl := sealKey(exported, flags, true), sealKey(exported, flags, false)
	if client {
		k.signOut, k.sealOut, k.signIn, k.sealIn = cs, cl, ss, sl
	} else {
		k.signOut, k.sealOut, k.signIn, k.sealIn = ss, sl, cs, cl
	}
	return k
}

// SeqNum is the sequence number of every connectionless SIP signature:
// MS-SIPAE's recorded signatures reproduce only with 100.
const SeqNum = 100

// Sign returns the 16-byte NTLMSSP_MESSAGE_SIGNATURE of msg (extended
// session security, connectionless: the RC4 handle keyed afresh per message)
// with this side's keys.
func (k *Keys) Sign(msg []byte) [16]byte { return mac(k.flags, k.signOut, k.sealOut, msg) }

// Check reports whether sig is the peer's signature of msg.
func (k *Keys) Check(msg []byte, sig []byte) bool {
	want := mac(k.flags, k.signIn, k.sealIn, msg)
	return len(sig) == 16 && subtle.ConstantTimeCompare(want[:], sig) == 1
}

func mac(flags uint32, sign, seal, msg []byte) [16]byte {
	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], 1)
	var seq [4]byte
	binary.LittleEndian.PutUint32(seq[:], SeqNum)
	m := hmac.New(md5.New, sign)
	m.Write(seq[:])
	m.Write(msg)
	sum := m.Sum(nil)
	if flags&FlagKeyExch != 0 {
		// Connectionless: the handle is RC4 keyed with MD5(SealingKey || SeqNum).
		h := md5.Sum(append(append([]byte(nil), seal...), seq[:]...))
		c, _ := rc4.NewCipher(h[:])
		c.XORKeyStream(out[4:12], sum[:8])
	} else {
		copy(out[4:12], sum[:8])
	}
	copy(out[12:], seq[:])
	return out
}

func signKey(exported []byte, client bool) []byte {
	magic := "session key to server-to-client signing key magic constant\x00"
	if client {
		magic = "session key to client-to-server signing key magic constant\x00"
	}
	s := md5.Sum(append(append([]byte(nil), exported...), magic...))
	return s[:]
}

func sealKey(exported []byte, flags uint32, client bool) []byte {
	var k []byte
	switch {
	case flags&Flag128 != 0:
		k = exported
	case flags&Flag56 != 0:
		k = exported[:7]
	default:
		k = exported[:5]
	}
	magic := "session key to server-to-client sealing key magic constant\x00"
	if client {
		magic = "session key to client-to-server sealing key magic constant\x00"
	}
	s := md5.Sum(append(append([]byte(nil), k...), magic...))
	return s[:]
}

func hmacMD5(key, data []byte) []byte {
	m := hmac.New(md5.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func rc4K(key, data []byte) []byte {
	c, _ := rc4.NewCipher(key)
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return b
}

func encodeString(s string, flags uint32) []byte {
	if flags&FlagUnicode != 0 {
		return utf16le(s)
	}
	return []byte(s)
}

func decodeString(b []byte, flags uint32) string {
	if flags&FlagUnicode == 0 {
		return string(b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func appendField(b []byte, n, off int) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	return binary.LittleEndian.AppendUint32(b, uint32(off))
}

// field returns the payload a len/maxlen/offset field at at points to.
func field(b []byte, at int) ([]byte, error) {
	if at+8 > len(b) {
		return nil, errors.New("truncated header")
	}
	n := int(binary.LittleEndian.Uint16(b[at:]))
	off := int(binary.LittleEndian.Uint32(b[at+4:]))
	if n == 0 {
		return nil, nil
	}
	if off < 0 || off > len(b) || n > len(b)-off {
		return nil, errors.New("field outside the message")
	}
	return b[off : off+n], nil
}

func avValue(info []byte, id uint16) ([]byte, bool) {
	for len(info) >= 4 {
		k, n := binary.LittleEndian.Uint16(info), int(binary.LittleEndian.Uint16(info[2:]))
		if k == avEOL || 4+n > len(info) {
			return nil, false
		}
		if k == id {
			return info[4 : 4+n], true
		}
		info = info[4+n:]
	}
	return nil, false
}

func describeFlags(f uint32) string {
	var names []string
	for _, n := range []struct {
		f    uint32
		name string
	}{{FlagSign, "SIGN"}, {FlagDatagram, "DATAGRAM"}, {FlagESS, "EXTENDED_SESSIONSECURITY"}, {FlagKeyExch, "KEY_EXCH"}} {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ", ")
}
