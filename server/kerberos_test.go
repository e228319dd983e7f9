package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
)

// MS-SIPAE Kerberos against a real MIT KDC: scripts/krb5/start.sh makes one
// (realm CHATLOAD.TEST, users user0001.. with passwords pass0001..,
// sip/chatload-serve.example.test in sip.keytab) and CHATLOAD_KDC names its
// run directory; .ci/run does both. Without it these tests are skipped.

func kdcDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CHATLOAD_KDC")
	if dir == "" {
		t.Skip("CHATLOAD_KDC not set: start a KDC with scripts/krb5/start.sh and set it to the directory it prints")
	}
	return dir
}

// kerberosServer runs the embedded server offering Kerberos and NTLM over
// tcp with keytab (a file of the KDC dir) and its clock skewed by skew.
func kerberosServe(t *testing.T, dir, keytab string, skew time.Duration) *Server {
	t.Helper()
	s, err := New(Config{
		Listen: []string{"tcp:127.0.0.1:0"}, Users: GeneratedUsers(4, "example.test"), Generated: true, Rooms: 1,
		Auth: []string{SchemeKerberos, SchemeNTLM}, Keytab: filepath.Join(dir, keytab),
		now: func() time.Time { return time.Now().Add(skew) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func kerberosUA(t *testing.T, dir string, s *Server, mode string, krb bool) *sipua.UA {
	t.Helper()
	cfg := sipua.Config{Target: s.Addr("tcp"), Transport: "tcp", Auth: mode, Timeout: 5 * time.Second}
	if krb {
		cfg.Kerberos = &sipua.KerberosConfig{Krb5Conf: filepath.Join(dir, "krb5.conf")}
	}
	ua, err := sipua.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return ua
}

func registerAccount(ctx context.Context, a *sipua.Account) error {
	aor := a.AoR()
	exp := sip.ExpiresHeader(600)
	_, err := a.Do(ctx, "register", sipua.Request{Method: sip.REGISTER, URI: sip.Uri{Scheme: "sip", Host: aor.Host},
		To: &aor, Contact: true, Headers: []sip.Header{&exp}})
	return err
}

func TestKerberosSignIn(t *testing.T) {
	dir := kdcDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := kerberosServe(t, dir, "sip.keytab", 0)
	// auto with a Kerberos configuration picks Kerberos over the NTLM also offered.
	ua := kerberosUA(t, dir, s, sipua.AuthAuto, true)
	got := make(chan string, 2)
	alice, _ := ua.NewAccount("sip:user0001@example.test", "user0001", "pass0001", nil)
	bob, _ := ua.NewAccount("sip:user0002@example.test", "user0002@chatload.test", "pass0002", func(r *sip.Request) { got <- string(r.Body()) })
	for _, a := range []*sipua.Account{alice, bob} {
		if err := registerAccount(ctx, a); err != nil {
			t.Fatalf("register: %v", err)
		}
		if a.Scheme() != "Kerberos" {
			t.Fatalf("signed in with %q; want Kerberos", a.Scheme())
		}
	}
	for range 2 {
		if _, err := alice.Do(ctx, "send", sipua.Request{Method: sip.MESSAGE, URI: bob.AoR(), ContentType: "text/plain", Body: []byte("hi")}); err != nil {
			t.Fatalf("message: %v", err)
		}
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("bob got nothing")
		}
	}
	st := s.Stats()
	// Per sign-in one unsigned REGISTER (the challenged one); the AP-REQ's
	// REGISTER is signed, as is everything after.
	if st.SecurityAssociations != 2 || st.UnsignedRequests != 2 || st.SignedRequests != 4 || st.SignatureRefused != 0 || st.SignedSent != 2 {
		t.Errorf("counters %+v; want 2 SAs, 2 unsigned, 4 signed, 2 signed sent", st)
	}
	// Without a Kerberos configuration auto answers NTLM.
	ua2 := kerberosUA(t, dir, s, sipua.AuthAuto, false)
	c, _ := ua2.NewAccount("sip:user0003@example.test", "user0003", "pass0003", nil)
	if err := registerAccount(ctx, c); err != nil || c.Scheme() != "NTLM" {
		t.Errorf("auto without Kerberos: %v, scheme %q; want NTLM", err, c.Scheme())
	}
}

func TestKerberosFailures(t *testing.T) {
	dir := kdcDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := kerberosServe(t, dir, "sip.keytab", 0)
	ua := kerberosUA(t, dir, s, sipua.AuthKerberos, true)
	check := func(name string, err error, want string) {
		t.Helper()
		if c, _ := report.ClassOf(err); c != report.Auth {
			t.Errorf("%s: %v: class %v; want auth", name, err, c)
			return
		}
		if p, _ := report.AuthProblemOf(err); p != want {
			t.Errorf("%s: %v: problem %q; want %q", name, err, p, want)
		}
	}
	wrong, _ := ua.NewAccount("sip:user0001@example.test", "user0001", "not-pass0001", nil)
	check("wrong password", registerAccount(ctx, wrong), report.AuthWrongPassword)
	unknown, _ := ua.NewAccount("sip:nobody@example.test", "nobody", "x", nil)
	check("unknown principal", registerAccount(ctx, unknown), report.AuthUnknownUser)

	// A pool whose service principal the KDC no longer knows.
	retired := kerberosServe(t, dir, "retired.keytab", 0)
	ua2 := kerberosUA(t, dir, retired, sipua.AuthKerberos, true)
	a, _ := ua2.NewAccount("sip:user0002@example.test", "user0002", "pass0002", nil)
	check("unknown SPN", registerAccount(ctx, a), report.AuthUnknownSPN)

	// The server's clock ten minutes ahead of the client's.
	skewed := kerberosServe(t, dir, "sip.keytab", 10*time.Minute)
	ua3 := kerberosUA(t, dir, skewed, sipua.AuthKerberos, true)
	b, _ := ua3.NewAccount("sip:user0003@example.test", "user0003", "pass0003", nil)
	check("clock skew", registerAccount(ctx, b), report.AuthClockSkew)

	// No Kerberos configuration at all.
	ua4 := kerberosUA(t, dir, s, sipua.AuthKerberos, false)
	c, _ := ua4.NewAccount("sip:user0004@example.test", "user0004", "pass0004", nil)
	check("no configuration", registerAccount(ctx, c), report.AuthNoCredentials)
}
