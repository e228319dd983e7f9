package server

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/chatload/chatload/scenarios"
)

// wait bounds every wait in these tests: a failure guard, never a timing assumption.
const wait = 5 * time.Second

// fakeClock is an injectable clock; tests move it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startServer runs a server on 127.0.0.1 free ports with n generated users and rooms.
func startServer(t *testing.T, mod func(*Config)) (*Server, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg := Config{
		Users:     GeneratedUsers(4, "example.test"),
		Generated: true,
		Rooms:     3,
		now:       clk.now,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, clk
}

// testUA is one user's SIP endpoint, written for these tests on plain sipgo: it
// registers, sends with explicit digest control, and collects the MESSAGEs it gets.
type testUA struct {
	t         *testing.T
	user      scenarios.User
	transport string // "udp" or "tcp"
	server    string // server address for transport
	local     string // our UDP listening address ("" for tcp)
	cli       *sipgo.Client
	inbox     chan *sip.Request
	done      chan struct{}

	mu   sync.Mutex
	chal *digest.Challenge // last challenge, for pre-emptive reuse
	nc   int
	cseq uint32
}

func newTestUA(t *testing.T, s *Server, transport string, u scenarios.User) *testUA {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("chatload-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	c := &testUA{t: t, user: u, transport: transport, server: s.Addr(transport),
		inbox: make(chan *sip.Request, 1024), done: make(chan struct{})}
	collect := func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case c.inbox <- req:
		case <-c.done:
		}
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	}
	srv.OnMessage(collect)
	srv.OnInfo(collect) // XCCOS: the chat service's requests on a dialog
	srv.OnBye(collect)
	var opts []sipgo.ClientOption
	if transport == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.local = pc.LocalAddr().String()
		go srv.ServeUDP(pc)
		// The client sends from this socket only once sipgo has pooled it.
		deadline := time.Now().Add(wait)
		for len(ua.TransportLayer().ListenPorts("udp")) == 0 || ua.TransportLayer().Pool("udp").Size() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("test UA: UDP listener not ready")
			}
			runtime.Gosched()
		}
		opts = append(opts, sipgo.WithClientConnectionAddr(c.local))
		t.Cleanup(func() { pc.Close() })
	}
	c.cli, err = sipgo.NewClient(ua, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(c.done)
		ua.Close()
	})
	return c
}

func mustURI(t *testing.T, s string) sip.Uri {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return u
}

// request builds a fresh request from this user; to is the To URI.
func (c *testUA) request(method sip.RequestMethod, ruri, to, body string) *sip.Request {
	c.t.Helper()
	req := sip.NewRequest(method, mustURI(c.t, ruri))
	from := &sip.FromHeader{Address: mustURI(c.t, c.user.URI), Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	toh := &sip.ToHeader{Address: mustURI(c.t, to), Params: sip.NewParams()}
	callID := sip.CallIDHeader("test-" + sip.GenerateTagN(16))
	c.mu.Lock()
	c.cseq++
	cseq := &sip.CSeqHeader{SeqNo: c.cseq, MethodName: method}
	c.mu.Unlock()
	req.AppendHeader(from)
	req.AppendHeader(toh)
	req.AppendHeader(&callID)
	req.AppendHeader(cseq)
	if body != "" {
		ct := sip.ContentTypeHeader("text/plain")
		req.AppendHeader(&ct)
		req.SetBody([]byte(body))
	} else {
		req.SetBody(nil)
	}
	req.SetTransport(strings.ToUpper(c.transport))
	req.SetDestination(c.server)
	return req
}

func (c *testUA) registerRequest(expires int) *sip.Request {
	req := c.request(sip.REGISTER, "sip:example.test", c.user.URI, "")
	contact := "sip:" + scenarios.UserPart(c.user.URI) + "@" + c.local
	if c.transport == "tcp" {
		contact = "sip:" + scenarios.UserPart(c.user.URI) + "@127.0.0.1:1;transport=tcp" // fix_nated_register ignores it
	}
	req.AppendHeader(&sip.ContactHeader{Address: mustURI(c.t, contact)})
	req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
	return req
}

// do sends req as one transaction and returns the final response.
func (c *testUA) do(req *sip.Request) *sip.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := c.cli.Do(ctx, req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.Recipient.String(), err)
	}
	return res
}

