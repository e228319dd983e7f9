package sipua_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/server"
)

// The Pool against the embedded server (a real in-process SIP server on
// 127.0.0.1): users multiplexed on shared sockets see only what is theirs
// (requests routed by Request-URI, responses by transaction), keep their own
// authentication state, and per-user pools give each user its own socket.

// startServerUsers is startServer with n users.
func startServerUsers(t *testing.T, transport string, n int, auth ...string) *server.Server {
	t.Helper()
	srv, err := server.New(server.Config{
		Domain: "example.test", Listen: []string{transport + ":127.0.0.1:0"},
		Users: server.GeneratedUsers(n, "example.test"), Generated: true, Rooms: 1, Auth: auth,
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

func poolFor(t *testing.T, srv *server.Server, transport string, sh sipua.Sharing, auth string, trace *sipua.Trace) *sipua.Pool {
	t.Helper()
	cfg := sipua.Config{Target: srv.Addr(transport), Transport: transport, Auth: auth, Timeout: 3 * time.Second, Trace: trace}
	if transport == "tls" {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(srv.CertificatePEM())
		cfg.TLS = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	}
	p, err := sipua.NewPool(cfg, sh, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func userURI(i int) string { return "sip:" + userName(i) + "@example.test" }

func userName(i int) string { return fmt.Sprintf("user%04d", i) }

// received collects what a user's handler is handed; every request handed
// over also ticks all (shared by the users of a test).
type received struct {
	mu     sync.Mutex
	bodies []string
	all    chan struct{}
}

func newReceived(all chan struct{}) *received { return &received{all: all} }

func (r *received) handler() sipua.Handler {
	return func(req *sip.Request) {
		r.mu.Lock()
		r.bodies = append(r.bodies, string(req.Body()))
		r.mu.Unlock()
		r.all <- struct{}{}
	}
}

// waitAll waits for n requests handed over to any user of all, within ctx.
func waitAll(ctx context.Context, t *testing.T, all chan struct{}, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-all:
		case <-ctx.Done():
			t.Fatalf("%d requests handed over; want %d", i, n)
		}
	}
}

func (r *received) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

func TestPoolSharedDemultiplexes(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			const users, uas, rounds = 6, 2, 5
			srv := startServerUsers(t, tr, users)
			p := poolFor(t, srv, tr, sipua.Sharing{N: uas}, "", nil)
			accts := make([]*sipua.Account, users)
			got := make([]*received, users)
			all := make(chan struct{}, users*users*rounds)
			for i := range users {
				got[i] = newReceived(all)
				a, err := p.NewAccount(userURI(i+1), userName(i+1), fmt.Sprintf("pass%04d", i+1), got[i].handler())
				if err != nil {
					t.Fatal(err)
				}
				if err := register(ctx, a, 600); err != nil {
					t.Fatalf("register %s: %v", userURI(i+1), err)
				}
				if c := a.Contact(); c.User != a.AoR().User || net.JoinHostPort(c.Host, fmt.Sprint(c.Port)) != a.LocalAddr() {
					t.Errorf("Contact %s@%s:%d; want the user part %s on its socket %s", c.User, c.Host, c.Port, a.AoR().User, a.LocalAddr())
				}
				accts[i] = a
			}
			// Round robin: users 1, 3, 5 on one socket, 2, 4, 6 on the other.
			sockets := map[string][]int{}
			for i, a := range accts {
				sockets[a.LocalAddr()] = append(sockets[a.LocalAddr()], i+1)
			}
			if len(sockets) != uas || p.UAs() != uas || len(p.LocalAddrs()) != uas {
				t.Fatalf("users by socket %v, UAs() %d; want %d sockets", sockets, p.UAs(), uas)
			}
			for addr, us := range sockets {
				if len(us) != users/uas {
					t.Errorf("socket %s serves users %v; want %d of them", addr, us, users/uas)
				}
			}

			// Every user pages every other user, all at once; each request has
			// a Call-ID of its own, which its final response must carry.
			var wg sync.WaitGroup
			errs := make(chan error, users*users*rounds)
			for i, from := range accts {
				for j, to := range accts {
					if i == j {
						continue
					}
					for k := range rounds {
						wg.Add(1)
						go func() {
							defer wg.Done()
							callID := fmt.Sprintf("c-%d-%d-%d", i+1, j+1, k)
							res, err := from.Do(ctx, "send", sipua.Request{Method: sip.MESSAGE, URI: to.AoR(), CallID: callID,
								ContentType: "text/plain", Body: fmt.Appendf(nil, "from %d to %d #%d", i+1, j+1, k)})
							switch {
							case err != nil:
								errs <- fmt.Errorf("%d -> %d: %v", i+1, j+1, err)
							case res == nil:
							case res.CallID() == nil || res.CallID().Value() != callID || res.From().Address.User != from.AoR().User:
								errs <- fmt.Errorf("%d -> %d: the response to %s is %s from %s's transaction", i+1, j+1, callID, res.CallID(), res.From().Address.User)
							}
						}()
					}
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Every copy reached its user and no other.
			waitAll(ctx, t, all, users*(users-1)*rounds)
			for j := range users {
				bodies := got[j].snapshot()
				var want []string
				for i := range users {
					for k := range rounds {
						if i != j {
							want = append(want, fmt.Sprintf("from %d to %d #%d", i+1, j+1, k))
						}
					}
				}
				slices.Sort(bodies)
				slices.Sort(want)
				if !slices.Equal(bodies, want) {
					t.Errorf("user %d was handed %d requests %q; want its own %d", j+1, len(bodies), bodies, len(want))
				}
			}
		})
	}
}

func TestPoolPerUser(t *testing.T) {
	for _, tr := range []string{"udp", "tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			const users = 3
			srv := startServerUsers(t, tr, users)
			p := poolFor(t, srv, tr, sipua.Sharing{PerUser: true}, "", nil)
			if p.UAs() != 0 {
				t.Fatalf("UAs() %d before any user; want 0", p.UAs())
			}
			accts := make([]*sipua.Account, users)
			got := make([]*received, users)
			all := make(chan struct{}, 8)
			ports := map[string]bool{}
			for i := range users {
				got[i] = newReceived(all)
				a, err := p.NewAccount(userURI(i+1), userName(i+1), fmt.Sprintf("pass%04d", i+1), got[i].handler())
				if err != nil {
					t.Fatal(err)
				}
				if err := register(ctx, a, 600); err != nil {
					t.Fatalf("register: %v", err)
				}
				accts[i] = a
				ports[a.LocalAddr()] = true
			}
			if len(ports) != users || p.UAs() != users {
				t.Fatalf("local addresses %v, UAs() %d; want %d distinct", ports, p.UAs(), users)
			}
			if err := page(ctx, accts[0], accts[1]); err != nil {
				t.Fatal(err)
			}
			if err := page(ctx, accts[2], accts[1]); err != nil {
				t.Fatal(err)
			}
			waitAll(ctx, t, all, 2)
			if b := got[1].snapshot(); len(b) != 2 || len(got[0].snapshot())+len(got[2].snapshot()) != 0 {
				t.Errorf("user 2 got %q, users 1 and 3 %q %q; want 2 for user 2 only", b, got[0].snapshot(), got[2].snapshot())
			}
			// A user's Close releases its socket (the UA closes after it).
			if err := register(ctx, accts[0], 0); err != nil {
				t.Fatal(err)
			}
			accts[0].Close()
			if p.UAs() != users-1 || slices.Contains(p.LocalAddrs(), accts[0].LocalAddr()) {
				t.Errorf("after one Close: UAs() %d, addresses %v; want %d without %s", p.UAs(), p.LocalAddrs(), users-1, accts[0].LocalAddr())
			}
			p.Close()
			if p.UAs() != 0 {
				t.Errorf("UAs() %d after Close; want 0", p.UAs())
			}
			if _, err := p.NewAccount(userURI(1), userName(1), "pass0001", nil); err == nil {
				t.Error("NewAccount after Close succeeded")
			} else if c, _ := report.ClassOf(err); c != report.Canceled {
				t.Errorf("NewAccount after Close: class %s; want canceled", c)
			}
		})
	}
}

