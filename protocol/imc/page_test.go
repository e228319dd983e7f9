package imc_test

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
)

func asPager(t *testing.T, s engine.Session) engine.Pager {
	t.Helper()
	p, ok := s.(engine.Pager)
	if !ok {
		t.Fatalf("session %T is no engine.Pager", s)
	}
	return p
}

// testPage: page-mode MESSAGEs (outside rooms) through the target's
// user-to-user relay, from a registered and from an unregistered sender.
func testPage(t *testing.T, tg target) {
	d := tg.driver(t)
	in := newInbox()
	receiver := connect(t, d, tg.user(8), in.deliver)
	sender := connect(t, d, tg.user(7), nil)
	to := strings.TrimPrefix(tg.user(8).URI, "sip:") // the scheme is added when missing

	check := func(got engine.Delivery, from string, m engine.Message) {
		t.Helper()
		if got.Room != "" || got.From != from || got.Body != m.Body || got.At.IsZero() {
			t.Errorf("delivery = %+v; want Room \"\", From %s, ID %s, Body %q", got, from, m.ID, m.Body)
		}
	}
	m := engine.Message{ID: newID("page"), Body: "page to you"}
	if err := asPager(t, sender).SendTo(ctx(t), to, m); err != nil {
		t.Fatalf("SendTo(%s): %v", to, err)
	}
	check(in.waitID(t, m.ID), tg.userPart(7), m)

	// A body that looks like a room line is still a page: the From decides.
	m = engine.Message{ID: newID("page"), Body: "[someone]: not a room line"}
	if err := asPager(t, sender).SendTo(ctx(t), tg.user(8).URI, m); err != nil {
		t.Fatalf("SendTo(%s): %v", tg.user(8).URI, err)
	}
	check(in.waitID(t, m.ID), tg.userPart(7), m)

	err := asPager(t, sender).SendTo(ctx(t), "sip:nosuchuser@"+tg.domain, engine.Message{ID: newID("page"), Body: "nobody"})
	wantClass(t, "SendTo an unregistered user", err, report.NotFound, 404)
	if !strings.Contains(err.Error(), "nosuchuser@"+tg.domain) {
		t.Errorf("error %q does not name the callee", err)
	}

	// Without a registration the sender answers the proxy's challenge as usual.
	nrCfg := tg.config()
	nrCfg.NoRegister = true
	nr, err := imc.New(nrCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nr.Close() })
	lone := connect(t, nr, tg.user(9), nil)
	for range 2 { // challenged, then pre-emptive
		m = engine.Message{ID: newID("noreg"), Body: "from nowhere"}
		if err := asPager(t, lone).SendTo(ctx(t), to, m); err != nil {
			t.Fatalf("SendTo without registering: %v", err)
		}
		check(in.waitID(t, m.ID), tg.userPart(9), m)
	}
	if err := receiver.Close(ctx(t)); err != nil {
		t.Errorf("Close: %v", err)
	}
	err = asPager(t, receiver).SendTo(ctx(t), to, engine.Message{Body: "after close"})
	wantClass(t, "SendTo after Close", err, report.Canceled, 0)
}

// TestNoRegisterEmbedded: a NoRegister session never REGISTERs, not even to log
// off, and its requests are authenticated by the challenge.
func TestNoRegisterEmbedded(t *testing.T) {
	srv := startEmbedded(t)
	tg := target{addr: srv.Addr("udp"), transport: "udp", domain: "example.test"}
	in := newInbox()
	connect(t, tg.driver(t), tg.user(2), in.deliver)
	before := srv.Stats()

	d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: tg.addr, Transport: tg.transport, Timeout: opTimeout}, NoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := connect(t, d, tg.user(1), nil)
	for i := range 3 {
		m := engine.Message{ID: newID("nr"), Body: "line " + string(rune('a'+i))}
		if err := asPager(t, s).SendTo(ctx(t), tg.user(2).URI, m); err != nil {
			t.Fatalf("SendTo %d: %v", i, err)
		}
		if got := in.waitID(t, m.ID); got.From != tg.userPart(1) || got.Body != m.Body {
			t.Errorf("delivery %+v; want From %s Body %q", got, tg.userPart(1), m.Body)
		}
	}
	if err := s.Close(ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := srv.Stats()
	if n := got.Requests["REGISTER"] - before.Requests["REGISTER"]; n != 0 {
		t.Errorf("%d REGISTERs from a NoRegister session; want 0", n)
	}
	if n := got.AuthChallenges - before.AuthChallenges; n != 1 {
		t.Errorf("%d challenges for 3 MESSAGEs; want 1 (then pre-emptive)", n)
	}
	if n := got.Requests["MESSAGE"] - before.Requests["MESSAGE"]; n != 4 {
		t.Errorf("%d MESSAGEs reached the server; want 4 (one challenged)", n)
	}
}

// uas is a plain SIP UAS: it answers 200 to every MESSAGE and never
// challenges, like a SIPp uas scenario. It counts requests by method and, when
// keep is set, records the MESSAGEs.
type uas struct {
	addr map[string]string // transport -> host:port
	keep bool

	mu       sync.Mutex
	methods  map[sip.RequestMethod]int
	messages []*sip.Request
}

