package server

import (
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/imc/wire"
)

// TestAnnounceMax: in a room larger than AnnounceMax a join or leave is told to
// the member who joined or left only; lines still reach every member, and the
// member list stays newest first.
func TestAnnounceMax(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.AnnounceMax = 1 })
	a := newTestUA(t, s, "udp", s.Users()[0])
	b := newTestUA(t, s, "udp", s.Users()[1])
	c := newTestUA(t, s, "udp", s.Users()[2])
	for _, u := range []*testUA{a, b, c} {
		u.register()
	}
	a.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0001")) // one member: told as imc tells
	b.must(room1, "#join", 200)
	b.expect(wire.NoticeJoined("user0002"))
	b.must(room1, "#list", 200)
	b.expect("Members:\n[user0002]\n[user0001]")
	b.must(room1, "hi", 200)
	a.expect(wire.FormatLine("user0002", "hi")) // not b's join notice
	b.must(room1, "#exit", 200)
	b.expect(wire.NoticeLeft("user0002"))
	c.must(room1, "#join", 200)
	c.expect(wire.NoticeJoined("user0003"))
	c.must(room1, "x", 200)
	a.expect(wire.FormatLine("user0003", "x")) // neither b's leave nor c's join
	if st := s.Stats(); st.Joins != 3 || st.Leaves != 1 {
		t.Errorf("stats: joins %d leaves %d; want 3 and 1", st.Joins, st.Leaves)
	}
}

func TestAnnounceMaxNegative(t *testing.T) {
	cfg := Config{Users: GeneratedUsers(1, ""), AnnounceMax: -1}
	if err := cfg.Validate(); err == nil {
		t.Error("AnnounceMax -1 validated")
	}
}

// TestRegisterAnsweredStatelessly: a REGISTER's 200 ends its transaction (none is
// kept for Timer J in a refresh wave); its retransmission, the same bytes again, is
// a new request whose nonce count was used: 401 stale=true, and the binding stays.
func TestRegisterAnsweredStatelessly(t *testing.T) {
	s, _ := startServer(t, nil)
	u := dialRaw(t, s, "udp", s.Users()[0], 0)
	u.register() // learns the challenge
	req := u.request(sip.REGISTER, "sip:example.test", u.user.URI, "", "", "", nil, "")
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	u.mu.Lock()
	chal := u.chal
	u.mu.Unlock()
	u.sign(req, chal, req.Recipient.String())
	if res := u.mustDo(req); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d %s", res.StatusCode, res.Reason)
	}
	// Retransmissions: same branch, Call-ID, CSeq, credentials. The server ends the
	// transaction right after sending the 200, so a retransmission sent as soon as the
	// 200 arrives may still find it and get the 200 again; a later one must not. A
	// transaction kept for Timer J would answer all 100 with 200.
	var res *sip.Response
	for range 100 {
		if res = u.mustDo(req); res.StatusCode != 200 {
			break
		}
	}
	if res.StatusCode != 401 {
		t.Fatalf("retransmitted REGISTER: %d %s; want 401 (no transaction kept to repeat the 200)", res.StatusCode, res.Reason)
	}
	c, err := digestChallenge(res)
	if err != nil || !c.Stale {
		t.Errorf("retransmitted REGISTER: challenge %v (err %v); want stale=true", c, err)
	}
	if _, ok := s.lookup("user0001"); !ok {
		t.Error("the binding is gone after the retransmission")
	}
}