// sentAuth is what one sent request said of its authentication (and expiry).
type sentAuth struct {
	method, from string // From user part
	header       string // Authorization or Proxy-Authorization value, "" when none
	expires      string // Expires value, "" when none
}

// sentRequests reads a trace: the requests sent, in order.
func sentRequests(t *testing.T, trace []byte) []sentAuth {
	t.Helper()
	var out []sentAuth
	var cur *sentAuth
	sc := bufio.NewScanner(bytes.NewReader(trace))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "=== "):
			cur = nil
			if strings.Contains(line, " sent ") {
				out = append(out, sentAuth{})
				cur = &out[len(out)-1]
			}
		case cur == nil:
		case cur.method == "" && strings.HasSuffix(line, " SIP/2.0"):
			cur.method, _, _ = strings.Cut(line, " ")
		case cur.method == "":
			cur = nil // a response
			out = out[:len(out)-1]
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			value = strings.TrimSpace(value)
			switch strings.ToLower(name) {
			case "from", "f":
				var u sip.Uri
				if i := strings.IndexByte(value, '<'); i >= 0 {
					value = value[i+1 : strings.IndexByte(value, '>')]
				}
				if err := sip.ParseUri(value, &u); err == nil {
					cur.from = u.User
				}
			case "authorization", "proxy-authorization":
				cur.header = value
			case "expires":
				cur.expires = value
			}
		}
	}
	return out
}