func newUAS(t testing.TB, keep bool) *uas {
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
	u := &uas{addr: map[string]string{}, keep: keep, methods: map[sip.RequestMethod]int{}}
	handle := func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.methods[req.Method]++
		if req.Method == sip.MESSAGE && u.keep {
			u.messages = append(u.messages, req)
		}
		u.mu.Unlock()
		code, reason := 200, "OK"
		if req.Method != sip.MESSAGE {
			code, reason = 405, "Method Not Allowed"
		}
		tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
	}
	srv.OnMessage(handle)
	srv.OnRegister(handle)
	srv.OnOptions(handle)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr["udp"], u.addr["tcp"] = pc.LocalAddr().String(), l.Addr().String()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.ServeUDP(pc) }()
	go func() { defer wg.Done(); srv.ServeTCP(l) }()
	t.Cleanup(func() {
		pc.Close()
		l.Close()
		sua.Close()
		wg.Wait()
	})
	return u
}

// TestNoRegisterPlainUAS: against a UAS that knows no users and never
// challenges, a NoRegister session sends its MESSAGEs without credentials and
// nothing else: R-URI = To = the target URI, From = the AoR, Call-ID = the ID.
func TestNoRegisterPlainUAS(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			u := newUAS(t, true)
			d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: u.addr[tr], Transport: tr, Timeout: opTimeout}, NoRegister: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			s := connect(t, d, engine.User{URI: "sip:alice@example.test", Password: "unused"}, nil)
			ms := []engine.Message{{ID: newID("uas"), Body: "one"}, {ID: newID("uas") + "@chatload", Body: "two"}}
			for _, m := range ms {
				if err := asPager(t, s).SendTo(ctx(t), "service@"+u.addr[tr], m); err != nil {
					t.Fatalf("SendTo: %v", err)
				}
			}
			if err := asPager(t, s).SendTo(ctx(t), "sip:service@"+u.addr[tr], engine.Message{Body: "no id"}); err != nil {
				t.Fatalf("SendTo without an ID: %v", err)
			}
			if err := s.Close(ctx(t)); err != nil {
				t.Fatalf("Close: %v", err)
			}

			u.mu.Lock()
			defer u.mu.Unlock()
			if u.methods[sip.REGISTER] != 0 || u.methods[sip.MESSAGE] != 3 || len(u.methods) != 1 {
				t.Errorf("requests by method %v; want 3 MESSAGEs and nothing else", u.methods)
			}
			want := "sip:service@" + u.addr[tr]
			for i, req := range u.messages {
				if got := req.Recipient.String(); got != want {
					t.Errorf("MESSAGE %d: Request-URI %s; want %s", i, got, want)
				}
				if got := req.To().Address.String(); got != want {
					t.Errorf("MESSAGE %d: To %s; want %s", i, got, want)
				}
				if got := req.From().Address.String(); got != "sip:alice@example.test" {
					t.Errorf("MESSAGE %d: From %s; want sip:alice@example.test", i, got)
				}
				if i < len(ms) {
					if got := req.CallID().Value(); got != ms[i].ID {
						t.Errorf("MESSAGE %d: Call-ID %s; want the message ID %s", i, got, ms[i].ID)
					}
					if got := string(req.Body()); got != ms[i].Body {
						t.Errorf("MESSAGE %d: body %q; want %q", i, got, ms[i].Body)
					}
				} else if req.CallID().Value() == "" {
					t.Errorf("MESSAGE %d without an ID has no Call-ID", i)
				}
				for _, h := range []string{"Authorization", "Proxy-Authorization", "Contact"} {
					if req.GetHeader(h) != nil {
						t.Errorf("MESSAGE %d carries %s", i, h)
					}
				}
			}
		})
	}
}

// TestSendToBadInput: what cannot be sent is refused before anything is sent.
func TestSendToBadInput(t *testing.T) {
	u := newUAS(t, true)
	d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: u.addr["udp"], Transport: "udp", Timeout: opTimeout}, NoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := asPager(t, connect(t, d, engine.User{URI: "sip:alice@example.test", Password: "x"}, nil))
	wantClass(t, "SendTo a non-URI", s.SendTo(ctx(t), "sip:", engine.Message{Body: "x"}), report.Protocol, 0)
	wantClass(t, "SendTo with a bad ID", s.SendTo(ctx(t), "sip:bob@example.test", engine.Message{ID: "a b", Body: "x"}), report.Protocol, 0)
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.messages) != 0 {
		t.Errorf("%d MESSAGEs sent for bad input; want 0", len(u.messages))
	}
}

// TestConfigNoRegisterString: the configuration echoed into reports says so.
func TestConfigNoRegisterString(t *testing.T) {
	got := imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5090", Transport: "udp"}, NoRegister: true}.String()
	if want := "target=127.0.0.1:5090 transport=udp timeout=5s no-register"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}
