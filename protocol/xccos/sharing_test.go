package xccos_test

import (
	"crypto/tls"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos"
	"github.com/chatload/chatload/server"
)

// TestTransportSharing: Persistent Chat users each on a TLS connection of
// their own, as Lync clients are (distinct ports, one listener and connection
// each, released at log-off), or spread over shared sockets: each gets every
// post of the room (its own as the echo) exactly once, over its own dialog.
func TestTransportSharing(t *testing.T) {
	cases := []struct {
		transport string
		sharing   sipua.Sharing
		sockets   int
	}{
		{"tls", sipua.Sharing{PerUser: true}, 4},
		{"tcp", sipua.Sharing{PerUser: true}, 4},
		{"udp", sipua.Sharing{N: 2}, 2},
	}
	const users = 4
	for _, c := range cases {
		t.Run(c.transport+"/"+c.sharing.String(), func(t *testing.T) {
			srv := startServer(t, func(cfg *server.Config) { cfg.Listen = []string{c.transport + ":127.0.0.1:0"} })
			cfg := xccos.Config{DriverConfig: sipua.DriverConfig{Target: srv.Addr(c.transport), Transport: c.transport,
				Timeout: 3 * time.Second, Sharing: c.sharing}}
			if c.transport == "tls" {
				roots, err := sipua.CertPool(srv.CertificatePEM())
				if err != nil {
					t.Fatal(err)
				}
				cfg.TLS = &tls.Config{RootCAs: roots}
			}
			d, err := xccos.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			ss := make([]engine.Session, users)
			boxes := make([]*inbox, users)
			for i := range users {
				boxes[i] = newInbox()
				if ss[i], err = d.Connect(ctx(t), user(i+1), boxes[i].deliver); err != nil {
					t.Fatal(err)
				}
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
				if err := s.Send(ctx(t), "room001", engine.Message{Body: fmt.Sprint("post ", i)}); err != nil {
					t.Fatal(err)
				}
			}
			for j, b := range boxes {
				for i := range users {
					b.wait(t, fmt.Sprint("post ", i))
				}
				b.mu.Lock()
				n := len(b.got)
				b.mu.Unlock()
				if n != users {
					t.Errorf("user %d got %d deliveries; want the %d posts once each", j+1, n, users)
				}
			}
			for i, s := range ss {
				if err := s.Close(ctx(t)); err != nil {
					t.Fatal(err)
				}
				want := c.sockets
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
