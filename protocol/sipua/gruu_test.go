package sipua

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// pool is a small Front End for these tests: it registers endpoints and
// returns a GRUU for their +sip.instance (Lync's form), answers INVITE with
// a Record-Route and a Contact of its own, records the in-dialog requests it
// gets, and sends requests to a GRUU over the flow the REGISTER came in on:
// never to the Contact, which the UAs here make unreachable.
type pool struct {
	t    *testing.T
	sua  *sipgo.UserAgent
	cli  *sipgo.Client
	addr string
	tr   string
	rr   []string // Record-Route values of the 200 to INVITE, top first
	// noGRUU: a registrar without GRUU support (it echoes the binding only)
	noGRUU bool

	mu    sync.Mutex
	flows map[string]string // gruu key -> source address of its REGISTER
	reqs  []string          // every request after the INVITE, as received
	regs  []string          // every REGISTER
}

func newPool(t *testing.T, tr string, rr []string, opts ...func(*pool)) *pool {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sua, err := sipgo.NewUA(sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(sua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	p := &pool{t: t, sua: sua, tr: tr, rr: rr, flows: map[string]string{}}
	for _, o := range opts {
		o(p)
	}
	srv.OnRegister(p.register)
	srv.OnInvite(p.invite)
	rec := func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		p.reqs = append(p.reqs, req.String())
		p.mu.Unlock()
		if tx != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
	}
	srv.OnInfo(rec)
	srv.OnBye(rec)
	srv.OnAck(func(req *sip.Request, _ sip.ServerTransaction) { rec(req, nil) })
	var wg sync.WaitGroup
	wg.Add(1)
	var closer func()
	switch tr {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.addr, closer = pc.LocalAddr().String(), func() { pc.Close() }
		go func() { defer wg.Done(); srv.ServeUDP(pc) }()
		p.cli, err = sipgo.NewClient(sua, sipgo.WithClientConnectionAddr(p.addr), sipgo.WithClientLogger(log))
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.addr, closer = l.Addr().String(), func() { l.Close() }
		go func() { defer wg.Done(); srv.ServeTCP(l) }()
		p.cli, err = sipgo.NewClient(sua, sipgo.WithClientLogger(log))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer(); sua.Close(); wg.Wait() })
	return p
}

func (p *pool) register(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	p.regs = append(p.regs, req.String())
	p.mu.Unlock()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	c := req.Contact()
	sup := req.GetHeader("Supported")
	inst, _ := c.Params.Get("+sip.instance")
	if p.noGRUU {
		h := c.Clone()
		h.Params.Add("expires", "120")
		res.AppendHeader(h)
	} else if c != nil && inst != "" && sup != nil && strings.Contains(sup.Value(), "gruu") {
		id := strings.TrimSuffix(strings.TrimPrefix(strings.Trim(inst, `"`), "<urn:uuid:"), ">")
		g := sip.Uri{Scheme: "sip", User: req.From().Address.User, Host: req.From().Address.Host,
			UriParams: sip.HeaderParams{{K: "opaque", V: "user:epid:" + base64.RawURLEncoding.EncodeToString([]byte(id))[:22]}, {K: "gruu"}}}
		p.mu.Lock()
		p.flows[gruuKey(g)] = req.Source()
		p.mu.Unlock()
		h := c.Clone()
		h.Params.Add("expires", "300")
		h.Params.Add("gruu", `"`+g.String()+`"`)
		res.AppendHeader(h)
	}
	tx.Respond(res)
}

func (p *pool) invite(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.To().Params.Add("tag", "pooltag")
	for _, v := range p.rr {
		res.AppendHeader(sip.NewHeader("Record-Route", v))
	}
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "svc", Host: "pool.test", UriParams: sip.HeaderParams{{K: "transport", V: p.tr}}}})
	p.mu.Lock()
	p.reqs = append(p.reqs, req.String())
	p.mu.Unlock()
	tx.Respond(res)
}

// sendToGRUU sends a MESSAGE to g over the flow its REGISTER came in on.
func (p *pool) sendToGRUU(ctx context.Context, g sip.Uri, body string) (*sip.Response, error) {
	p.mu.Lock()
	flow := p.flows[gruuKey(g)]
	p.mu.Unlock()
	req := sip.NewRequest(sip.MESSAGE, g)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: g.User, Host: g.Host}})
	req.SetBody([]byte(body))
	req.SetTransport(strings.ToUpper(p.tr))
	req.SetDestination(flow)
	return p.cli.Do(ctx, req)
}