// TestPoolAuthDoesNotLeak: two users on one socket keep their own digest
// state: the second's first request carries no credentials (the first's
// cached challenge is not its own), every credentialed request names its own
// user with nonce counts of its own from 1, and a user with a wrong password
// fails while the other, on the same socket, is signed in.
func TestPoolAuthDoesNotLeak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	srv := startServerUsers(t, "udp", 3)
	var buf syncBuffer
	trace := sipua.NewTrace(&buf, 0)
	p := poolFor(t, srv, "udp", sipua.Sharing{N: 1}, sipua.AuthDigest, trace)
	alice, err := p.NewAccount(userURI(1), userName(1), "pass0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := p.NewAccount(userURI(2), userName(2), "pass0002", nil)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := p.NewAccount(userURI(3), userName(3), "not-pass0003", nil)
	if err != nil {
		t.Fatal(err)
	}
	if alice.LocalAddr() != bob.LocalAddr() || bob.LocalAddr() != mallory.LocalAddr() {
		t.Fatalf("sockets %s %s %s; want one", alice.LocalAddr(), bob.LocalAddr(), mallory.LocalAddr())
	}
	if err := register(ctx, alice, 600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := page(ctx, alice, alice); err != nil {
			t.Fatal(err)
		}
	}
	if err := register(ctx, bob, 600); err != nil {
		t.Fatal(err)
	}
	if err := page(ctx, bob, alice); err != nil {
		t.Fatal(err)
	}
	if err := register(ctx, mallory, 600); err == nil {
		t.Fatal("a wrong password registered beside a signed-in user on its socket")
	} else if c, _ := report.ClassOf(err); c != report.Auth {
		t.Fatalf("wrong password: class %s (%v); want auth", c, err)
	}
	if err := page(ctx, alice, bob); err != nil {
		t.Fatalf("alice after mallory's failure: %v", err)
	}
	trace.Close()

	first := map[string]bool{}
	ncs := map[string][]string{} // user -> nc values of its credentialed requests
	for _, r := range sentRequests(t, buf.Bytes()) {
		if r.from == "" {
			t.Fatalf("a sent %s without a From user", r.method)
		}
		if !first[r.from] {
			first[r.from] = true
			if r.header != "" {
				t.Errorf("%s's first request (%s) carries credentials %q: it has had no challenge of its own", r.from, r.method, r.header)
			}
		}
		if r.header == "" {
			continue
		}
		user, _ := sipae(r.header, "username")
		if user != r.from {
			t.Errorf("%s's %s carries the credentials of %q", r.from, r.method, user)
		}
		nc, _ := sipae(r.header, "nc")
		ncs[r.from] = append(ncs[r.from], nc)
	}
	for _, u := range []string{"user0001", "user0002"} {
		for i, nc := range ncs[u] {
			if want := fmt.Sprintf("%08x", i+1); nc != want {
				t.Errorf("%s's credentialed request %d has nc %s; want %s (its own count: %v)", u, i+1, nc, want, ncs[u])
			}
		}
	}
	// user0001: REGISTER and 4 MESSAGEs; user0002: REGISTER and a MESSAGE.
	if len(ncs["user0001"]) != 5 || len(ncs["user0002"]) != 2 {
		t.Errorf("credentialed requests %v; want 5 of user0001 and 2 of user0002", ncs)
	}
}

