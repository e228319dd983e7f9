package xccos_test

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos"
	"github.com/chatload/chatload/protocol/xccos/codec"
)

// silentProvisioner is a registrar that offers in-band provisioning but never
// answers the SUBSCRIBE, and has no chat service (404 to INVITE).
func silentProvisioner(t *testing.T) (addr string, subscribes *atomic.Int32) {
	log := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	subscribes = new(atomic.Int32)
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Allow-Events", codec.ProvisioningEvent))
		tx.Respond(res)
	})
	srv.OnSubscribe(func(*sip.Request, sip.ServerTransaction) { subscribes.Add(1) })
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 404, "Not Found", nil))
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeUDP(pc) }()
	t.Cleanup(func() { pc.Close(); ua.Close(); <-done })
	return pc.LocalAddr().String(), subscribes
}

// TestProvisioningCache: a registrar that does not answer the provisioning
// SUBSCRIBE costs it once per domain (the timeout is its answer), but a
// SUBSCRIBE cut short by the caller's own context teaches nothing and is
// asked again by the next session.
func TestProvisioningCache(t *testing.T) {
	t.Run("timeout is kept", func(t *testing.T) {
		addr, subs := silentProvisioner(t)
		d, err := xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: "udp", Timeout: 200 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for range 2 {
			if _, err := d.Connect(ctx(t), user(1), nil); err == nil {
				t.Fatal("connected to a registrar without a chat service")
			}
		}
		if n := subs.Load(); n != 1 {
			t.Errorf("%d SUBSCRIBEs; want 1 (the unanswered one kept for the domain)", n)
		}
	})
	t.Run("cancelled is not kept", func(t *testing.T) {
		addr, subs := silentProvisioner(t)
		d, err := xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: "udp", Timeout: 3 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for range 2 {
			c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err := d.Connect(c, user(1), nil)
			cancel()
			if err == nil {
				t.Fatal("connected to a registrar without a chat service")
			}
		}
		if n := subs.Load(); n != 2 {
			t.Errorf("%d SUBSCRIBEs; want 2 (a cancelled one is asked again)", n)
		}
	})
}
