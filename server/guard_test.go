package server

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/imc/wire"
	"github.com/chatload/chatload/protocol/xccos/codec"
)

// TestPChatDialogHijack: knowing a dialog's Call-ID and tags is not enough. A
// request on another connection without credentials is challenged (it used to
// get 200: post as the user, or BYE the dialog); with another user's
// credentials it is refused 403; the owner's dialog is untouched. The owner's
// credentials from elsewhere are accepted.
func TestPChatDialogHijack(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.Listen = []string{"tcp:127.0.0.1:0", "udp:127.0.0.1:0"} })
	room := pchatRoom(t, s)
	us := s.Users()
	owner := dialRaw(t, s, "tcp", us[0], 0)
	cid, ft, tt := owner.invite()
	owner.join(cid, ft, tt, room)
	chat := codec.NewChat(room, us[0].URI, time.Now(), "hijacked")
	for _, tr := range []string{"tcp", "udp"} {
		thief := dialRaw(t, s, tr, us[0], 0) // the owner's From URI, tag, Call-ID and route; no credentials
		thief.route = owner.route
		if res := thief.info(cid, ft, tt, false, chat); res.StatusCode != sip.StatusProxyAuthRequired {
			t.Errorf("%s INFO from another connection without credentials: %d %s, want 407", tr, res.StatusCode, res.Reason)
		}
		bye := thief.request(sip.BYE, "sip:"+PChatPoolUser+"@example.test", "sip:"+PChatLookupUser+"@example.test", cid, ft, tt, nil, "")
		if res := thief.mustDo(bye); res.StatusCode != sip.StatusProxyAuthRequired {
			t.Errorf("%s BYE from another connection without credentials: %d %s, want 407", tr, res.StatusCode, res.Reason)
		}
	}
	other := dialRaw(t, s, "tcp", us[1], 0) // valid credentials, but not the owner's
	other.route = owner.route
	if res := other.info(cid, ft, tt, true, chat); res.StatusCode != sip.StatusForbidden {
		t.Errorf("INFO with another user's credentials: %d %s, want 403", res.StatusCode, res.Reason)
	}
	if st := s.Stats(); st.DialogsOpen != 1 || st.InDialogRefused < 5 {
		t.Errorf("dialogs_open %d in_dialog_refused %d, want 1 and >= 5", st.DialogsOpen, st.InDialogRefused)
	}
	if res := owner.info(cid, ft, tt, false, codec.NewChat(room, us[0].URI, time.Now(), "mine")); res.StatusCode != 200 {
		t.Errorf("the owner's INFO after the attempts: %d", res.StatusCode)
	}
	elsewhere := dialRaw(t, s, "tcp", us[0], 0)
	elsewhere.route = owner.route
	if res := elsewhere.info(cid, ft, tt, true, codec.NewChat(room, us[0].URI, time.Now(), "mine too")); res.StatusCode != 200 {
		t.Errorf("the owner's INFO with its credentials from another connection: %d %s", res.StatusCode, res.Reason)
	}
}

// replyTo waits for the server's rpl to the named command in u's inbox.
func replyTo(t *testing.T, u *rawUA, name string) codec.Reply {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case r := <-u.reqs:
			env, err := codec.Parse(r.Body())
			if err != nil {
				continue
			}
			for _, it := range env.Items {
				if rp, ok := it.(codec.Reply); ok && rp.Name == name {
					return rp
				}
			}
		case <-deadline:
			t.Fatalf("no rpl:%s within %v", name, wait)
		}
	}
}