// TestPoolNTLMDoesNotLeak: two users signed in with NTLM on one socket each
// sign in their own security association and sign every request in it.
func TestPoolNTLMDoesNotLeak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	srv := startServerUsers(t, "udp", 2, server.SchemeNTLM)
	var buf syncBuffer
	trace := sipua.NewTrace(&buf, 0)
	p := poolFor(t, srv, "udp", sipua.Sharing{N: 1}, sipua.AuthNTLM, trace)
	var accts []*sipua.Account
	for i := range 2 {
		a, err := p.NewAccount(userURI(i+1), userName(i+1), fmt.Sprintf("pass%04d", i+1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := register(ctx, a, 600); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	for range 2 {
		if err := page(ctx, accts[0], accts[1]); err != nil {
			t.Fatal(err)
		}
		if err := page(ctx, accts[1], accts[0]); err != nil {
			t.Fatal(err)
		}
	}
	trace.Close()
	opaques := map[string]map[string]bool{} // user -> opaques it signed in
	for _, r := range sentRequests(t, buf.Bytes()) {
		if op, ok := sipae(r.header, "opaque"); ok && op != "" {
			if opaques[r.from] == nil {
				opaques[r.from] = map[string]bool{}
			}
			opaques[r.from][op] = true
		}
	}
	a, b := opaques["user0001"], opaques["user0002"]
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("security associations by user %v; want one each", opaques)
	}
	for op := range a {
		if b[op] {
			t.Errorf("both users signed in security association %s", op)
		}
	}
	if st := srv.Stats(); st.SecurityAssociations != 2 || st.SignatureRefused != 0 {
		t.Errorf("server: %d security associations, %d signatures refused; want 2 and 0", st.SecurityAssociations, st.SignatureRefused)
	}
}

// sipae returns a parameter of an authentication header value.
func sipae(header, name string) (string, bool) {
	if header == "" {
		return "", false
	}
	p, err := parseAuthParams(header)
	if err != nil {
		return "", false
	}
	v, ok := p[name]
	return v, ok
}

// parseAuthParams reads `Scheme k=v, k="v"` into its parameters.
func parseAuthParams(h string) (map[string]string, error) {
	_, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return nil, fmt.Errorf("no parameters in %q", h)
	}
	out := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			continue
		}
		out[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, nil
}

// syncBuffer is a bytes.Buffer safe for the trace's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.b.Bytes())
}

