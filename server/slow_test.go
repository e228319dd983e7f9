package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// stall makes u stop reading its socket (after at most one more message): the
// kernel buffers fill and the server's writes to it block.
func (u *rawUA) stall() { u.stalled.Store(true) }

// TestSlowReaderDroppedNotRoom: a room member that stops reading its TCP socket
// is dropped (its connection closed, counted in members_dropped); the room goes
// on: every line is answered 200 and every copy reaches the member that reads.
// Before, copies were written with a blocking write without deadline, and once
// the member's buffers filled the room's lane, its fan-out and then the
// sender's 200s stopped.
func TestSlowReaderDroppedNotRoom(t *testing.T) {
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"tcp:127.0.0.1:0"}
		c.SendQueue = 256 << 10
		c.CopyTimeout = time.Minute // a dead member's copies must not be what frees the room
	})
	room := s.RoomURIs()[0]
	us := s.Users()
	slow := dialRaw(t, s, "tcp", us[0], 2048)
	reader := dialRaw(t, s, "tcp", us[1], 0)
	sender := dialRaw(t, s, "tcp", us[2], 0)
	for _, u := range []*rawUA{slow, reader, sender} {
		u.register()
		if code := u.message(room, "#join"); code != 200 {
			t.Fatalf("join: %d", code)
		}
	}
	slow.stall()
	const lines = 1000 // 8 MB of copies: far more than the kernel buffers of a loopback connection
	body := strings.Repeat("x", 8000)
	// In lockstep with the reading member: each line's copy reaches it before the
	// next line is sent, so that it never falls behind (a member that reads, but
	// slower than the sender posts, may rightly be dropped as well; on a loaded
	// machine the test's own reader is such a member if the sender runs ahead).
	for i := range lines {
		if code := sender.message(room, fmt.Sprintf("line %04d %s", i, body)); code != 200 {
			t.Fatalf("line %d: %d", i, code)
		}
		for copied := false; !copied; {
			select { // a guard against a stall: each copy may take up to wait
			case r := <-reader.reqs:
				if !strings.Contains(string(r.Body()), "line ") {
					continue // a join notice
				}
				if want := fmt.Sprintf("line %04d ", i); !strings.Contains(string(r.Body()), want) {
					t.Fatalf("the reading member's copy %d: got %.20q", i, r.Body())
				}
				copied = true
			case <-time.After(wait):
				t.Fatalf("the reading member got %d of %d copies, then nothing for %v; stats %+v", i, lines, wait, s.Stats())
			}
		}
	}
	waitFor(t, s, func(st Stats) bool { return st.MembersDropped == 1 })
}

// invite opens an XCCOS dialog with credentials; it returns Call-ID, From tag, To tag.
func (u *rawUA) invite() (string, string, string) {
	u.t.Helper()
	cid, ft := "raw-"+sip.GenerateTagN(16), sip.GenerateTagN(10)
	svc := "sip:" + PChatLookupUser + "@example.test"
	res := u.authed(func() *sip.Request {
		return u.request(sip.INVITE, svc, svc, cid, ft, "", []byte("v=0\r\n"), "application/sdp")
	})
	if res.StatusCode != 200 {
		u.t.Fatalf("INVITE: %d %s", res.StatusCode, res.Reason)
	}
	tt, _ := res.To().Params.Get("tag")
	if rr := res.GetHeader("Record-Route"); rr != nil {
		u.route = rr.Value()
	}
	return cid, ft, tt
}

// info sends one XCCOS envelope in the dialog; signed adds credentials.
func (u *rawUA) info(cid, ft, tt string, signed bool, items ...codec.Item) *sip.Response {
	u.t.Helper()
	body, err := codec.Marshal(codec.Envelope{EnvID: 7, Items: items})
	if err != nil {
		u.t.Fatal(err)
	}
	pool := "sip:" + PChatPoolUser + "@example.test"
	mk := func() *sip.Request {
		return u.request(sip.INFO, pool, "sip:"+PChatLookupUser+"@example.test", cid, ft, tt, body, codec.ContentType)
	}
	if signed {
		return u.authed(mk)
	}
	return u.mustDo(mk())
}

func pchatRoom(t *testing.T, s *Server) codec.Room {
	r, err := codec.ParseRoom(s.PChatRoomURIs()[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPChatSlowMemberDropped: the same for XCCOS: a member whose dialog queue
// is full (it does not answer or read) is dropped, the room's posts go on.
// Before, the fan-out waited on the full queue until the member's INFO timed
// out, holding every post to the room.
func TestPChatSlowMemberDropped(t *testing.T) {
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"tcp:127.0.0.1:0"}
		c.CopyTimeout = time.Minute
	})
	room := pchatRoom(t, s)
	us := s.Users()
	slow := dialRaw(t, s, "tcp", us[0], 2048)
	poster := dialRaw(t, s, "tcp", us[1], 0)
	var dialogs [2][3]string
	for i, u := range []*rawUA{slow, poster} {
		cid, ft, tt := u.invite()
		dialogs[i] = [3]string{cid, ft, tt}
		u.join(cid, ft, tt, room)
	}
	slow.stall()
	slow.quiet.Store(true)
	d := dialogs[1]
	for i := range pchatQueue + 100 {
		res := poster.info(d[0], d[1], d[2], false, codec.NewChat(room, us[1].URI, time.Now(), fmt.Sprint("post ", i)))
		if res.StatusCode != 200 {
			t.Fatalf("post %d: %d %s", i, res.StatusCode, res.Reason)
		}
	}
	waitFor(t, s, func(st Stats) bool { return st.MembersDropped >= 1 && st.DialogsOpen == 1 })
}

// join joins room in the dialog and waits for the rpl (commands are answered
// 200 at once and run after).
func (u *rawUA) join(cid, ft, tt string, room codec.Room) {
	u.t.Helper()
	if res := u.info(cid, ft, tt, false, codec.NewJoin(room)); res.StatusCode != 200 {
		u.t.Fatalf("join: %d %s", res.StatusCode, res.Reason)
	}
	if rp := replyTo(u.t, u, codec.NameJoin); rp.Code != codec.CodeOK {
		u.t.Fatalf("rpl:join %d", rp.Code)
	}
}
