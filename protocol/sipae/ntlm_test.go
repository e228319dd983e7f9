package sipae

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MS-NLMP 4.2.4: NTLMv2 authentication with user "User", domain "Domain",
// password "Password", server challenge 0123456789abcdef, client challenge
// aaaaaaaaaaaaaaaa, time 0, random session key 55...55, workstation
// "COMPUTER". The CHALLENGE_MESSAGE and AUTHENTICATE_MESSAGE are the
// specification's bytes.
const (
	spec424Challenge    = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000"
	spec424Authenticate = "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e"
)

func spec424(t *testing.T) ([]byte, *Keys) {
	t.Helper()
	ch, err := ParseChallenge(unhex(t, spec424Challenge))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Flags != 0xe28a8233 || ch.TargetName != "Server" || hex.EncodeToString(ch.ServerChal[:]) != "0123456789abcdef" {
		t.Fatalf("challenge parsed as flags %#x target %q chal %x", ch.Flags, ch.TargetName, ch.ServerChal)
	}
	var sk [16]byte
	for i := range sk {
		sk[i] = 0x55
	}
	ver := [8]byte{0x05, 0x01, 0x28, 0x0a, 0, 0, 0, 0x0f}
	msg, keys, err := Authenticate(ch, Credentials{User: "User", Domain: "Domain", Password: "Password", Workstation: "COMPUTER"},
		AuthenticateOptions{Flags: 0xe2888235, ClientChal: [8]byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}, Time: 0, Now: 0,
			SessionKey: sk, Version: &ver})
	if err != nil {
		t.Fatal(err)
	}
	return msg, keys
}

func TestNTLMv2SpecVectors(t *testing.T) {
	if got := hex.EncodeToString(NTOWFv2("Password", "User", "Domain")); got != "0c868a403bfd7a93a3001ef22ef02e3f" {
		t.Errorf("NTOWFv2 = %s; want 0c868a403bfd7a93a3001ef22ef02e3f (4.2.4.1.1)", got)
	}
	msg, keys := spec424(t)
	if got := hex.EncodeToString(msg); got != spec424Authenticate {
		t.Errorf("AUTHENTICATE_MESSAGE\n got %s\nwant %s", got, spec424Authenticate)
	}
	// 4.2.4.1.3 / 4.2.4.2: the client's signing and sealing keys.
	if got := hex.EncodeToString(keys.signOut); got != "4788dc861b4782f35d43fd98fe1a2d39" {
		t.Errorf("client signing key %s; want 4788dc861b4782f35d43fd98fe1a2d39", got)
	}
	if got := hex.EncodeToString(keys.sealOut); got != "59f600973cc4960a25480a7c196e4c58" {
		t.Errorf("client sealing key %s; want 59f600973cc4960a25480a7c196e4c58", got)
	}
	// 4.2.4.4: "Plaintext" (UTF-16) sealed with the client's sealing key,
	// and the checksum of its signature under the same RC4 stream.
	plain := utf16le("Plaintext")
	stream := rc4K(keys.sealOut, append(append([]byte(nil), plain...), make([]byte, 8)...))
	if got := hex.EncodeToString(stream[:len(plain)]); got != "54e50165bf1936dc996020c1811b0f06fb5f" {
		t.Errorf("sealed Plaintext %s; want 54e50165bf1936dc996020c1811b0f06fb5f", got)
	}
	h := hmacMD5(keys.signOut, append([]byte{0, 0, 0, 0}, plain...))
	if got := hex.EncodeToString(h[:8]); got != "70352851f2564309" {
		t.Errorf("HMAC of seq 0 || Plaintext %s; want 70352851f2564309", got)
	}
	var cs [8]byte
	for i := range cs {
		cs[i] = h[i] ^ stream[len(plain)+i]
	}
	if got := hex.EncodeToString(cs[:]); got != "7fb38ec5c55d4976" {
		t.Errorf("checksum %s; want 7fb38ec5c55d4976", got)
	}
}

