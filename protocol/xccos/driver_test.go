package xccos_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos"
	"github.com/chatload/chatload/protocol/xccos/codec"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

const domain = "example.test"

var denied = scenarios.User{URI: "sip:user0099" + server.DeniedSuffix + "@" + domain, Password: "secret99"}

func startServer(t *testing.T, mod func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.Config{
		Domain:    domain,
		Listen:    []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"},
		Users:     append(server.GeneratedUsers(4, domain), denied),
		Generated: true,
		Rooms:     3,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newDriver(t *testing.T, srv *server.Server, tr string) *xccos.Driver {
	t.Helper()
	d, err := xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: srv.Addr(tr), Transport: tr, Timeout: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// inbox collects deliveries; wait returns once one has body.
type inbox struct {
	mu  sync.Mutex
	got []engine.Delivery
	ch  chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 100)} }

func (b *inbox) deliver(d engine.Delivery) {
	b.mu.Lock()
	b.got = append(b.got, d)
	b.mu.Unlock()
	select {
	case b.ch <- struct{}{}:
	default:
	}
}

func (b *inbox) wait(t *testing.T, body string) engine.Delivery {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		for _, d := range b.got {
			if d.Body == body {
				b.mu.Unlock()
				return d
			}
		}
		b.mu.Unlock()
		select {
		case <-b.ch:
		case <-deadline.C:
			t.Fatalf("no delivery of %q", body)
		}
	}
}

func user(i int) scenarios.User {
	return scenarios.User{URI: fmt.Sprintf("sip:user%04d@%s", i, domain), Password: fmt.Sprintf("pass%04d", i)}
}

