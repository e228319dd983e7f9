package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos/codec"
)

// TestPChatLyncSIP: the SIP layer around XCCOS as a Lync pool does it, over
// udp and tcp. A REGISTER whose +sip.instance is not the one of its epid is
// refused; the right one gets a GRUU. The 200 to the INVITE Record-Routes;
// an in-dialog request without that Route is refused, with it accepted. The
// chat service's INFOs go to the GRUU over the flow the REGISTER came from
// (the registered Contact, 127.0.0.1:9, reaches nothing), their From is the
// URI the client INVITEd (the lookup's, for rpl:requri), and they carry one
// item each: no grpchat beside another, nothing beside a rpl, through a
// burst of 20 posts.
func TestPChatLyncSIP(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			s, _ := startServer(t, func(c *Config) { c.Listen = []string{tr + ":127.0.0.1:0"} })
			u := newTestUA(t, s, tr, s.Users()[0])
			const epid = "0123456789abcdef"
			register := func(instance string) *sip.Response {
				return u.send(func() *sip.Request {
					req := u.request(sip.REGISTER, "sip:example.test", u.user.URI, "")
					req.From().Params.Add("epid", epid)
					req.AppendHeader(&sip.ContactHeader{Address: mustURI(t, "sip:user0001@127.0.0.1:9;transport="+tr),
						Params: sip.HeaderParams{{K: "+sip.instance", V: `"` + instance + `"`}}})
					req.AppendHeader(sip.NewHeader("Supported", "gruu-10"))
					req.AppendHeader(sip.NewHeader("Expires", "300"))
					return req
				})
			}
			if res := register("<urn:uuid:00000000-0000-5000-8000-000000000000>"); res.StatusCode != 400 || res.Reason != ReasonInstanceMismatch {
				t.Fatalf("REGISTER with another epid's instance: %d %s; want 400 %s", res.StatusCode, res.Reason, ReasonInstanceMismatch)
			}
			res := register(sipua.InstanceURN(epid))
			if res.StatusCode != 200 {
				t.Fatalf("REGISTER: %d %s", res.StatusCode, res.Reason)
			}
			gv, ok := sipua.HeaderParam(header(res, "Contact"), "gruu")
			gruu := mustURI(t, gv)
			if op, _ := gruu.UriParams.Get("opaque"); !ok || !gruu.UriParams.Has("gruu") || !strings.HasPrefix(op, "user:epid:") || gruu.User != "user0001" {
				t.Fatalf("200 to REGISTER: Contact %q; want a gruu=\"sip:user0001@example.test;opaque=user:epid:...;gruu\"", header(res, "Contact"))
			}

			inv := u.send(func() *sip.Request {
				r := u.request(sip.INVITE, "sip:ocschat@example.test", "sip:ocschat@example.test", "")
				r.AppendHeader(&sip.ContactHeader{Address: gruu})
				return r
			})
			if inv.StatusCode != 200 {
				t.Fatalf("INVITE: %d %s", inv.StatusCode, inv.Reason)
			}
			_, port, _ := strings.Cut(s.Addr(tr), ":")
			if rr, want := header(inv, "Record-Route"), "<sip:127.0.0.1:"+port+";transport="+tr+";lr>"; rr != want {
				t.Fatalf("Record-Route %q; want %q", rr, want)
			}
			cseq := uint32(100)
			info := func(route bool, env codec.Envelope) *sip.Response {
				body, err := codec.Marshal(env)
				if err != nil {
					t.Fatal(err)
				}
				r := sip.NewRequest(sip.INFO, inv.Contact().Address)
				from, to := *inv.From(), *inv.To()
				from.Params, to.Params = from.Params.Clone(), to.Params.Clone()
				cid := *inv.CallID()
				r.AppendHeader(&from)
				r.AppendHeader(&to)
				r.AppendHeader(&cid)
				cseq++
				r.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.INFO})
				if route {
					r.AppendHeader(sip.NewHeader("Route", header(inv, "Record-Route")))
				}
				ct := sip.ContentTypeHeader(codec.ContentType)
				r.AppendHeader(&ct)
				r.SetBody(body)
				r.SetTransport(strings.ToUpper(tr))
				r.SetDestination(u.server)
				return u.do(r)
			}
			requri := codec.Envelope{EnvID: 77, Items: []codec.Item{codec.NewRequri()}}
			if res := info(false, requri); res.StatusCode != 403 || res.Reason != ReasonMissingRoute {
				t.Fatalf("INFO without the route set: %d %s; want 403 %s", res.StatusCode, res.Reason, ReasonMissingRoute)
			}
			if res := info(true, requri); res.StatusCode != 200 {
				t.Fatalf("INFO with the route set: %d %s", res.StatusCode, res.Reason)
			}
			next := func() (*sip.Request, codec.Envelope) {
				r := u.next()
				env, err := codec.Parse(r.Body())
				if err != nil {
					t.Fatalf("INFO from the chat service: %v\n%s", err, r.Body())
				}
				if r.Recipient.String() != gruu.String() {
					t.Errorf("the chat service's INFO went to %s; want the GRUU %s", r.Recipient.String(), gruu.String())
				}
				if len(env.Items) != 1 {
					t.Errorf("an envelope of %d items (want 1 each): %s", len(env.Items), r.Body())
				}
				return r, env
			}
			r, env := next()
			if from := r.From().Address; from.User != "ocschat" || from.Host != "example.test" {
				t.Errorf("rpl:requri From %s; want the URI INVITEd, sip:ocschat@example.test", from.String())
			}
			if rp, ok := env.Items[0].(codec.Reply); !ok || rp.Name != codec.NameRequri || rp.CommandEnvID != 77 {
				t.Fatalf("want rpl:requri for envid 77, got %+v", env.Items)
			}

			room, err := codec.ParseRoom(s.PChatRoomURIs()[0])
			if err != nil {
				t.Fatal(err)
			}
			if res := info(true, codec.Envelope{EnvID: 78, Items: []codec.Item{codec.NewJoin(room)}}); res.StatusCode != 200 {
				t.Fatalf("join: %d", res.StatusCode)
			}
			if _, env := next(); len(env.Items) == 0 {
				t.Fatal("no rpl:join")
			}
			const n = 20 // the burst the pidgin-sipe harness sends
			for i := range n {
				chat := codec.NewChat(room, u.user.URI, s.now(), "line "+strconv.Itoa(i))
				if res := info(true, codec.Envelope{EnvID: uint64(80 + i), Items: []codec.Item{chat}}); res.StatusCode != 200 {
					t.Fatalf("grpchat %d: %d %s", i, res.StatusCode, res.Reason)
				}
			}
			for i := range n { // the echoes, one per INFO
				if _, env := next(); len(env.Items) == 1 {
					if c, ok := env.Items[0].(codec.Chat); !ok || c.Text != "line "+strconv.Itoa(i) {
						t.Errorf("echo %d: %+v", i, env.Items[0])
					}
				}
			}
		})
	}
}

// TestPChatGroups: a real pool's envelopes (one item each, several rpl of
// one command together) unless MergeItems asks for merging.
func TestPChatGroups(t *testing.T) {
	cmd := codec.NewRequri()
	items := []codec.Item{
		codec.NewReply(1, cmd, 200, codec.Data{}), codec.NewReply(1, cmd, 200, codec.Data{}),
		codec.NewNotice("join", codec.Data{}),
		codec.Chat{Text: "a"}, codec.Chat{Text: "b"},
		codec.NewReply(2, cmd, 200, codec.Data{}), codec.NewReply(3, cmd, 200, codec.Data{}),
	}
	sizes := func(g [][]codec.Item) []int {
		var out []int
		for _, x := range g {
			out = append(out, len(x))
		}
		return out
	}
	p := &pchat{s: &Server{}}
	if got, want := sizes(p.groups(items)), []int{2, 1, 1, 1, 1, 1}; !equalInts(got, want) {
		t.Errorf("real-pool groups %v; want %v", got, want)
	}
	p.s.cfg.PChat.MergeItems = 4
	if got, want := sizes(p.groups(items)), []int{4, 3}; !equalInts(got, want) {
		t.Errorf("MergeItems 4: groups %v; want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
