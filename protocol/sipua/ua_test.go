package sipua

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/chatload/chatload/report"
)

const guard = 10 * time.Second // bounded wait for anything asynchronous

// registrar is a small digest-checking SIP server for these tests, verified with
// icholy/digest (not with this package's code). It challenges REGISTER with 401
// and everything else with 407, like Kamailio's auth_challenge.
type registrar struct {
	t      *testing.T
	sua    *sipgo.UserAgent
	client *sipgo.Client     // udp: sends from the listening socket
	stream *sipgo.Client     // tcp, tls: dials the UA's listener from any port
	addr   map[string]string // transport -> host:port
	cert   tls.Certificate   // self-signed, served on tls for 127.0.0.1 and localhost

	mu        sync.Mutex
	nonce     string
	passwords map[string]string
	requests  int               // every request received
	stale     int               // answer this many more credentialed requests stale, with a new nonce
	contacts  map[string]string // user -> Contact URI
}

func newRegistrar(t *testing.T) *registrar {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cert, err := SelfSigned([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sua, err := sipgo.NewUA(sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		// It dials the UAs' tls listeners, whose self-signed certificates nothing
		// could verify, as servers delivering to clients usually do not.
		sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: true}))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(sua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	r := &registrar{t: t, sua: sua, addr: map[string]string{}, cert: cert, nonce: "nonce-1",
		passwords: map[string]string{"alice": "secret-a", "bob": "secret-b"}, contacts: map[string]string{}}
	srv.OnRegister(r.handle)
	srv.OnMessage(r.handle)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	r.addr["udp"], r.addr["tcp"], r.addr["tls"] = pc.LocalAddr().String(), l.Addr().String(), tl.Addr().String()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); srv.ServeUDP(pc) }()
	go func() { defer wg.Done(); srv.ServeTCP(l) }()
	go func() { defer wg.Done(); srv.ServeTLS(tl) }()
	// Copies to UDP users go out from the listening socket, as Kamailio's do.
	r.client, err = sipgo.NewClient(sua, sipgo.WithClientConnectionAddr(r.addr["udp"]), sipgo.WithClientLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	// Dialing from the udp port number would fail now and then with "address
	// already in use" (the same number's tcp port in TIME_WAIT from an earlier run).
	r.stream, err = sipgo.NewClient(sua, sipgo.WithClientLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pc.Close()
		l.Close()
		tl.Close()
		sua.Close()
		wg.Wait()
	})
	return r
}

// clientTLS is what a UA needs to trust the registrar over transport tr: its
// certificate as the only root for tls, nothing for the others.
func (r *registrar) clientTLS(tr string) *tls.Config {
	if tr != "tls" {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(r.cert.Leaf)
	return &tls.Config{RootCAs: pool}
}

func (r *registrar) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// rotate makes the current nonce stale.
func (r *registrar) rotate() {
	r.mu.Lock()
	r.nonce += "x"
	r.mu.Unlock()
}

func (r *registrar) handle(req *sip.Request, tx sip.ServerTransaction) {
	r.mu.Lock()
	r.requests++
	nonce := r.nonce
	r.mu.Unlock()

	name, chName, code := "Authorization", "WWW-Authenticate", 401
	if req.Method != sip.REGISTER {
		name, chName, code = "Proxy-Authorization", "Proxy-Authenticate", 407
	}
	challenge := func(stale bool) {
		res := sip.NewResponseFromRequest(req, code, "Unauthorized", nil)
		v := fmt.Sprintf(`Digest realm="test.example", nonce="%s", qop="auth", algorithm=MD5`, nonce)
		if stale {
			v += ", stale=true"
		}
		res.AppendHeader(sip.NewHeader(chName, v))
		tx.Respond(res)
	}
	h := req.GetHeader(name)
	if h == nil {
		challenge(false)
		return
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Credentials", nil))
		return
	}
	r.mu.Lock()
	forceStale := r.stale > 0
	if forceStale {
		r.stale--
		r.nonce += "s"
		nonce = r.nonce
	}
	r.mu.Unlock()
	if forceStale || cred.Nonce != nonce {
		challenge(true)
		return
	}
	pw, ok := r.passwords[cred.Username]
	if !ok {
		tx.Respond(sip.NewResponseFromRequest(req, 404, "User Not Found", nil))
		return
	}
	want, _ := digest.Digest(&digest.Challenge{Realm: cred.Realm, Nonce: nonce, QOP: []string{"auth"}, Algorithm: "MD5"},
		digest.Options{Method: string(req.Method), URI: cred.URI, Username: cred.Username, Password: pw, Cnonce: cred.Cnonce, Count: cred.Nc})
	if want.Response != cred.Response {
		challenge(false)
		return
	}
	if req.Method == sip.REGISTER {
		if c := req.Contact(); c != nil {
			r.mu.Lock()
			r.contacts[req.From().Address.User] = c.Address.String()
			r.mu.Unlock()
		}
	}
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
}

// sendTo sends a MESSAGE with body to the Contact registered by user.
func (r *registrar) sendTo(ctx context.Context, transport, user, body string) (*sip.Response, error) {
	r.mu.Lock()
	contact := r.contacts[user]
	r.mu.Unlock()
	var u sip.Uri
	if err := sip.ParseUri(contact, &u); err != nil {
		return nil, fmt.Errorf("contact %q of %s: %v", contact, user, err)
	}
	req := sip.NewRequest(sip.MESSAGE, u)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "test.example"}})
	req.SetBody([]byte(body))
	req.SetTransport(strings.ToUpper(transport))
	if transport != "udp" {
		return r.stream.Do(ctx, req)
	}
	return r.client.Do(ctx, req)
}