// TestSuccess is the synthetic transaction: two users join by name, each posts
// once, each receives the other's message and its own echo, history shows both,
// and they leave and log off.
func TestSuccess(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			srv := startServer(t, nil)
			d := newDriver(t, srv, tr)
			ia, ib := newInbox(), newInbox()
			a, err := d.Connect(ctx(t), user(1), ia.deliver)
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.Connect(ctx(t), user(2), ib.deliver)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Join(ctx(t), "room001"); err != nil {
				t.Fatal(err)
			}
			uri := srv.PChatRoomURIs()[0]
			if err := b.Join(ctx(t), uri); err != nil { // by URI this time
				t.Fatal(err)
			}
			if err := a.Send(ctx(t), "room001", engine.Message{ID: "m1", Body: "token-1"}); err != nil {
				t.Fatal(err)
			}
			got := ib.wait(t, "token-1")
			if got.Room != uri || got.From != "sip:user0001@"+domain {
				t.Errorf("b got %+v; want room %s from user0001", got, uri)
			}
			if got := ia.wait(t, "token-1"); got.Room != "room001" { // the echo, named as a joined it
				t.Errorf("echo room %q; want room001", got.Room)
			}
			if err := b.Send(ctx(t), uri, engine.Message{ID: "m2", Body: "token-2 <&>"}); err != nil {
				t.Fatal(err)
			}
			ia.wait(t, "token-2 <&>")
			h, err := a.(engine.HistoryFetcher).History(ctx(t), "room001", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != 2 || h[0].Body != "token-1" || h[1].Body != "token-2 <&>" {
				t.Errorf("history = %+v; want token-1, token-2", h)
			}
			rooms, err := a.(engine.RoomLister).Rooms(ctx(t))
			if err != nil || len(rooms) != 3 || rooms[0] != uri {
				t.Errorf("Rooms = %v, %v; want 3 starting with %s", rooms, err, uri)
			}
			if err := a.Leave(ctx(t), "room001"); err != nil {
				t.Fatal(err)
			}
			// a is no member any more: its grpchat is refused with 403.
			err = a.Send(ctx(t), "room001", engine.Message{Body: "late"})
			if c, code := report.ClassOf(err); c != report.Rejected || code != 403 {
				t.Errorf("send after leave: %v (%v %d); want Rejected 403", err, c, code)
			}
			for _, s := range []engine.Session{a, b} {
				if err := s.Close(ctx(t)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	srv := startServer(t, nil)
	d := newDriver(t, srv, "udp")
	u := user(1)
	u.Password = "wrong"
	_, err := d.Connect(ctx(t), u, nil)
	if c, _ := report.ClassOf(err); c != report.Auth {
		t.Fatalf("Connect with a wrong password: %v (class %v); want Auth", err, c)
	}
}

func TestNoSuchRoom(t *testing.T) {
	srv := startServer(t, nil)
	d := newDriver(t, srv, "tcp")
	s, err := d.Connect(ctx(t), user(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx(t))
	err = s.Join(ctx(t), "nosuchroom")
	if c, code := report.ClassOf(err); c != report.NotFound || code != codec.CodeNoSuchNode {
		t.Errorf("join by name: %v (%v %d); want NotFound 404", err, c, code)
	}
	err = s.Join(ctx(t), "ma-chan://"+domain+"/00000000-dead")
	var re *codec.ReplyError
	if c, _ := report.ClassOf(err); c != report.NotFound || !errors.As(err, &re) || re.Text != "ERR_NO_SUCH_NODE" {
		t.Errorf("join by URI: %v; want NotFound with rpl:join 404 ERR_NO_SUCH_NODE", err)
	}
}

func TestNoPermission(t *testing.T) {
	srv := startServer(t, nil)
	d := newDriver(t, srv, "udp")
	_, err := d.Connect(ctx(t), denied, nil)
	if c, _ := report.ClassOf(err); c != report.Rejected || !strings.Contains(fmt.Sprint(err), "NOT_AUTHORIZED_FOR_PCHAT") {
		t.Fatalf("Connect of a user without permission: %v; want Rejected NOT_AUTHORIZED_FOR_PCHAT", err)
	}
	if cause, _ := report.CauseOf(err); cause != report.CauseNotChatEnabled {
		t.Errorf("Connect of a user without permission: cause %q; want %q (diagnosis reads it)", cause, report.CauseNotChatEnabled)
	}
}

// TestSessionRefresh: with a short Session-Expires the driver refreshes with
// UPDATE and the dialog keeps working.
func TestSessionRefresh(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.PChat.SessionExpires = 2 * time.Second })
	d := newDriver(t, srv, "udp")
	s, err := d.Connect(ctx(t), user(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx(t))
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Requests["UPDATE"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no UPDATE within 5s of a 2s Session-Expires")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Join(ctx(t), "room002"); err != nil {
		t.Fatal(err)
	}
}

// TestDurableHistory: messages acknowledged with 200 are in the store; a new
// server on the same data directory returns every one of them.
func TestDurableHistory(t *testing.T) {
	dir := t.TempDir()
	mod := func(c *server.Config) { c.PChat.DataDir = dir }
	srv := startServer(t, mod)
	d := newDriver(t, srv, "tcp")
	s, err := d.Connect(ctx(t), user(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctx(t), "room002"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if err := s.Send(ctx(t), "room002", engine.Message{Body: fmt.Sprint("durable ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2 := startServer(t, mod)
	d2 := newDriver(t, srv2, "tcp")
	s2, err := d2.Connect(ctx(t), user(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(ctx(t))
	if err := s2.Join(ctx(t), "room002"); err != nil { // history is for members
		t.Fatal(err)
	}
	h, err := s2.(engine.HistoryFetcher).History(ctx(t), "room002", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != n {
		t.Fatalf("history after restart: %d messages; want %d", len(h), n)
	}
	for i, m := range h {
		if want := fmt.Sprint("durable ", i); m.Body != want || m.From != "sip:user0001@"+domain {
			t.Errorf("history[%d] = %q from %s; want %q from user0001", i, m.Body, m.From, want)
		}
	}
	if h, _ := s2.(engine.HistoryFetcher).History(ctx(t), "room002", 5); len(h) != 5 || h[4].Body != "durable 19" {
		t.Errorf("last 5 = %+v; want durable 15..19", h)
	}
}

func newDriverAt(addr string) (*xccos.Driver, error) {
	return xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: "tcp", Timeout: 3 * time.Second}})
}

// TestRegisterRefresh: the session re-registers at half the granted expiry.
func TestRegisterRefresh(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.MaxExpires = 2 * time.Second })
	d := newDriver(t, srv, "tcp")
	s, err := d.Connect(ctx(t), user(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx(t))
	before := srv.Stats().Requests["REGISTER"]
	deadline := time.Now().Add(4 * time.Second)
	for srv.Stats().Requests["REGISTER"] == before {
		if time.Now().After(deadline) {
			t.Fatal("no re-REGISTER within 4s of a 2s registration")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRecover481: a server restarted on the same address knows no dialog and
// answers 481; the session reconnects, joins its room again and the send
// goes through.
func TestRecover481(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.Listen = []string{"udp:127.0.0.1:0"} })
	addr := srv.Addr("udp")
	d := newDriver(t, srv, "udp")
	in := newInbox()
	s, err := d.Connect(ctx(t), user(1), in.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx(t))
	if err := s.Join(ctx(t), "room001"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	startServer(t, func(c *server.Config) { c.Listen = []string{"udp:" + addr} })
	if err := s.Send(ctx(t), "room001", engine.Message{Body: "after restart"}); err != nil {
		t.Fatalf("send after a server restart: %v", err)
	}
	in.wait(t, "after restart") // the echo: joined again
}
