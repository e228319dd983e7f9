package sipua

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestResponseKnownVectors(t *testing.T) {
	// RFC 7616 section 3.9.1 (same computation as SIP digest).
	rfc7616 := Params{
		Username: "Mufasa", Realm: "http-auth@example.org", Password: "Circle of Life",
		Method: "GET", URI: "/dir/index.html",
		Nonce:  "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		Cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", NC: 1, QOP: "auth",
	}
	md5p, sha := rfc7616, rfc7616
	md5p.Algorithm = "MD5"
	sha.Algorithm = "SHA-256"

	// A Kamailio-style SIP case, computed here independently with crypto/md5.
	sipp := Params{
		Username: "user0002", Realm: "example.test", Password: "pass0002",
		Method: "MESSAGE", URI: "sip:room001@conf.example.test",
		Nonce: "awgXAmsIFdYqIs061fbqjRPqdzGvjwcs", Cnonce: "327b23c6", NC: 7, QOP: "auth",
	}
	sipWant := md5hex(md5hex("user0002:example.test:pass0002") + ":awgXAmsIFdYqIs061fbqjRPqdzGvjwcs:00000007:327b23c6:auth:" +
		md5hex("MESSAGE:sip:room001@conf.example.test"))

	// RFC 2069 style (no qop): H(HA1:nonce:HA2).
	legacy := sipp
	legacy.QOP, legacy.Cnonce, legacy.NC = "", "", 0
	legacyWant := md5hex(md5hex("user0002:example.test:pass0002") + ":awgXAmsIFdYqIs061fbqjRPqdzGvjwcs:" +
		md5hex("MESSAGE:sip:room001@conf.example.test"))

	// MD5-sess: HA1 = H(H(user:realm:password):nonce:cnonce).
	sess := sipp
	sess.Algorithm = "MD5-sess"
	sessWant := md5hex(md5hex(md5hex("user0002:example.test:pass0002")+":awgXAmsIFdYqIs061fbqjRPqdzGvjwcs:327b23c6") +
		":awgXAmsIFdYqIs061fbqjRPqdzGvjwcs:00000007:327b23c6:auth:" + md5hex("MESSAGE:sip:room001@conf.example.test"))

	// qop=auth-int: HA2 = H(method:uri:H(body)).
	authInt := sipp
	authInt.QOP, authInt.Body = "auth-int", []byte("hello")
	authIntWant := md5hex(md5hex("user0002:example.test:pass0002") + ":awgXAmsIFdYqIs061fbqjRPqdzGvjwcs:00000007:327b23c6:auth-int:" +
		md5hex("MESSAGE:sip:room001@conf.example.test:"+md5hex("hello")))

	sha512p := sipp
	sha512p.Algorithm = "SHA-512-256"
	h := func(s string) string { b := sha512.Sum512_256([]byte(s)); return hex.EncodeToString(b[:]) }
	sha512Want := h(h("user0002:example.test:pass0002") + ":awgXAmsIFdYqIs061fbqjRPqdzGvjwcs:00000007:327b23c6:auth:" +
		h("MESSAGE:sip:room001@conf.example.test"))

	cases := []struct {
		name string
		p    Params
		want string
	}{
		{"RFC 7616 MD5", md5p, "8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 SHA-256", sha, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"RFC 2617 MD5 qop=auth", Params{
			Username: "Mufasa", Realm: "testrealm@host.com", Password: "Circle Of Life",
			Method: "GET", URI: "/dir/index.html", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
			Cnonce: "0a4f113b", NC: 1, QOP: "auth"}, "6629fae49393a05397450978507c4ef1"},
		{"SIP MESSAGE, nc=7 (crypto/md5)", sipp, sipWant},
		{"no qop (crypto/md5)", legacy, legacyWant},
		{"MD5-sess (crypto/md5)", sess, sessWant},
		{"auth-int (crypto/md5)", authInt, authIntWant},
		{"SHA-512-256 (crypto/sha512)", sha512p, sha512Want},
	}
	for _, c := range cases {
		got, err := Response(c.p)
		if err != nil || got != c.want {
			t.Errorf("%s: Response = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := Response(Params{Algorithm: "SHA-1"}); err == nil {
		t.Error("Response with algorithm SHA-1: no error; want unsupported")
	}
}

func TestParseChallenge(t *testing.T) {
	c, err := ParseChallenge(`Digest realm="example.test", nonce="awgX", qop="auth, auth-int", stale=true, algorithm=md5`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != "example.test" || c.Nonce != "awgX" || !c.Stale || c.Algorithm != "MD5" ||
		len(c.QOP) != 2 || c.QOP[0] != "auth" || c.QOP[1] != "auth-int" {
		t.Errorf("ParseChallenge = %+v; want realm, nonce, stale, MD5 and qop [auth auth-int] (trimmed)", c)
	}
	if _, err := ParseChallenge(`Basic realm="x"`); err == nil {
		t.Error("ParseChallenge(Basic): no error")
	}
	if _, err := ParseChallenge(`Digest realm="x"`); err == nil {
		t.Error("ParseChallenge without nonce: no error")
	}
}

func challengeResponse(code int, values ...string) *sip.Response {
	res := sip.NewResponse(code, "Challenge")
	name := "WWW-Authenticate"
	if code == 407 {
		name = "Proxy-Authenticate"
	}
	for _, v := range values {
		res.AppendHeader(sip.NewHeader(name, v))
	}
	return res
}

func TestChallengeFrom(t *testing.T) {
	// The strongest supported algorithm wins; an unknown one is skipped.
	res := challengeResponse(407,
		`Digest realm="r", nonce="n1", algorithm=MD5, qop="auth"`,
		`Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"`,
		`Digest realm="r", nonce="n3", algorithm=SHA-999, qop="auth"`)
	c, err := ChallengeFrom(res)
	if err != nil || c.Nonce != "n2" || !c.Proxy {
		t.Errorf("ChallengeFrom = %+v, %v; want the SHA-256 challenge n2 marked Proxy", c, err)
	}
	if _, err := ChallengeFrom(challengeResponse(401)); err == nil {
		t.Error("ChallengeFrom a 401 without WWW-Authenticate: no error")
	}
	if _, err := ChallengeFrom(challengeResponse(401, `Digest realm="r", nonce="n", qop="auth-conf"`)); err == nil {
		t.Error("ChallengeFrom with only an unsupported qop: no error")
	}
}

func request(method sip.RequestMethod, uri string) *sip.Request {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		panic(err)
	}
	return sip.NewRequest(method, u)
}

// verify checks an Authorization header the way a server would, with icholy/digest
// as an independent implementation.
func verify(t *testing.T, req *sip.Request, header, password string, chal Challenge) *digest.Credentials {
	t.Helper()
	h := req.GetHeader(header)
	if h == nil {
		t.Fatalf("no %s header in %s", header, req.Method)
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		t.Fatalf("ParseCredentials(%q): %v", h.Value(), err)
	}
	want, err := digest.Digest(&digest.Challenge{Realm: chal.Realm, Nonce: chal.Nonce, Algorithm: chal.Algorithm, QOP: chal.QOP, Opaque: chal.Opaque},
		digest.Options{Method: string(req.Method), URI: req.Recipient.String(), Username: cred.Username,
			Password: password, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil {
		t.Fatal(err)
	}
	if cred.Response != want.Response || cred.URI != req.Recipient.String() || cred.Opaque != chal.Opaque {
		t.Errorf("credentials %q do not verify (want response %s, uri %s)", h.Value(), want.Response, req.Recipient.String())
	}
	if strings.Contains(h.Value(), password) {
		t.Errorf("credentials %q contain the password", h.Value())
	}
	return cred
}

func TestAuthNonceCache(t *testing.T) {
	a := NewAuth("user0001", "pass0001")
	req := request(sip.MESSAGE, "sip:room001@conf.example.test")
	if ok, err := a.Authorize(req); ok || err != nil {
		t.Fatalf("Authorize with an empty cache = %v, %v; want false (nothing to send)", ok, err)
	}

	reg := Challenge{Realm: "example.test", Nonce: "n-1", QOP: []string{"auth"}, Opaque: "op"}
	a.Learn(sip.REGISTER, reg) // from a 401
	for i := 1; i <= 3; i++ {
		r := request(sip.REGISTER, "sip:example.test")
		if ok, err := a.Authorize(r); !ok || err != nil {
			t.Fatalf("Authorize #%d = %v, %v", i, ok, err)
		}
		cred := verify(t, r, "Authorization", "pass0001", reg)
		if cred.Nc != i {
			t.Errorf("request %d: nc = %d; want %d (one more per reuse of the nonce)", i, cred.Nc, i)
		}
	}
	// MESSAGE reuses the same cached nonce (Kamailio shares it per realm), with a
	// proxy header by default, and the count goes on.
	m := request(sip.MESSAGE, "sip:room001@conf.example.test")
	a.Authorize(m)
	if cred := verify(t, m, "Proxy-Authorization", "pass0001", reg); cred.Nc != 4 {
		t.Errorf("MESSAGE after 3 REGISTERs: nc = %d; want 4", cred.Nc)
	}
	if m.GetHeader("Authorization") != nil {
		t.Error("MESSAGE carries Authorization; want Proxy-Authorization only")
	}

	// The same nonce challenged again keeps its count: a server checking counts
	// must never see one twice.
	a.Learn(sip.MESSAGE, Challenge{Realm: "example.test", Nonce: "n-1", QOP: []string{"auth"}, Opaque: "op", Proxy: true})
	m1 := request(sip.MESSAGE, "sip:room001@conf.example.test")
	a.Authorize(m1)
	if cred := verify(t, m1, "Proxy-Authorization", "pass0001", reg); cred.Nc != 5 {
		t.Errorf("after the same nonce again: nc = %d; want 5", cred.Nc)
	}

	// A new challenge (stale or not) replaces the cached one and restarts the count.
	stale := Challenge{Realm: "example.test", Nonce: "n-2", QOP: []string{"auth"}, Stale: true, Proxy: true, Algorithm: "SHA-256"}
	a.Learn(sip.MESSAGE, stale)
	m2 := request(sip.MESSAGE, "sip:room001@conf.example.test")
	a.Authorize(m2)
	if cred := verify(t, m2, "Proxy-Authorization", "pass0001", stale); cred.Nc != 1 || cred.Nonce != "n-2" || cred.Algorithm != "SHA-256" {
		t.Errorf("after a new challenge: nc=%d nonce=%s alg=%s; want 1, n-2, SHA-256", cred.Nc, cred.Nonce, cred.Algorithm)
	}

	for _, s := range []string{a.String(), a.GoString(), fmt.Sprintf("%v %+v %#v", a, a, a)} {
		if strings.Contains(s, "pass0001") {
			t.Errorf("%q shows the password", s)
		}
	}
}

func TestAuthPerMethodHeader(t *testing.T) {
	// A registrar that challenges MESSAGE with 401 gets Authorization for it.
	a := NewAuth("u", "p")
	a.Learn(sip.MESSAGE, Challenge{Realm: "r", Nonce: "n", QOP: []string{"auth"}})
	m := request(sip.MESSAGE, "sip:x@r")
	a.Authorize(m)
	if m.GetHeader("Authorization") == nil || m.GetHeader("Proxy-Authorization") != nil {
		t.Errorf("after a 401 for MESSAGE: headers %v; want Authorization", m.Headers())
	}
}

func TestCredentialsQuoting(t *testing.T) {
	a := NewAuth(`we"ird\user`, "p")
	a.Learn(sip.MESSAGE, Challenge{Realm: `r"1`, Nonce: "n", QOP: []string{"auth"}, Proxy: true})
	m := request(sip.MESSAGE, "sip:x@r")
	if _, err := a.Authorize(m); err != nil {
		t.Fatal(err)
	}
	got := m.GetHeader("Proxy-Authorization").Value()
	if !strings.Contains(got, `username="we\"ird\\user"`) || !strings.Contains(got, `realm="r\"1"`) {
		t.Errorf("credentials = %s; want username and realm quoted per RFC 3261", got)
	}
	cred, err := digest.ParseCredentials(got)
	if err != nil || cred.Username != `we"ird\user` {
		t.Errorf("ParseCredentials(%s) = %+v, %v; want the username back", got, cred, err)
	}
}
