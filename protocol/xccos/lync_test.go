package xccos_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos"
	"github.com/chatload/chatload/report"
)

// unreachable returns a loopback address nothing listens on.
func unreachable(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// TestLyncPath: against the embedded server as a Lync pool runs it (it
// Record-Routes and refuses in-dialog requests without the route set, issues
// GRUUs, provisions the pool in-band), with Contacts naming an address that
// reaches nothing: the driver is provisioned once per domain, INVITEs the
// provisioned pool directly, its in-dialog requests carry the route set (else
// the server answers 403), and the chat service's INFOs reach it through its
// GRUU and its kept flow. Two users exchange a message both ways.
func TestLyncPath(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			srv := startServer(t, nil)
			d, err := xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: srv.Addr(tr), Transport: tr, Timeout: 3 * time.Second}, Advertise: unreachable(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			ia, ib := newInbox(), newInbox()
			a, err := d.Connect(ctx(t), user(1), ia.deliver)
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.Connect(ctx(t), user(2), ib.deliver)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []engine.Session{a, b} {
				if err := s.Join(ctx(t), "room001"); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.Send(ctx(t), "room001", engine.Message{Body: "via the route set"}); err != nil {
				t.Fatal(err)
			}
			ib.wait(t, "via the route set")
			if err := b.Send(ctx(t), "room001", engine.Message{Body: "back through the GRUU"}); err != nil {
				t.Fatal(err)
			}
			ia.wait(t, "back through the GRUU")
			st := srv.Stats()
			if st.Requests["SUBSCRIBE"] != 1 {
				t.Errorf("%d provisioning SUBSCRIBEs for two users of one domain; want 1", st.Requests["SUBSCRIBE"])
			}
			if st.Requests["INVITE"] != 2 || st.Requests["BYE"] != 0 {
				t.Errorf("%d INVITEs and %d BYEs; want 2 and 0 (the provisioned pool is INVITEd directly)", st.Requests["INVITE"], st.Requests["BYE"])
			}
			for _, s := range []engine.Session{a, b} {
				if err := s.Close(ctx(t)); err != nil {
					t.Errorf("close: %v", err)
				}
			}
		})
	}
}

// TestProvisioningFallback: without provisioning, or for a user it does not
// enable, the driver INVITEs sip:ocschat@<domain> and follows rpl:requri
// (BYE, then INVITE the channel server); a chat service that does not exist
// is a 404 whose diagnosis names --chat-service.
func TestProvisioningFallback(t *testing.T) {
	srv := startServer(t, nil)
	d, err := xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: srv.Addr("tcp"), Transport: "tcp", Timeout: 3 * time.Second}, NoProvisioning: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := d.Connect(ctx(t), user(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx(t))
	if st := srv.Stats(); st.Requests["SUBSCRIBE"] != 0 || st.Requests["INVITE"] != 2 || st.Requests["BYE"] != 1 {
		t.Errorf("requests %v; want no SUBSCRIBE, INVITE lookup, BYE, INVITE pool", st.Requests)
	}

	// A user provisioning does not enable falls back to the lookup, which
	// lets it in and ends the session at its first command, as Lync does.
	d2 := newDriver(t, srv, "tcp")
	if _, err := d2.Connect(ctx(t), denied, nil); err == nil || !strings.Contains(err.Error(), "NOT_AUTHORIZED_FOR_PCHAT") {
		t.Errorf("denied user: %v; want NOT_AUTHORIZED_FOR_PCHAT", err)
	}

	d3, err := xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: srv.Addr("tcp"), Transport: "tcp", Timeout: 3 * time.Second}, ChatURI: "sip:nosuchpool@" + domain})
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	_, err = d3.Connect(ctx(t), user(2), nil)
	if c, code := report.ClassOf(err); c != report.NotFound || code != 404 || !strings.Contains(err.Error(), "--chat-service") {
		t.Errorf("a chat service that does not exist: %v (%s %d); want not found 404 naming --chat-service", err, c, code)
	}
}
