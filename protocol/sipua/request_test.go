package sipua

import (
	"bytes"
	"net"
	"strconv"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestAppendRequestMatchesSipgo: the requests the UA writes itself are byte for
// byte what Account.build plus sipgo's writer give, with and without Contact,
// extra headers, a To, URIs sipgo has to write (parameters, IPv6), and digest
// credentials (pre-emptive for the cached challenge, and for a given one).
func TestAppendRequestMatchesSipgo(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testAppendRequest(t, false) })
	t.Run("endpoint", func(t *testing.T) { testAppendRequest(t, true) })
}

func testAppendRequest(t *testing.T, endpoint bool) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ua := newUA(t, Config{Target: pc.LocalAddr().String(), Transport: "udp", UserAgent: "chatload/test", Endpoint: endpoint})
	a, err := ua.NewAccount("sip:alice@example.test", "alice", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	uri := func(s string) sip.Uri {
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	room := uri("sip:room001@conf.example.test")
	to := uri("sip:bob@example.test;transport=udp")
	expires := sip.NewHeader("Expires", "600")
	cases := []struct {
		name string
		r    Request
		auth bool
	}{
		{"message", Request{Method: sip.MESSAGE, URI: room, ContentType: "text/plain", Body: []byte("hello")}, false},
		{"empty body", Request{Method: sip.MESSAGE, URI: room}, false},
		{"register", Request{Method: sip.REGISTER, URI: uri("sip:example.test"), Contact: true, Headers: []sip.Header{expires}}, false},
		{"to and params", Request{Method: sip.MESSAGE, URI: uri("sip:bob@example.test:5070;transport=udp"), To: &to, ContentType: "text/plain", Body: []byte("x")}, false},
		{"ipv6 host", Request{Method: sip.MESSAGE, URI: uri("sip:svc@[::1]:5060"), ContentType: "text/plain", Body: []byte("x")}, false},
		{"credentials", Request{Method: sip.MESSAGE, URI: room, ContentType: "text/plain", Body: []byte("hi")}, true},
		{"register credentials", Request{Method: sip.REGISTER, URI: uri("sip:example.test"), Contact: true}, true},
	}
	var id uint64
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.auth {
				a.auth.learn(sip.MESSAGE, Challenge{Realm: "example.test", Nonce: "n-1", QOP: []string{"auth"}, Proxy: true})
				a.auth.learn(sip.REGISTER, Challenge{Realm: "example.test", Nonce: "n-1", QOP: []string{"auth"}})
			}
			id++
			v := ua.txs.via(id, ua.contact.Host, ua.contact.Port)
			seq := a.cseq.Load()
			var nc uint32
			if st := a.auth.cached(); st != nil {
				nc = st.nc
			}
			req, err := a.build(c.r, "call-1", "tag-1", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.PrependHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: v.host, Port: v.port,
				Params: sip.HeaderParams{{K: "branch", V: v.branch + strconv.FormatUint(id, 16)}, {K: "rport"}}})
			want := []byte(req.String())

			a.cseq.Store(seq)
			if st := a.auth.cached(); st != nil {
				st.nc = nc
			}
			got, err := a.appendRequest(nil, c.r, "call-1", "tag-1", nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("appendRequest:\n%s\nsipgo:\n%s", got, want)
			}
			if c.auth && !bytes.Contains(got, []byte("uthorization: Digest ")) {
				t.Errorf("no credentials:\n%s", got)
			}
			if endpoint && !bytes.Contains(got, []byte(";epid="+a.EPID()+"\r\n")) {
				t.Errorf("no epid on From:\n%s", got)
			}
			if endpoint && c.r.Method == sip.REGISTER && !bytes.Contains(got, []byte(`;+sip.instance="`+InstanceURN(a.EPID())+`"`)) {
				t.Errorf("no +sip.instance on the REGISTER Contact:\n%s", got)
			}
		})
	}
}