// TestPChatHistoryNeedsMembership: bccontext is answered ERR_PERMISSION to a
// user who has not joined the room (it used to return the history).
func TestPChatHistoryNeedsMembership(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.Listen = []string{"tcp:127.0.0.1:0"} })
	room := pchatRoom(t, s)
	us := s.Users()
	member := dialRaw(t, s, "tcp", us[0], 0)
	mcid, mft, mtt := member.invite()
	member.join(mcid, mft, mtt, room)
	if res := member.info(mcid, mft, mtt, false, codec.NewChat(room, us[0].URI, time.Now(), "secret")); res.StatusCode != 200 {
		t.Fatalf("post: %d", res.StatusCode)
	}
	outsider := dialRaw(t, s, "tcp", us[1], 0)
	cid, ft, tt := outsider.invite()
	outsider.info(cid, ft, tt, false, codec.NewBCContext(room, 10))
	if rp := replyTo(t, outsider, codec.NameBCContext); rp.Code != codec.CodePermission || len(rp.Data.Channels) > 0 {
		t.Errorf("bccontext by a non-member: code %d, %d channels; want %d and none", rp.Code, len(rp.Data.Channels), codec.CodePermission)
	}
	member.info(mcid, mft, mtt, false, codec.NewBCContext(room, 10))
	if rp := replyTo(t, member, codec.NameBCContext); rp.Code != codec.CodeOK || len(rp.Data.Channels) != 1 || len(rp.Data.Channels[0].Messages) != 1 {
		t.Errorf("bccontext by a member: %+v", rp)
	}
}

// TestPChatDialogBounds: a user's dialogs are capped, and the dialogs of a
// connection end when it closes (they used to outlive it for Session-Expires).
func TestPChatDialogBounds(t *testing.T) {
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"tcp:127.0.0.1:0"}
		c.PChat.MaxDialogsPerUser = 2
	})
	us := s.Users()
	u := dialRaw(t, s, "tcp", us[0], 0)
	u.invite()
	u.invite()
	svc := "sip:" + PChatLookupUser + "@example.test"
	res := u.authed(func() *sip.Request {
		return u.request(sip.INVITE, svc, svc, "", "", "", []byte("v=0\r\n"), "application/sdp")
	})
	if res.StatusCode != sip.StatusBusyHere {
		t.Errorf("third dialog of a user capped at 2: %d %s, want 486", res.StatusCode, res.Reason)
	}
	if st := s.Stats(); st.DialogsOpen != 2 || st.DialogsRefused != 1 {
		t.Errorf("dialogs_open %d refused %d, want 2 and 1", st.DialogsOpen, st.DialogsRefused)
	}
	u.c.Close()
	waitFor(t, s, func(st Stats) bool { return st.DialogsOpen == 0 && st.DialogsClosed == 2 })
	v := dialRaw(t, s, "tcp", us[0], 0)
	v.invite() // the cap counts open dialogs only
}

// TestUnauthenticatedRateLimit: out-of-dialog requests without credentials
// from one source are limited to the configured rate (burst twice that); the
// rest are dropped (UDP) or answered 503 (TCP) and counted; requests with
// credentials are not limited.
func TestUnauthenticatedRateLimit(t *testing.T) {
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}
		c.UnauthRate = 10 // burst 20; the test's clock stands still, so nothing refills
	})
	tcp := dialRaw(t, s, "tcp", s.Users()[0], 0)
	res := tcp.mustDo(tcp.request(sip.REGISTER, "sip:example.test", tcp.user.URI, "", "", "", nil, ""))
	chal, err := digestChallenge(res)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", s.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// In bursts of 30, each counted before the next: 300 datagrams at once
	// could overflow the server socket's receive buffer on a loaded machine,
	// and a datagram the kernel dropped is never counted.
	const sent, burst = 300, 30
	for i := 0; i < sent; i += burst {
		for range burst {
			if _, err := c.Write([]byte(rawRequest("OPTIONS", "sip:example.test", "SIP/2.0", "OPTIONS", c.LocalAddr().String()))); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, s, func(st Stats) bool { return st.Requests["OPTIONS"] == uint64(i+burst) })
	}
	if st := s.Stats(); st.RateLimited < sent-21 || st.RateLimited > sent-19 { // about 20 admitted, the REGISTER included
		t.Errorf("rate_limited %d of %d with a burst of 20: want about %d", st.RateLimited, sent, sent-19)
	}
	res = tcp.mustDo(tcp.request(sip.OPTIONS, "sip:example.test", "sip:example.test", "", "", "", nil, ""))
	if res.StatusCode != sip.StatusServiceUnavailable {
		t.Errorf("TCP OPTIONS over the rate: %d, want 503", res.StatusCode)
	}
	reg := tcp.request(sip.REGISTER, "sip:example.test", tcp.user.URI, "", "", "", nil, "")
	reg.AppendHeader(sip.NewHeader("Expires", "300"))
	tcp.sign(reg, chal, reg.Recipient.String())
	if res := tcp.mustDo(reg); res.StatusCode != 200 {
		t.Errorf("REGISTER with credentials from a rate-limited source: %d %s", res.StatusCode, res.Reason)
	}
}

