package xccos

import (
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
)

// TestStatusStaleDialog: requests on a Call-ID that is not the session's live
// dialog get 487 (INFO: the server then drops that dialog) or 481.
func TestStatusStaleDialog(t *testing.T) {
	d, err := New(Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:9", Transport: "udp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	acct, err := d.ua.NewAccount("sip:alice@example.test", "alice", "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	d.byAcct.Store(acct, &session{d: d, acct: acct})
	for _, c := range []struct {
		method sip.RequestMethod
		want   int
	}{{sip.INFO, 487}, {sip.BYE, 481}, {sip.UPDATE, 481}} {
		req := sip.NewRequest(c.method, sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1"})
		cid := sip.CallIDHeader("stale")
		req.AppendHeader(&cid)
		if got, _ := d.status(acct, req); got != c.want {
			t.Errorf("%s on a stale dialog: %d; want %d", c.method, got, c.want)
		}
	}
}