// The server side verifies the specification's AUTHENTICATE_MESSAGE and
// derives the same keys, and refuses it for another password.
func TestNTLMVerifySpecMessage(t *testing.T) {
	a, err := ParseAuthenticate(unhex(t, spec424Authenticate))
	if err != nil {
		t.Fatal(err)
	}
	if a.User != "User" || a.Domain != "Domain" || a.Station != "COMPUTER" {
		t.Fatalf("parsed user %q domain %q station %q", a.User, a.Domain, a.Station)
	}
	// The spec's flags lack DATAGRAM, which connectionless SIP requires.
	a.Flags |= FlagDatagram
	chal := [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	sk, err := a.Verify(chal, "Password")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(sk.signIn); got != "4788dc861b4782f35d43fd98fe1a2d39" {
		t.Errorf("server's copy of the client signing key %s", got)
	}
	if _, err := a.Verify(chal, "password"); err != ErrWrongResponse {
		t.Errorf("wrong password: %v; want ErrWrongResponse", err)
	}
}

// A recorded Communicator 2007 R2 sign-in to OCS 2007 R2 (user User, domain
// COSMO, password Pa$$word): our AUTHENTICATE_MESSAGE is Communicator's byte
// for byte, and the MS-SIPAE signatures of its REGISTER and of the server's
// 200 are the recorded ones.
func TestNTLMRecordedSignIn(t *testing.T) {
	type2, _ := base64.StdEncoding.DecodeString("TlRMTVNTUAACAAAAAAAAADgAAADzgpji3Ruq9OfiGNEAAAAAAAAAAJYAlgA4AAAABQLODgAAAA8CAAoAQwBPAFMATQBPAAEAGABDAE8AUwBNAE8ALQBPAEMAUwAtAFIAMgAEABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAMAMABjAG8AcwBtAG8ALQBvAGMAcwAtAHIAMgAuAGMAbwBzAG0AbwAuAGwAbwBjAGEAbAAFABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAAAAAA=")
	type3, _ := base64.StdEncoding.DecodeString("TlRMTVNTUAADAAAAGAAYAHIAAADGAMYAigAAAAoACgBIAAAACAAIAFIAAAAYABgAWgAAABAAEABQAQAAVYKYYgUCzg4AAAAPQwBPAFMATQBPAFUAcwBlAHIAQwBPAFMATQBPAC0ATwBDAFMALQBSADIAoeku/k4Hi/fFwASazGFmwtauh1yw/apBjcDIAK527KYG0rn769BHMQEBAAAAAAAAWVGaFye5ygHWrodcsP2qQQAAAAACAAoAQwBPAFMATQBPAAEAGABDAE8AUwBNAE8ALQBPAEMAUwAtAFIAMgAEABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAMAMABjAG8AcwBtAG8ALQBvAGMAcwAtAHIAMgAuAGMAbwBzAG0AbwAuAGwAbwBjAGEAbAAFABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAAAAAAAAAAAMctznhyoCkmFkeiueXEV5A==")
	ch, err := ParseChallenge(type2)
	if err != nil {
		t.Fatal(err)
	}
	// The random session key Communicator chose, recovered from its message.
	key := NTOWFv2("Pa$$word", "User", "COSMO")
	rec, err := ParseAuthenticate(type3)
	if err != nil {
		t.Fatal(err)
	}
	base := hmacMD5(key, rec.NT[:16])
	var sk [16]byte
	copy(sk[:], rc4K(base, rec.EncKey))
	var cc [8]byte
	copy(cc[:], unhex(t, "D6AE875CB0FDAA41"))
	ver := [8]byte{0x05, 0x02, 0xce, 0x0e, 0, 0, 0, 0x0f}
	ts := uint64(0)
	for i, b := range unhex(t, "59519A1727B9CA01") {
		ts |= uint64(b) << (8 * i)
	}
	msg, keys, err := Authenticate(ch, Credentials{User: "User", Domain: "COSMO", Password: "Pa$$word", Workstation: "COSMO-OCS-R2"},
		AuthenticateOptions{Flags: 0x62988255, ClientChal: cc, Time: ts, SessionKey: sk, Version: &ver})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, type3) {
		t.Errorf("AUTHENTICATE_MESSAGE\n got %x\nwant %x", msg, type3)
	}
	req := []byte("<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><><><><>")
	sig := keys.Sign(req)
	if got := hex.EncodeToString(sig[:]); got != "0100000029618e9651b65a7764000000" {
		t.Errorf("REGISTER signature %s; want 0100000029618e9651b65a7764000000", got)
	}
	res := []byte("<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>")
	if !keys.Check(res, unhex(t, "01000000E615438A917661BE64000000")) {
		t.Error("the server's recorded signature of its 200 does not verify")
	}
	// The server side derives the same keys from the recorded message.
	skeys, err := rec.Verify(ch.ServerChal, "Pa$$word")
	if err != nil {
		t.Fatal(err)
	}
	if !skeys.Check(req, sig[:]) {
		t.Error("server keys do not verify the client's signature")
	}
	if s := skeys.Sign(res); hex.EncodeToString(s[:]) != "01000000e615438a917661be64000000" {
		t.Errorf("server signature %x", s)
	}
	res[10] ^= 1 // tampered
	if keys.Check(res, unhex(t, "01000000E615438A917661BE64000000")) {
		t.Error("a tampered buffer verified")
	}
}

// The server parses what clients send: no input may panic it.
func FuzzParseNTLM(f *testing.F) {
	b, _ := hex.DecodeString(spec424Authenticate)
	f.Add(b)
	c, _ := hex.DecodeString(spec424Challenge)
	f.Add(c)
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := ParseAuthenticate(b); err == nil {
			_, _ = a.Verify([8]byte{}, "x")
		}
		if ch, err := ParseChallenge(b); err == nil {
			ch.Flags |= required
			_, _, _ = Authenticate(ch, Credentials{User: "u", Domain: "d", Password: "p"}, AuthenticateOptions{})
		}
	})
}
