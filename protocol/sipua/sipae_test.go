package sipua_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/server"
)

// The MS-SIPAE client against the embedded server (a real in-process SIP
// server on 127.0.0.1) with NTLM: sign-in, every later request signed and
// every response verified, over each transport; the server's counters
// account for every request.

const guard = 10 * time.Second

func startServer(t *testing.T, transport string, auth ...string) *server.Server {
	t.Helper()
	srv, err := server.New(server.Config{
		Domain: "example.test", Listen: []string{transport + ":127.0.0.1:0"},
		Users: server.GeneratedUsers(3, "example.test"), Generated: true, Rooms: 1, Auth: auth,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func clientFor(t *testing.T, srv *server.Server, transport, target, auth string) *sipua.UA {
	t.Helper()
	cfg := sipua.Config{Target: target, Transport: transport, Auth: auth, Timeout: 3 * time.Second}
	if transport == "tls" {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(srv.CertificatePEM())
		cfg.TLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	}
	ua, err := sipua.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return ua
}

func register(ctx context.Context, a *sipua.Account, expires uint32) error {
	aor := a.AoR()
	exp := sip.ExpiresHeader(expires)
	_, err := a.Do(ctx, "register", sipua.Request{Method: sip.REGISTER, URI: sip.Uri{Scheme: "sip", Host: aor.Host},
		To: &aor, Contact: true, Headers: []sip.Header{&exp}})
	return err
}

func page(ctx context.Context, from, to *sipua.Account) error {
	_, err := from.Do(ctx, "send", sipua.Request{Method: sip.MESSAGE, URI: to.AoR(), ContentType: "text/plain", Body: []byte("hi")})
	return err
}

func problem(t *testing.T, err error, want string) {
	t.Helper()
	if c, _ := report.ClassOf(err); c != report.Auth {
		t.Fatalf("error %v: class %v; want auth", err, c)
	}
	if p, _ := report.AuthProblemOf(err); p != want {
		t.Fatalf("error %v: problem %q; want %q", err, p, want)
	}
}

func TestNTLMSignIn(t *testing.T) {
	for _, tr := range []string{"udp", "tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			srv := startServer(t, tr, server.SchemeNTLM)
			ua := clientFor(t, srv, tr, srv.Addr(tr), sipua.AuthNTLM)
			got := make(chan string, 4)
			alice, err := ua.NewAccount("sip:user0001@example.test", `EXAMPLE\user0001`, "pass0001", nil)
			if err != nil {
				t.Fatal(err)
			}
			bob, err := ua.NewAccount("sip:user0002@example.test", "user0002@example.test", "pass0002", func(r *sip.Request) { got <- string(r.Body()) })
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range []*sipua.Account{alice, bob} {
				if err := register(ctx, a, 600); err != nil {
					t.Fatalf("register: %v", err)
				}
				if s := a.Scheme(); s != "NTLM" {
					t.Fatalf("scheme after sign-in %q; want NTLM", s)
				}
			}
			for range 3 {
				if err := page(ctx, alice, bob); err != nil {
					t.Fatalf("message: %v", err)
				}
				select {
				case b := <-got:
					if b != "hi" {
						t.Fatalf("bob got %q", b)
					}
				case <-ctx.Done():
					t.Fatal("bob got nothing")
				}
			}
			if err := register(ctx, alice, 0); err != nil {
				t.Fatalf("unregister: %v", err)
			}
			st := srv.Stats()
			var total uint64
			for m, n := range st.Requests {
				if m != "OPTIONS" {
					total += n
				}
			}
			// 2 sign-ins x 3 legs, 3 MESSAGEs, 1 un-REGISTER: the first two legs of
			// each sign-in are the only unsigned requests.
			if st.SecurityAssociations != 2 || st.UnsignedRequests != 4 || st.SignedRequests != 6 || st.SignatureRefused != 0 {
				t.Errorf("sipae counters %+v; want 2 SAs, 4 unsigned, 6 signed, 0 refused", st)
			}
			if total != st.SignedRequests+st.UnsignedRequests {
				t.Errorf("%d requests, %d signed + %d unsigned", total, st.SignedRequests, st.UnsignedRequests)
			}
			// The server signed the MESSAGEs it relayed to bob, and bob verified them.
			if st.SignedSent != 3 || ua.BadSignatures() != 0 {
				t.Errorf("server signed %d requests, client refused %d; want 3 and 0", st.SignedSent, ua.BadSignatures())
			}
			if tr != "tcp" { // the udp socket takes datagrams from the server only
				return
			}
			// A request claiming the server's signature that does not verify is refused.
			c, err := net.Dial("tcp", ua.LocalAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			la := c.LocalAddr().String()
			msg := "MESSAGE sip:user0002@" + ua.LocalAddr() + ";transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP " + la + ";branch=z9hG4bK-forged\r\n" +
				"From: <sip:user0001@example.test>;tag=f1\r\nTo: <sip:user0002@example.test>\r\nCall-ID: forged-1\r\nCSeq: 1 MESSAGE\r\n" +
				`Authentication-Info: NTLM rspauth="0100000000000000000000006400000", srand="1234", snum="99", qop="auth"` + "\r\n" +
				"Max-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nforged"
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(guard))
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil || !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 403 "+sipua.ReasonBadSignature)) {
				t.Errorf("forged MESSAGE answered %q, %v; want 403 %s", buf[:n], err, sipua.ReasonBadSignature)
			}
			if ua.BadSignatures() != 1 {
				t.Errorf("BadSignatures %d; want 1", ua.BadSignatures())
			}
			select {
			case b := <-got:
				t.Errorf("bob was handed the forged MESSAGE %q", b)
			default:
			}
		})
	}
}

func TestNTLMFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	srv := startServer(t, "udp", server.SchemeNTLM)
	ua := clientFor(t, srv, "udp", srv.Addr("udp"), sipua.AuthAuto)
	wrong, _ := ua.NewAccount("sip:user0001@example.test", "user0001", "not-the-password", nil)
	problem(t, register(ctx, wrong, 600), report.AuthWrongPassword)
	unknown, _ := ua.NewAccount("sip:nobody@example.test", "nobody", "x", nil)
	problem(t, register(ctx, unknown, 600), report.AuthUnknownUser)

	digestOnly := startServer(t, "udp")
	ua2 := clientFor(t, digestOnly, "udp", digestOnly.Addr("udp"), sipua.AuthNTLM)
	a, _ := ua2.NewAccount("sip:user0001@example.test", "user0001", "pass0001", nil)
	err := register(ctx, a, 600)
	problem(t, err, report.AuthSchemeNotOffered)
	t.Logf("scheme not offered: %v", err)

	ua3 := clientFor(t, srv, "udp", srv.Addr("udp"), sipua.AuthDigest)
	b, _ := ua3.NewAccount("sip:user0001@example.test", "user0001", "pass0001", nil)
	problem(t, register(ctx, b, 600), report.AuthSchemeNotOffered)
}

// relay is a UDP hop between a client and the server that can change what
// passes and replay what the client sent.
type relay struct {
	pc     net.PacketConn
	server *net.UDPAddr
	mu     sync.Mutex
	client net.Addr
	sent   [][]byte              // the client's datagrams, in order
	toCli  func(b []byte) []byte // changes responses on their way to the client
}

func newRelay(t *testing.T, server string) *relay {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := net.ResolveUDPAddr("udp", server)
	r := &relay{pc: pc, server: sa}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			b := bytes.Clone(buf[:n])
			r.mu.Lock()
			if from.String() == sa.String() {
				c, f := r.client, r.toCli
				r.mu.Unlock()
				if f != nil {
					b = f(b)
				}
				if c != nil {
					pc.WriteTo(b, c)
				}
				continue
			}
			r.client = from
			r.sent = append(r.sent, b)
			r.mu.Unlock()
			pc.WriteTo(b, sa)
		}
	}()
	return r
}

// The server refuses a replayed signed request and a tampered one; the
// client refuses a response whose signature was changed.
func TestNTLMReplayAndTamper(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	srv := startServer(t, "udp", server.SchemeNTLM)
	r := newRelay(t, srv.Addr("udp"))
	ua := clientFor(t, srv, "udp", r.pc.LocalAddr().String(), sipua.AuthNTLM)
	a, _ := ua.NewAccount("sip:user0001@example.test", "user0001", "pass0001", nil)
	for range 2 { // sign-in, then a refresh signed in the SA
		if err := register(ctx, a, 600); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	signed := r.sent[len(r.sent)-1] // the refresh
	r.mu.Unlock()

	// Replay it from another socket: same cnum.
	replay := func(b []byte) string {
		c, err := net.DialUDP("udp", nil, r.server)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		return string(line)
	}
	before := srv.Stats().SignatureRefused
	if line := replay(bytes.Replace(signed, []byte("branch=z9hG4bK"), []byte("branch=z9hG4bKr"), 1)); line != "SIP/2.0 401 "+server.ReasonSignatureRefused {
		t.Errorf("replayed REGISTER answered %q; want 401 %s", line, server.ReasonSignatureRefused)
	}
	// Tampered: another Expires value under the same signature (a fresh cnum would not help).
	tampered := bytes.Replace(signed, []byte("Expires: 600"), []byte("Expires: 601"), 1)
	tampered = bytes.Replace(tampered, []byte("branch=z9hG4bK"), []byte("branch=z9hG4bKt"), 1)
	if line := replay(tampered); line != "SIP/2.0 401 "+server.ReasonSignatureRefused {
		t.Errorf("tampered REGISTER answered %q; want 401 %s", line, server.ReasonSignatureRefused)
	}
	if got := srv.Stats().SignatureRefused - before; got != 2 {
		t.Errorf("signature_refused went up by %d; want 2", got)
	}

	// The server's signature changed on the way: the client refuses the response.
	r.mu.Lock()
	r.toCli = func(b []byte) []byte {
		i := bytes.Index(b, []byte(`rspauth="`))
		if i >= 0 {
			b[i+len(`rspauth="`)+12] ^= 1
		}
		return b
	}
	r.mu.Unlock()
	err := register(ctx, a, 600)
	problem(t, err, report.AuthBadServerSig)
	if !errors.As(err, new(*report.Error)) {
		t.Fatal("not a report.Error")
	}
}