// authorize adds credentials for the last challenge with the next nonce count
// (pre-emptive when no new challenge came in between), as the client driver does.
func (c *testUA) authorize(req *sip.Request, password string) {
	c.t.Helper()
	c.mu.Lock()
	chal := c.chal
	c.nc++
	nc := c.nc
	c.mu.Unlock()
	if chal == nil {
		c.t.Fatal("authorize: no challenge yet")
	}
	c.authorizeWith(req, chal, nc, password)
}

func (c *testUA) authorizeWith(req *sip.Request, chal *digest.Challenge, nc int, password string) {
	c.t.Helper()
	cred, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: req.Recipient.String(),
		Username: c.user.Username(), Password: password, Count: nc,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	name := "Proxy-Authorization"
	if req.Method == sip.REGISTER {
		name = "Authorization"
	}
	req.AppendHeader(sip.NewHeader(name, cred.String()))
}

// learn keeps the challenge of a 401/407 and returns it.
func (c *testUA) learn(res *sip.Response) *digest.Challenge {
	c.t.Helper()
	name := "Proxy-Authenticate"
	if res.StatusCode == sip.StatusUnauthorized {
		name = "WWW-Authenticate"
	}
	h := res.GetHeader(name)
	if h == nil {
		c.t.Fatalf("%d without %s", res.StatusCode, name)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		c.t.Fatalf("parse challenge %q: %v", h.Value(), err)
	}
	c.mu.Lock()
	c.chal, c.nc = chal, 0
	c.mu.Unlock()
	return chal
}

// send sends a request built by mk, authenticating like a real client: with the
// cached nonce when there is one, answering one challenge otherwise.
func (c *testUA) send(mk func() *sip.Request) *sip.Response {
	c.t.Helper()
	req := mk()
	c.mu.Lock()
	cached := c.chal != nil
	c.mu.Unlock()
	if cached {
		c.authorize(req, c.user.Password)
	}
	res := c.do(req)
	if res.StatusCode != sip.StatusUnauthorized && res.StatusCode != sip.StatusProxyAuthRequired {
		return res
	}
	c.learn(res)
	req = mk()
	c.authorize(req, c.user.Password)
	return c.do(req)
}

func (c *testUA) register() {
	c.t.Helper()
	if res := c.send(func() *sip.Request { return c.registerRequest(300) }); res.StatusCode != 200 {
		c.t.Fatalf("REGISTER %s: %d %s", c.user.URI, res.StatusCode, res.Reason)
	}
}

// message sends body to ruri (To = ruri) and returns the request's Call-ID and the response.
func (c *testUA) message(ruri, body string) (string, *sip.Response) {
	c.t.Helper()
	var callID string
	res := c.send(func() *sip.Request {
		r := c.request(sip.MESSAGE, ruri, ruri, body)
		callID = r.CallID().Value()
		return r
	})
	return callID, res
}

// must sends body to ruri and fails unless the answer is code.
func (c *testUA) must(ruri, body string, code int) string {
	c.t.Helper()
	id, res := c.message(ruri, body)
	if res.StatusCode != code {
		c.t.Fatalf("%s %q to %s: got %d %s, want %d", c.user.URI, body, ruri, res.StatusCode, res.Reason, code)
	}
	return id
}

// next returns the next MESSAGE this user received.
func (c *testUA) next() *sip.Request {
	c.t.Helper()
	select {
	case r := <-c.inbox:
		return r
	case <-time.After(wait):
		c.t.Fatalf("%s: no MESSAGE within %v", c.user.URI, wait)
		return nil
	}
}

// expect returns the next MESSAGE and fails unless its body is want.
func (c *testUA) expect(want string) *sip.Request {
	c.t.Helper()
	r := c.next()
	if got := string(r.Body()); got != want {
		c.t.Fatalf("%s got %q, want %q", c.user.URI, got, want)
	}
	return r
}

func header(m sip.Message, name string) string {
	hs := m.GetHeaders(name)
	if len(hs) == 0 {
		return ""
	}
	return hs[0].Value()
}
