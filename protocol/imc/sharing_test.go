package imc_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/server"
)

// TestTransportSharing: users of one driver share N sockets (counted) or each
// hold their own (distinct ports, released as each logs off), and either way
// every post in a room reaches every other member, exactly once.
func TestTransportSharing(t *testing.T) {
	cases := []struct {
		transport string
		sharing   sipua.Sharing
		sockets   int // UAs open with the users logged on
	}{
		{"udp", sipua.Sharing{N: 3}, 3},
		{"tcp", sipua.Sharing{N: 2}, 2},
		{"udp", sipua.Sharing{PerUser: true}, 6},
		{"tls", sipua.Sharing{PerUser: true}, 6},
	}
	const users = 6
	for _, c := range cases {
		t.Run(c.transport+"/"+c.sharing.String(), func(t *testing.T) {
			srv, err := server.New(server.Config{Domain: "example.test", Listen: []string{c.transport + ":127.0.0.1:0"},
				Users: server.GeneratedUsers(users, "example.test"), Generated: true, Rooms: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			tg := target{addr: srv.Addr(c.transport), transport: c.transport, domain: "example.test", first: 1}
			if c.transport == "tls" {
				tg.tls = trusting(t, srv)
			}
			cfg := tg.config()
			cfg.Sharing = c.sharing
			d, err := imc.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })

			ss := make([]engine.Session, users)
			boxes := make([]inbox, users)
			for i := range users {
				boxes[i] = newInbox()
				ss[i] = connect(t, d, tg.user(i), boxes[i].deliver)
				if err := ss[i].Join(ctx(t), "room001"); err != nil {
					t.Fatal(err)
				}
			}
			addrs := d.Pool().LocalAddrs()
			slices.Sort(addrs)
			if n := len(slices.Compact(addrs)); n != c.sockets || d.Pool().UAs() != c.sockets {
				t.Fatalf("%d users on %d distinct sockets (UAs() %d); want %d", users, n, d.Pool().UAs(), c.sockets)
			}
			for i, s := range ss {
				id := newID(fmt.Sprint("s", i))
				if err := s.Send(ctx(t), "room001", engine.Message{ID: id, Body: "line " + id}); err != nil {
					t.Fatal(err)
				}
				for j := range users {
					if j != i {
						if d := boxes[j].next(t); d.ID != id {
							t.Fatalf("user %d got %q (%s); want %s: the post of user %d", j, d.Body, d.ID, id, i)
						}
					}
				}
			}
			// No copy went to a wrong user or twice: each got the others' posts only.
			for j := range users {
				if n := len(boxes[j]); n != 0 {
					t.Errorf("user %d has %d deliveries more than the other users' %d posts", j, n, users-1)
				}
			}
			for i, s := range ss {
				if err := s.Close(ctx(t)); err != nil {
					t.Fatal(err)
				}
				want := c.sockets // shared: open until the driver closes
				if c.sharing.PerUser {
					want = users - 1 - i
				}
				if got := d.Pool().UAs(); got != want {
					t.Errorf("after %d log-offs UAs() = %d; want %d", i+1, got, want)
				}
			}
		})
	}
}

// next returns the next delivery, within guard.
func (in inbox) next(t *testing.T) engine.Delivery {
	t.Helper()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case d := <-in:
		return d
	case <-timer.C:
		t.Fatalf("nothing delivered within %s", guard)
		return engine.Delivery{}
	}
}