// TestUDPSourceStateBounded: sipgo keeps state per UDP source address (a
// pool entry, a map entry) for as long as its reader runs. The guard expires
// pool entries udpSourceTTL after a source's last datagram and restarts the
// reader every udpEpochSources new sources; registered members keep receiving
// through both.
func TestUDPSourceStateBounded(t *testing.T) {
	n := udpEpochSources
	t.Cleanup(func() { udpEpochSources = n }) // after the server's Close: cleanups run last-in first-out
	udpEpochSources = 256                     // restarts every 256 sources: 36 during the flood
	s, clk := startServer(t, func(c *Config) {
		c.Listen = []string{"udp:127.0.0.1:0"}
		c.UnauthRate = -1 // every source is 127.0.0.1 here
	})
	room := s.RoomURIs()[0]
	us := s.Users()
	a, b := newTestUA(t, s, "udp", us[0]), newTestUA(t, s, "udp", us[1])
	a.register()
	b.register()
	a.must(room, "#join", 200)
	a.next()
	b.must(room, "#join", 200)
	a.next()
	b.next()
	pool := s.ua.TransportLayer().Pool("udp")
	dst, _ := net.ResolveUDPAddr("udp", s.Addr("udp"))
	// Two sources that keep sending between the new ones: sipgo re-pools them
	// on every change of source, so a reader restart must not leave their
	// requests without a pool entry (sipgo would then answer from a new socket).
	var steady []net.PacketConn
	for range 2 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		steady = append(steady, c)
	}
	wildcard := wildcardUDPSockets(t)
	flood := func(n int) {
		base := s.Stats().Requests["OPTIONS"]
		var socks []net.PacketConn
		defer func() {
			for _, c := range socks {
				c.Close()
			}
		}()
		for i := range n {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.WriteTo([]byte(rawRequest("OPTIONS", "sip:example.test", "SIP/2.0", "OPTIONS", c.LocalAddr().String())), dst); err != nil {
				t.Fatal(err)
			}
			sc := steady[i%2]
			if _, err := sc.WriteTo([]byte(rawRequest("OPTIONS", "sip:example.test", "SIP/2.0", "OPTIONS", sc.LocalAddr().String())), dst); err != nil {
				t.Fatal(err)
			}
			socks = append(socks, c)
			if len(socks) >= 256 { // stay well within the file limit and the socket's receive buffer
				for _, c := range socks {
					c.Close()
				}
				socks = socks[:0]
				sent := 2 * uint64(i+1)
				waitFor(t, s, func(st Stats) bool { return st.Requests["OPTIONS"] >= base+sent-sent/20 })
			}
		}
	}
	const sources = 9000
	before := s.Stats().Requests["OPTIONS"]
	flood(sources)
	waitFor(t, s, func(st Stats) bool { return st.Requests["OPTIONS"] >= before+2*sources-sources/10 })
	if n := wildcardUDPSockets(t); n > wildcard {
		t.Errorf("%d UDP sockets on 0.0.0.0 after the flood, %d before: sipgo answered from new sockets", n, wildcard)
	}
	if n := pool.Size(); n < sources/2 {
		t.Fatalf("pool of %d entries after %d sources: the test does not see sipgo's state", n, sources)
	}
	b.must(room, "across a restart", 200)
	a.expect(wire.FormatLine("user0002", "across a restart"))

	clk.advance(udpSourceTTL + time.Second)
	flood(1) // a datagram sweeps the expired sources
	waitFor(t, s, func(Stats) bool { return pool.Size() < 50 })
	b.must(room, "after the expiry", 200)
	a.expect(wire.FormatLine("user0002", "after the expiry"))
}

