package sipua

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestPoolPerUserSendsAtOnce: a per-user UA holds nothing for Flush (a
// user's own socket has nothing to batch, and Pool.Flush visits no per-user
// UA), while a shared one holds until Flush.
func TestPoolPerUserSendsAtOnce(t *testing.T) {
	r := newRegistrar(t)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for _, c := range []struct {
		sharing Sharing
		held    int
	}{{Sharing{PerUser: true}, 0}, {Sharing{N: 1}, 1}} {
		p, err := NewPool(Config{Target: r.addr["udp"], Transport: "udp", Timeout: 2 * time.Second}, c.sharing, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.NewAccount("sip:alice@test.example", "alice", "secret-a", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := register(ctx, a); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		a.DoAsync(ctx, "send", Request{Method: sip.MESSAGE, URI: sip.Uri{Scheme: "sip", User: "room", Host: "test.example"},
			ContentType: "text/plain", Body: []byte("hi"), Hold: true}, func(_ *sip.Response, err error) { done <- err })
		if n := a.ua.txs.heldCount(); n != c.held {
			t.Errorf("%s: %d requests held after DoAsync; want %d", c.sharing, n, c.held)
		}
		p.Flush()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", c.sharing, err)
		}
		a.Close()
		p.Close()
	}
}
