package imc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/server"
)

// TestEmbedded runs the suite against the embedded server on loopback, once per
// transport, each with a server of its own. Over tls the driver trusts exactly
// the certificate the server made for itself.
func TestEmbedded(t *testing.T) {
	for _, tr := range []string{"udp", "tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			srv, err := server.New(server.Config{
				Domain:    "example.test",
				Listen:    []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"},
				Users:     server.GeneratedUsers(20, "example.test"),
				Generated: true,
				Rooms:     3,
				// A copy or notice to a user whose UA already closed waits this long
				// for its answer, on a goroutine the suite's goroutine check (bounded
				// by guard) would count: well under guard.
				CopyTimeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			tg := target{addr: srv.Addr(tr), transport: tr, domain: "example.test", first: 0}
			if tr == "tls" {
				tg.tls = trusting(t, srv)
			}
			runSuite(t, tg)
		})
	}
}

func startEmbedded(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.New(server.Config{Users: server.GeneratedUsers(4, "example.test"), Generated: true, Rooms: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestOneRoundTrip: once registered, every request carries pre-emptive
// credentials and is never challenged.
func TestOneRoundTrip(t *testing.T) {
	srv := startEmbedded(t)
	tg := target{addr: srv.Addr("udp"), transport: "udp", domain: "example.test"}
	d := tg.driver(t)
	s := connect(t, d, tg.user(1), nil)
	after := srv.Stats()
	if after.AuthChallenges != 1 || after.Requests["REGISTER"] != 2 {
		t.Errorf("Connect: %d challenges, %d REGISTERs; want 1 and 2", after.AuthChallenges, after.Requests["REGISTER"])
	}
	if err := s.Join(ctx(t), "room001"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Send(ctx(t), "room001", engine.Message{ID: newID("rt"), Body: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Leave(ctx(t), "room001"); err != nil {
		t.Fatal(err)
	}
	got := srv.Stats()
	if got.AuthChallenges != after.AuthChallenges || got.Requests["MESSAGE"] != 5 {
		t.Errorf("join, 3 sends, leave: %d more challenges, %d MESSAGEs; want 0 and 5",
			got.AuthChallenges-after.AuthChallenges, got.Requests["MESSAGE"])
	}
}

// TestRefresh: a session re-registers before its registration expires.
func TestRefresh(t *testing.T) {
	srv := startEmbedded(t)
	d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: srv.Addr("udp"), Transport: "udp", Timeout: opTimeout, Expires: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tg := target{domain: "example.test"}
	connect(t, d, tg.user(1), nil)
	// Granted 1s, refreshed every second: two refreshes within the guard prove it
	// repeats. Polled, since there is nothing to wait on.
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for srv.Stats().RegistersOK < 3 {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%d registrations within %s; want 3 (Connect and two refreshes)", srv.Stats().RegistersOK, guard)
		}
	}
}

// TestDriverCloseLogsOff: sessions left open are logged off by Driver.Close.
func TestDriverCloseLogsOff(t *testing.T) {
	srv := startEmbedded(t)
	tg := target{addr: srv.Addr("tcp"), transport: "tcp", domain: "example.test"}
	d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: tg.addr, Transport: tg.transport, Timeout: opTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		s, err := d.Connect(ctx(t), tg.user(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Join(ctx(t), "room002"); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if st := srv.Stats(); st.Leaves != 2 || st.Unregisters != 2 {
		t.Errorf("after Driver.Close: %d leaves, %d unregisters; want 2 and 2", st.Leaves, st.Unregisters)
	}
	if _, err := d.Connect(ctx(t), tg.user(3), nil); err == nil {
		t.Error("Connect after Close: no error")
	}
}