// wildcardUDPSockets counts this process's UDP sockets bound to 0.0.0.0 (the
// server and the tests bind 127.0.0.1; sipgo's fallback for a response without
// a pooled connection binds a new socket on 0.0.0.0).
func wildcardUDPSockets(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/net/udp")
	if err != nil {
		t.Skip("no /proc/self/net/udp")
	}
	mine := map[string]bool{}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil {
			if ino, ok := strings.CutPrefix(l, "socket:["); ok {
				mine[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 9 && strings.HasPrefix(f[1], "00000000:") && mine[f[9]] {
			n++
		}
	}
	return n
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestProtocolChecks: SIP/3.0 gets 505, a CSeq method other than the
// request's 400, credentials computed for another URI 400 (they used to be
// answered 200).
func TestProtocolChecks(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"} })
	u := dialRaw(t, s, "tcp", s.Users()[0], 0)
	for _, c := range []struct {
		raw  string
		code int
	}{
		{rawRequest("OPTIONS", "sip:example.test", "SIP/3.0", "OPTIONS", u.c.LocalAddr().String()), sip.StatusVersionNotSupported},
		{rawRequest("OPTIONS", "sip:example.test", "SIP/2.0", "INVITE", u.c.LocalAddr().String()), sip.StatusBadRequest},
		{rawRequest("MESSAGE", "sip:user0002@example.test", "SIP/2.0", "REGISTER", u.c.LocalAddr().String()), sip.StatusBadRequest},
	} {
		u.write([]byte(c.raw))
		select {
		case res := <-u.res:
			if res.StatusCode != c.code {
				t.Errorf("%q: %d %s, want %d", strings.SplitN(c.raw, "\r\n", 2)[0]+" / CSeq", res.StatusCode, res.Reason, c.code)
			}
		case <-time.After(wait):
			t.Fatalf("no answer to %q", c.raw)
		}
	}
	// Digest uri other than the Request-URI.
	res := u.mustDo(u.request(sip.REGISTER, "sip:example.test", u.user.URI, "", "", "", nil, ""))
	chal, _ := digestChallenge(res)
	reg := u.request(sip.REGISTER, "sip:example.test", u.user.URI, "", "", "", nil, "")
	u.sign(reg, chal, "sip:elsewhere.test")
	if res := u.mustDo(reg); res.StatusCode != sip.StatusBadRequest || res.Reason != ReasonBadDigestURI {
		t.Errorf("credentials for another URI: %d %s, want 400 %s", res.StatusCode, res.Reason, ReasonBadDigestURI)
	}
	reg = u.request(sip.REGISTER, "sip:example.test", u.user.URI, "", "", "", nil, "")
	u.sign(reg, chal, "sip:EXAMPLE.test") // the same resource, spelled otherwise
	if res := u.mustDo(reg); res.StatusCode != 200 {
		t.Errorf("credentials for the Request-URI in other case: %d %s, want 200", res.StatusCode, res.Reason)
	}
}

// TestUnparsableUDP: an unparsable request that carries what a response needs
// is answered 400 (it used to get nothing); garbage is counted, not logged in
// full: 2,000 bad datagrams give a handful of short lines; a datagram over 32
// KiB is counted and logged once (it used to be truncated silently).
func TestUnparsableUDP(t *testing.T) {
	var logs syncBuffer
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"udp:127.0.0.1:0"}
		c.Logger = logTo(&logs)
	})
	quiet, _ := startServer(t, func(c *Config) { c.Listen = []string{"udp:127.0.0.1:0"} }) // no logger: still counted and answered
	for _, srv := range []*Server{quiet} {
		c, err := net.Dial("udp", srv.Addr("udp"))
		if err != nil {
			t.Fatal(err)
		}
		bad := strings.Replace(rawRequest("OPTIONS", "sip:example.test", "SIP/2.0", "OPTIONS", c.LocalAddr().String()),
			"To: <sip:example.test>", "To: <sip:example.test", 1)
		_, _ = c.Write([]byte(bad))
		_ = c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 4096)
		if n, err := c.Read(buf); err != nil || !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 400 ")) {
			t.Errorf("server without a logger: unparsable request answered %q, %v", buf[:n], err)
		}
		c.Close()
		waitFor(t, srv, func(st Stats) bool { return st.ParseErrors == 1 })
	}
	c, err := net.Dial("udp", s.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.UDPConn).SetWriteBuffer(1 << 20)
	bad := strings.Replace(rawRequest("OPTIONS", "sip:example.test", "SIP/2.0", "OPTIONS", c.LocalAddr().String()),
		"To: <sip:example.test>", "To: <sip:example.test", 1)
	if _, err := c.Write([]byte(bad)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil || !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 400 ")) || !bytes.Contains(buf[:n], []byte("Call-ID: raw-")) {
		t.Fatalf("unparsable request: got %q, %v; want a 400 with its Call-ID", buf[:n], err)
	}
	const junk = 2000
	for i := range junk {
		_, _ = c.Write([]byte{byte(i)})
		if i%2 == 0 {
			_, _ = c.Write([]byte("INVITE sip:x SIP/2.0\r\nVia: \x01\x02" + strings.Repeat("\xff", 3000) + "\r\n\r\n"))
		}
	}
	big := bytes.Repeat([]byte("A"), 40<<10)
	copy(big, "OPTIONS sip:example.test SIP/2.0\r\n")
	for range 3 {
		_, _ = c.Write(big)
	}
	waitFor(t, s, func(st Stats) bool {
		return st.ParseErrors >= junk+junk/2-200 && st.Oversize >= 1 && strings.Contains(logs.String(), "over 32 KiB")
	})
	out := logs.String()
	if len(out) > 64<<10 {
		t.Errorf("%d bad datagrams logged %d bytes", junk, len(out))
	}
	if n := strings.Count(out, "over 32 KiB"); n != 1 {
		t.Errorf("oversize datagrams logged %d times, want once", n)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 1024 {
			t.Errorf("log line of %d bytes: %.200q", len(l), l)
		}
	}
}