func newUA(t *testing.T, cfg Config) *UA {
	t.Helper()
	ua, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return ua
}

func register(ctx context.Context, a *Account) error {
	_, err := a.Do(ctx, "register", Request{Method: sip.REGISTER, URI: sip.Uri{Scheme: "sip", Host: "test.example"}, Contact: true})
	return err
}

func message(ctx context.Context, a *Account) error {
	_, err := a.Do(ctx, "send", Request{Method: sip.MESSAGE, URI: sip.Uri{Scheme: "sip", User: "room", Host: "test.example"},
		ContentType: "text/plain", Body: []byte("hi")})
	return err
}

// TestPreemptiveDigest: the first request is challenged (two round trips); later
// ones carry the cached nonce and cost one; a stale nonce costs one retry; a
// wrong password is refused after exactly one retry.
func TestPreemptiveDigest(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			r := newRegistrar(t)
			ua := newUA(t, Config{Target: r.addr[tr], Transport: tr, Timeout: 2 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			a, err := ua.NewAccount("sip:alice@test.example", "alice", "secret-a", nil)
			if err != nil {
				t.Fatal(err)
			}
			step := func(what string, do func() error, wantRequests int) {
				t.Helper()
				before := r.count()
				if err := do(); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if got := r.count() - before; got != wantRequests {
					t.Errorf("%s: %d requests reached the server; want %d", what, got, wantRequests)
				}
			}
			step("first REGISTER (challenged)", func() error { return register(ctx, a) }, 2)
			step("second REGISTER (pre-emptive)", func() error { return register(ctx, a) }, 1)
			step("MESSAGE (pre-emptive, shared nonce)", func() error { return message(ctx, a) }, 1)
			step("MESSAGE (pre-emptive again)", func() error { return message(ctx, a) }, 1)
			r.rotate()
			step("MESSAGE after the nonce went stale", func() error { return message(ctx, a) }, 2)
			step("MESSAGE with the new nonce", func() error { return message(ctx, a) }, 1)

			// A stale answer to the retry itself (the nonce expired, or a concurrent
			// request's count overtook ours) earns one more retry, not an Auth error.
			r.mu.Lock()
			r.stale = 2
			r.mu.Unlock()
			step("MESSAGE answered stale twice", func() error { return message(ctx, a) }, 3)
			r.mu.Lock()
			r.stale = 3
			r.mu.Unlock()
			before := r.count()
			err = message(ctx, a)
			if c, code := report.ClassOf(err); c != report.Auth || code != 407 || !strings.Contains(err.Error(), "stale") {
				t.Errorf("MESSAGE answered stale three times: %v; want auth 407 saying stale", err)
			}
			if got := r.count() - before; got != 3 {
				t.Errorf("stale three times: %d requests; want 3 (bounded)", got)
			}

			bad, err := ua.NewAccount("sip:bob@test.example", "bob", "wrong", nil)
			if err != nil {
				t.Fatal(err)
			}
			before = r.count()
			err = register(ctx, bad)
			if c, code := report.ClassOf(err); c != report.Auth || code != 401 {
				t.Fatalf("REGISTER with a wrong password: %v (class %s code %d); want auth 401", err, c, code)
			}
			if got := r.count() - before; got != 2 {
				t.Errorf("wrong password: %d requests; want 2 (challenge, one retry)", got)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error %q shows the password", err)
			}
			// Pre-emptive credentials computed from a cached challenge and refused
			// are retried once with the fresh challenge, then refused for good.
			before = r.count()
			err = message(ctx, bad)
			if c, code := report.ClassOf(err); c != report.Auth || code != 407 {
				t.Fatalf("MESSAGE with a wrong password: %v; want auth 407", err)
			}
			if got := r.count() - before; got != 2 {
				t.Errorf("wrong password, cached nonce: %d requests; want 2", got)
			}

			nouser, _ := ua.NewAccount("sip:carol@test.example", "carol", "x", nil)
			err = register(ctx, nouser)
			if c, code := report.ClassOf(err); c != report.NotFound || code != 404 {
				t.Errorf("REGISTER of an unknown user: %v; want not-found 404", err)
			}
		})
	}
}