// requests returns the requests of method m received so far (every
// REGISTER for m REGISTER), parsed from their text: the handlers' own
// requests are sipgo's, which parses headers lazily.
func (p *pool) requests(m sip.RequestMethod) []*sip.Request {
	p.mu.Lock()
	all := append([]string(nil), p.reqs...)
	if m == sip.REGISTER {
		all = append([]string(nil), p.regs...)
	}
	p.mu.Unlock()
	var out []*sip.Request
	for _, text := range all {
		msg, err := sip.ParseMessage([]byte(text))
		if err != nil {
			p.t.Errorf("request does not parse: %v\n%s", err, text)
			continue
		}
		if r := msg.(*sip.Request); r.Method == m {
			out = append(out, r)
		}
	}
	return out
}

// unreachable returns a loopback address nothing listens on (tcp and udp).
func unreachable(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// TestGRUUAndRouteSet: an Endpoint account registers with an epid on From and
// the +sip.instance derived from it; it takes the registrar's GRUU as its
// Contact; requests to the GRUU reach it (and not its twin with the same
// user part) over the flow of its REGISTER although the Contact it
// registered is unreachable; and in-dialog requests (ACK, INFO, BYE) carry
// the route set from the 2xx's Record-Route, loose or strict.
func TestGRUUAndRouteSet(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			rr := []string{"<sip:proxy2.test;lr>", "<sip:fe.test;transport=" + tr + ";lr>"}
			p := newPool(t, tr, rr)
			ua := newUA(t, Config{Target: p.addr, Transport: tr, Timeout: 2 * time.Second,
				Endpoint: true, Advertise: unreachable(t), UserAgent: "chatload/test"})
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			got := [2]chan string{make(chan string, 2), make(chan string, 2)}
			var acct [2]*Account
			for i := range acct {
				ch := got[i]
				a, err := ua.NewAccount("sip:alice@test.example", "alice", "pw", func(req *sip.Request) { ch <- string(req.Body()) })
				if err != nil {
					t.Fatal(err)
				}
				if err := register(ctx, a); err != nil {
					t.Fatal(err)
				}
				acct[i] = a
			}
			for i, reg := range p.requests(sip.REGISTER) {
				epid, _ := reg.From().Params.Get("epid")
				inst, _ := reg.Contact().Params.Get("+sip.instance")
				if epid != acct[i].EPID() || inst != `"`+InstanceURN(epid)+`"` {
					t.Errorf("REGISTER %d: From epid %q, +sip.instance %s; want %q and its instance", i, epid, inst, acct[i].EPID())
				}
				if ua := reg.GetHeader("User-Agent"); ua == nil || ua.Value() != "chatload/test" {
					t.Errorf("REGISTER %d: User-Agent %v", i, ua)
				}
			}
			for i, a := range acct {
				g, ok := a.GRUU()
				if c := a.Contact(); !ok || c.String() != g.String() {
					t.Fatalf("account %d: GRUU %v (%v), Contact %s; want the GRUU as Contact", i, g.String(), ok, c.String())
				}
			}
			// Requests to each GRUU reach that account.
			for i := range acct {
				i := 1 - i // the twin registered second first: the user part alone would pick the first
				g, _ := acct[i].GRUU()
				res, err := p.sendToGRUU(ctx, g, "to "+string(rune('0'+i)))
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("MESSAGE to GRUU %d: %v %v", i, res, err)
				}
				select {
				case b := <-got[i]:
					if b != "to "+string(rune('0'+i)) {
						t.Errorf("account %d got %q", i, b)
					}
				case b := <-got[1-i]:
					t.Fatalf("the request to account %d's GRUU reached account %d (%q)", i, 1-i, b)
				case <-ctx.Done():
					t.Fatalf("account %d got nothing", i)
				}
			}

			// Route set: loose.
			d, _, err := acct[0].Invite(ctx, "connect", sip.Uri{Scheme: "sip", User: "svc", Host: "test.example"}, nil, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			inv := p.requests(sip.INVITE)[0]
			if c, g := inv.Contact(), acct[0].Contact(); c == nil || c.Address.String() != g.String() {
				t.Errorf("INVITE Contact %v; want the GRUU %s", c, g.String())
			}
			if _, err := d.Do(ctx, "info", sip.INFO, "text/plain", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Do(ctx, "bye", sip.BYE, "", nil); err != nil {
				t.Fatal(err)
			}
			wantRoutes := []string{"sip:fe.test;transport=" + tr + ";lr", "sip:proxy2.test;lr"}
			waitFor(t, func() bool { return len(p.requests(sip.ACK)) == 1 })
			for _, m := range []sip.RequestMethod{sip.ACK, sip.INFO, sip.BYE} {
				req := p.requests(m)[0]
				if req.Recipient.Host != "pool.test" || req.Recipient.User != "svc" {
					t.Errorf("%s Request-URI %s; want the remote target", m, req.Recipient.String())
				}
				if r := routes(req); strings.Join(r, " ") != strings.Join(wantRoutes, " ") {
					t.Errorf("%s Route %q; want %q", m, r, wantRoutes)
				}
				if epid, _ := req.From().Params.Get("epid"); epid != acct[0].EPID() {
					t.Errorf("%s From epid %q; want %q", m, epid, acct[0].EPID())
				}
				if h := req.GetHeader("User-Agent"); h == nil {
					t.Errorf("%s without User-Agent", m)
				}
			}
		})
	}
	t.Run("strict", func(t *testing.T) {
		p := newPool(t, "udp", []string{"<sip:proxy2.test;lr>", "<sip:strict.test;maddr=10.0.0.1>"})
		ua := newUA(t, Config{Target: p.addr, Transport: "udp", Timeout: 2 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		a, _ := ua.NewAccount("sip:alice@test.example", "alice", "pw", nil)
		d, _, err := a.Invite(ctx, "connect", sip.Uri{Scheme: "sip", User: "svc", Host: "test.example"}, nil, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Do(ctx, "info", sip.INFO, "", nil); err != nil {
			t.Fatal(err)
		}
		req := p.requests(sip.INFO)[0]
		if req.Recipient.String() != "sip:strict.test" {
			t.Errorf("strict: Request-URI %s; want the strict router without maddr", req.Recipient.String())
		}
		want := []string{"sip:proxy2.test;lr", "sip:svc@pool.test;transport=udp"}
		if r := routes(req); strings.Join(r, " ") != strings.Join(want, " ") {
			t.Errorf("strict: Route %q; want %q", r, want)
		}
	})
}

// TestNoGRUUFallback: a registrar that gives no GRUU leaves the Contact the
// socket's (the advertised address), and the granted expiry is read from the
// binding it echoes.
func TestNoGRUUFallback(t *testing.T) {
	p := newPool(t, "tcp", nil, func(p *pool) { p.noGRUU = true })
	adv := unreachable(t)
	ua := newUA(t, Config{Target: p.addr, Transport: "tcp", Timeout: 2 * time.Second, Endpoint: true, Advertise: adv})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	a, err := ua.NewAccount("sip:alice@test.example", "alice", "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Do(ctx, "register", Request{Method: sip.REGISTER, URI: sip.Uri{Scheme: "sip", Host: "test.example"}, Contact: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.GRUU(); ok {
		t.Error("a GRUU from a registrar that gave none")
	}
	if c := a.Contact(); c.HostPort() != adv || c.User != "alice" {
		t.Errorf("Contact %s; want alice@%s", c.String(), adv)
	}
	if g, ok := a.Granted(res); !ok || g != 120*time.Second {
		t.Errorf("granted %v %v; want 120s from the echoed binding", g, ok)
	}
}

func routes(req *sip.Request) []string {
	var out []string
	for _, h := range req.GetHeaders("Route") {
		out = append(out, strings.Trim(h.Value(), "<>"))
	}
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestKeepAlive: over tcp the UA pings the connection to its target with
// CRLFCRLF (RFC 5626 3.5.1) every KeepAlive, between whole messages.
func TestKeepAlive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ua := newUA(t, Config{Target: l.Addr().String(), Transport: "tcp", Timeout: 300 * time.Millisecond, KeepAlive: 20 * time.Millisecond})
	a, err := ua.NewAccount("sip:alice@test.example", "alice", "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- register(context.Background(), a) }() // never answered: it only opens the connection
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(guard))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("\r\n\r\n\r\n\r\n\r\n\r\n")) { // the message's end, then two pings at least
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.HasPrefix(got, []byte("REGISTER ")) {
		t.Errorf("the stream starts %q; want the REGISTER whole before any ping", got[:min(len(got), 40)])
	}
	<-done
}