// TestHistoryErrorsLoggedAtErrorLevel: a history store that fails (a full
// disk, a closed database) is logged at error level, serve's default (it was
// warn: invisible by default), and counted; the post gets 500.
func TestHistoryErrorsLoggedAtErrorLevel(t *testing.T) {
	var logs syncBuffer
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"tcp:127.0.0.1:0"}
		c.PChat.DataDir = t.TempDir()
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
	})
	room := pchatRoom(t, s)
	u := dialRaw(t, s, "tcp", s.Users()[0], 0)
	cid, ft, tt := u.invite()
	u.join(cid, ft, tt, room)
	if err := s.pc.store.close(); err != nil { // the store fails from now on
		t.Fatal(err)
	}
	res := u.info(cid, ft, tt, false, codec.NewChat(room, u.user.URI, time.Now(), "lost"))
	if res.StatusCode != sip.StatusInternalServerError {
		t.Errorf("post with a failing store: %d, want 500", res.StatusCode)
	}
	if st := s.Stats(); st.HistoryErrors != 1 {
		t.Errorf("history_errors %d, want 1", st.HistoryErrors)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "history not stored") {
		t.Errorf("no error-level line for the failed store (%d %s):\n%s", res.StatusCode, res.Reason, out)
	}
}

// TestUnauthenticatedStateFreed: a refusal, a challenge or OPTIONS' 200 ends
// its UDP transaction at once; 5,000 OPTIONS (within the rate) leave no state
// behind (they used to be kept ~1.2 KB each for Timer J, 32 s).
func TestUnauthenticatedStateFreed(t *testing.T) {
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"udp:127.0.0.1:0"}
		c.UnauthRate = -1
	})
	c, err := net.Dial("udp", s.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	const n = 5000
	go func() { // drain the answers
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	for i := range n {
		if _, err := c.Write([]byte(rawRequest("OPTIONS", "sip:example.test", "SIP/2.0", "OPTIONS", c.LocalAddr().String()))); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 { // within the socket's receive buffer
			sent := uint64(i + 1)
			waitFor(t, s, func(st Stats) bool { return st.Requests["OPTIONS"] >= sent-sent/20 })
		}
	}
	waitFor(t, s, func(st Stats) bool { return st.Requests["OPTIONS"] >= n-n/20 })
	if grew := int64(heap()) - int64(before); grew > 4<<20 {
		t.Errorf("heap grew by %d KiB after %d OPTIONS, want < 4 MiB: their transactions are kept", grew>>10, n)
	}
}