// TestRouting: requests from the server reach the account whose Contact they
// are addressed to, are answered 200, and a closed account gets nothing more.
func TestRouting(t *testing.T) {
	for _, tr := range []string{"udp", "tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			base := runtime.NumGoroutine()
			r := newRegistrar(t)
			ua, err := New(Config{Target: r.addr[tr], Transport: tr, TLS: r.clientTLS(tr), Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			got := map[string]chan string{"alice": make(chan string, 4), "bob": make(chan string, 4)}
			accounts := map[string]*Account{}
			for user, pw := range map[string]string{"alice": "secret-a", "bob": "secret-b"} {
				ch := got[user]
				a, err := ua.NewAccount("sip:"+user+"@test.example", user, pw, func(req *sip.Request) {
					ch <- string(req.Body())
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := register(ctx, a); err != nil {
					t.Fatalf("register %s: %v", user, err)
				}
				accounts[user] = a
			}
			if c := accounts["alice"].Contact(); c.User != "alice" || c.Port == 0 {
				t.Errorf("Contact = %s; want alice@<ua address>", c.String())
			}
			if c := accounts["alice"].Contact(); tr != "udp" && c.UriParams.GetOr("transport", "") != tr {
				t.Errorf("Contact = %s; want transport=%s", c.String(), tr)
			}
			for _, user := range []string{"alice", "bob"} {
				res, err := r.sendTo(ctx, tr, user, "to "+user)
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("MESSAGE to %s: %v %v; want 200", user, res, err)
				}
				select {
				case body := <-got[user]:
					if body != "to "+user {
						t.Errorf("%s got %q; want %q", user, body, "to "+user)
					}
				case <-ctx.Done():
					t.Fatalf("%s got nothing", user)
				}
			}
			// Closed: still answered 200, not handed over.
			accounts["bob"].Close()
			if res, err := r.sendTo(ctx, tr, "bob", "late"); err != nil || res.StatusCode != 200 {
				t.Errorf("MESSAGE to a closed account: %v %v; want 200", res, err)
			}
			if _, err := accounts["bob"].Do(ctx, "send", Request{Method: sip.MESSAGE}); err == nil {
				t.Error("Do on a closed account: no error")
			} else if c, _ := report.ClassOf(err); c != report.Canceled {
				t.Errorf("Do on a closed account: class %s; want canceled", c)
			}
			// A second account with the same user part gets a Contact of its own.
			twin, _ := ua.NewAccount("sip:alice@other.example", "alice", "x", nil)
			if twin.Contact().User == accounts["alice"].Contact().User {
				t.Errorf("two live accounts share Contact user %q", twin.Contact().User)
			}

			ua.Close()
			ua.Close()
			select {
			case body := <-got["bob"]:
				t.Errorf("closed account bob got %q", body)
			default:
			}
			waitGoroutines(t, base+goroutinesOf(r))
		})
	}
}

// goroutinesOf is what the test registrar keeps running (its serving
// goroutines, readers and connections) until its cleanup: bounded by a constant,
// since the check is about the UA returning to zero.
func goroutinesOf(*registrar) int { return 10 }

func waitGoroutines(t *testing.T, max int) {
	t.Helper()
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > max {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%d goroutines after Close; want at most %d", runtime.NumGoroutine(), max)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Target: "127.0.0.1:5060", Transport: "udp"}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%v) = %v", ok, err)
	}
	for _, c := range []Config{
		{Transport: "udp"},
		{Target: "127.0.0.1", Transport: "udp"},
		{Target: "127.0.0.1:0", Transport: "udp"},
		{Target: "127.0.0.1:5060", Transport: "ws"},
		{Target: "127.0.0.1:5060", Transport: "udp", LocalAddr: "localhost"},
		{Target: "127.0.0.1:5060", Transport: "tcp", TLS: &tls.Config{}}, // a TLS configuration for plain tcp
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%v) = nil; want an error", c)
		}
	}
	if got, want := ok.String(), "target=127.0.0.1:5060 transport=udp timeout=5s"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Target: "sip.example.test:5061", Transport: "tls"},
			"target=sip.example.test:5061 transport=tls timeout=5s tls-verify=system-roots tls-server-name=sip.example.test"},
		{Config{Target: "127.0.0.1:5061", Transport: "tls", TLS: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "example.test"}},
			"target=127.0.0.1:5061 transport=tls timeout=5s tls-verify=given-roots tls-server-name=example.test"},
		{Config{Target: "127.0.0.1:5061", Transport: "tls", TLS: &tls.Config{InsecureSkipVerify: true}},
			"target=127.0.0.1:5061 transport=tls timeout=5s tls-verify=off tls-server-name=127.0.0.1"},
	} {
		if err := c.cfg.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v", c.cfg, err)
		}
		if got := c.cfg.String(); got != c.want {
			t.Errorf("String() = %q; want %q", got, c.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is no address of this host: binding it fails
	// without sending anything.
	for _, tr := range []string{"udp", "tcp", "tls"} {
		_, err := New(Config{Target: "127.0.0.1:5060", Transport: tr, LocalAddr: "192.0.2.1"})
		var e *report.Error
		if !errors.As(err, &e) || e.Class != report.Transport {
			t.Errorf("New(%s) binding a foreign address: %v; want a transport *report.Error", tr, err)
		}
	}
}

// TestDoAsyncHoldFlush: requests started with Hold reach the server only when
// the UA flushes them (one sendmmsg on Linux), challenged ones are retried at
// once, and every done is called once with the outcome; over tcp, Hold changes
// nothing (sipgo sends at once).
func TestDoAsyncHoldFlush(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			r := newRegistrar(t)
			ua := newUA(t, Config{Target: r.addr[tr], Transport: tr, Timeout: 2 * time.Second})
			a, err := ua.NewAccount("sip:alice@test.example", "alice", "secret-a", nil)
			if err != nil {
				t.Fatal(err)
			}
			const n = 100 // more than one sendmmsg takes
			results := make(chan error, n)
			ctx := t.Context()
			var started sync.WaitGroup
			for range n {
				started.Go(func() {
					a.DoAsync(ctx, "send", Request{Method: sip.MESSAGE, URI: sip.Uri{Scheme: "sip", User: "room", Host: "test.example"},
						ContentType: "text/plain", Body: []byte("hi"), Hold: true}, func(res *sip.Response, err error) {
						if err == nil && res != nil && tr == "udp" {
							err = fmt.Errorf("a 2xx was parsed: %v", res.StartLine())
						}
						results <- err
					})
				})
			}
			started.Wait()
			if tr == "udp" {
				// Nothing leaves before the flush: all n wait in the table.
				if held := ua.txs.heldCount(); held != n {
					t.Fatalf("%d requests held before Flush; want %d", held, n)
				}
				ua.Flush()
			}
			for range n {
				select {
				case err := <-results:
					if err != nil {
						t.Errorf("DoAsync: %v", err)
					}
				case <-time.After(guard):
					t.Fatal("DoAsync never called back")
				}
			}
			// udp: each was built before any challenge came back (held), so each was
			// challenged: 2 requests each. tcp: those built after the first challenge
			// was learned went pre-emptively.
			got, lo := r.count(), 2*n
			if tr == "tcp" {
				lo = n + 1
			}
			if got < lo || got > 2*n {
				t.Errorf("%d requests reached the server; want %d to %d", got, lo, 2*n)
			}
		})
	}
}

// TestDoAsyncNeverBlocks: over tcp, where sipgo's client blocks for the answer,
// DoAsync still returns before its outcome is known (the load engine calls it
// from its pacer). The server accepts the connection and never answers, so the
// outcome is the timeout; DoAsync must have returned before it.
func TestDoAsyncNeverBlocks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ua := newUA(t, Config{Target: l.Addr().String(), Transport: "tcp", Timeout: 300 * time.Millisecond})
	a, err := ua.NewAccount("sip:alice@example.test", "alice", "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	returned := false
	outcome := make(chan bool, 1)
	a.DoAsync(t.Context(), "send", Request{Method: sip.MESSAGE, URI: sip.Uri{Scheme: "sip", User: "room", Host: "example.test"},
		ContentType: "text/plain", Body: []byte("hi"), Hold: true}, func(_ *sip.Response, err error) {
		mu.Lock()
		outcome <- returned && err != nil
		mu.Unlock()
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	select {
	case ok := <-outcome:
		if !ok {
			t.Error("DoAsync called done (or got no error) before it returned")
		}
	case <-time.After(guard):
		t.Fatal("no outcome")
	}
}