func TestParseSharing(t *testing.T) {
	cases := []struct {
		in   string
		want sipua.Sharing
		text string // String of the result; "" for an error
	}{
		{"per-user", sipua.Sharing{PerUser: true}, "per-user"},
		{" Per-User ", sipua.Sharing{PerUser: true}, "per-user"},
		{"shared", sipua.Sharing{}, "shared"},         // N by the load
		{"shared:4", sipua.Sharing{N: 4}, "shared:4"}, //
		{"shared:1024", sipua.Sharing{N: 1024}, "shared:1024"},
		{"shared:0", sipua.Sharing{}, ""},    // at least one socket
		{"shared:1025", sipua.Sharing{}, ""}, // beyond MaxShared
		{"shared:x", sipua.Sharing{}, ""},
		{"shared:", sipua.Sharing{}, ""},
		{"per-connection", sipua.Sharing{}, ""},
		{"", sipua.Sharing{}, ""},
	}
	for _, c := range cases {
		got, err := sipua.ParseSharing(c.in)
		if c.text == "" {
			if err == nil {
				t.Errorf("ParseSharing(%q) = %v; want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want || got.String() != c.text {
			t.Errorf("ParseSharing(%q) = %+v (%q), %v; want %+v (%q)", c.in, got, got.String(), err, c.want, c.text)
		}
	}
}

func TestSharedFor(t *testing.T) {
	for _, c := range []struct{ users, want int }{
		{0, 1}, {1, 1}, {5000, 1}, {5001, 2}, {20_000, 4}, {100_000, 20}, {10_000_000, 64},
	} {
		if got := sipua.SharedFor(c.users); got != c.want {
			t.Errorf("SharedFor(%d) = %d; want %d", c.users, got, c.want)
		}
	}
}

// TestPoolRegistrationRefreshes: users sharing sockets keep their bindings
// through the Registrar's batched refreshes against a real registrar (each
// refresh a held REGISTER flushed with the others of its batch over UDP, a
// transaction of its own over TCP), challenged and answered per user, and
// Unregister removes every binding.
func TestPoolRegistrationRefreshes(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			const users, rounds = 8, 2
			srv := startServerUsers(t, tr, users)
			p := poolFor(t, srv, tr, sipua.Sharing{N: 2}, "", nil)
			var mu sync.Mutex
			bound := map[string]int{} // 2xx to binding REGISTERs, by user
			done := make(chan struct{})
			reg := &sipua.Registrar{Expires: 2 * time.Second, Timeout: 3 * time.Second,
				Registered: func(a *sipua.Account, res *sip.Response) {
					mu.Lock()
					defer mu.Unlock()
					aor := a.AoR()
					bound[aor.User]++
					for _, n := range bound {
						if n < 1+rounds {
							return
						}
					}
					if len(bound) == users && done != nil {
						close(done)
						done = nil
					}
				}}
			regs := make([]*sipua.Registration, users)
			for i := range users {
				a, err := p.NewAccount(userURI(i+1), userName(i+1), fmt.Sprintf("pass%04d", i+1), nil)
				if err != nil {
					t.Fatal(err)
				}
				regs[i] = reg.NewRegistration(a)
				if granted, err := regs[i].Register(ctx); err != nil || granted != 2*time.Second {
					t.Fatalf("Register %s = %s, %v; want 2s, nil", userURI(i+1), granted, err)
				}
			}
			mu.Lock()
			wait := done
			mu.Unlock()
			select {
			case <-wait: // every user refreshed twice (granted 2 s: every second)
			case <-ctx.Done():
				mu.Lock()
				t.Fatalf("bindings by user %v; want %d each (sign-in and %d refreshes)", bound, 1+rounds, rounds)
			}
			for _, r := range regs {
				if err := r.Unregister(ctx); err != nil {
					t.Fatalf("Unregister: %v", err)
				}
			}
			st := srv.Stats()
			if st.RegistersOK < users*(1+rounds) || st.Unregisters != users || st.AuthFailures != 0 {
				t.Errorf("server saw %d bindings, %d unregisters, %d auth failures; want at least %d, %d, 0",
					st.RegistersOK, st.Unregisters, st.AuthFailures, users*(1+rounds), users)
			}
		})
	}
}

// TestRegistrationRegistrarChooses: with no expiry configured the REGISTER asks
// for none (no Expires header, as Microsoft's clients do) and the session keeps
// what the registrar granted (chatload serve: 3600 s); the unREGISTER still says
// Expires: 0.
func TestRegistrationRegistrarChooses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	srv := startServerUsers(t, "udp", 1)
	var wire syncBuffer
	p := poolFor(t, srv, "udp", sipua.Sharing{N: 1}, "", sipua.NewTrace(&wire, 0))
	a, err := p.NewAccount(userURI(1), userName(1), "pass0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := (&sipua.Registrar{Timeout: 3 * time.Second}).NewRegistration(a)
	if granted, err := reg.Register(ctx); err != nil || granted != time.Hour {
		t.Fatalf("Register = %s, %v; want the registrar's 1h", granted, err)
	}
	if err := reg.Unregister(ctx); err != nil {
		t.Fatal(err)
	}
	var sent []string // the Expires of each REGISTER sent ("" when none)
	for _, r := range sentRequests(t, wire.Bytes()) {
		if r.method == "REGISTER" {
			sent = append(sent, r.expires)
		}
	}
	// The sign-in (challenged, then answered) asks for nothing; the unREGISTER says 0.
	if len(sent) < 2 || sent[len(sent)-1] != "0" || slices.ContainsFunc(sent[:len(sent)-1], func(s string) bool { return s != "" }) {
		t.Errorf("Expires of the REGISTERs sent: %q; want none on the sign-in, 0 on the unREGISTER", sent)
	}
}
