package server

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/chatload/chatload/protocol/imc/wire"
	"github.com/chatload/chatload/scenarios"
)

const room1 = "sip:room001@conf.example.test"

func TestRegisterDigest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		challenge string // Config.DigestAlgorithm
		answer    string // algorithm the client computes with
	}{
		{"md5", AlgorithmMD5, AlgorithmMD5},
		{"sha256 challenge", AlgorithmSHA256, AlgorithmSHA256},
		// SHA-256 credentials are accepted on an MD5 challenge too.
		{"sha256 answer to md5", AlgorithmMD5, AlgorithmSHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := startServer(t, func(c *Config) { c.DigestAlgorithm = tc.challenge })
			u := newTestUA(t, s, "udp", s.Users()[0])

			res := u.do(u.registerRequest(300))
			if res.StatusCode != 401 {
				t.Fatalf("unauthenticated REGISTER: got %d, want 401", res.StatusCode)
			}
			chal := u.learn(res)
			if chal.Realm != "example.test" || chal.Algorithm != tc.challenge || !chal.SupportsQOP("auth") || chal.Stale {
				t.Fatalf("challenge %q: want realm example.test, algorithm %s, qop auth, not stale", res.GetHeader("WWW-Authenticate").Value(), tc.challenge)
			}
			chal.Algorithm = tc.answer

			req := u.registerRequest(300)
			u.authorize(req, u.user.Password)
			res = u.do(req)
			if res.StatusCode != 200 {
				t.Fatalf("authenticated REGISTER: got %d %s, want 200", res.StatusCode, res.Reason)
			}
			want := "<sip:user0001@" + u.local + ">;expires=300"
			if got := header(res, "Contact"); got != want {
				t.Errorf("Contact: got %q, want %q", got, want)
			}

			// Pre-emptive reuse with nc+1: accepted with no new challenge.
			req = u.registerRequest(300)
			u.authorize(req, u.user.Password)
			if res := u.do(req); res.StatusCode != 200 {
				t.Fatalf("pre-emptive REGISTER: got %d, want 200", res.StatusCode)
			}
			st := s.Stats()
			if st.AuthChallenges != 1 || st.RegistersOK != 2 || st.Requests["REGISTER"] != 3 {
				t.Errorf("stats: got challenges %d, registers_ok %d, REGISTER %d; want 1, 2, 3",
					st.AuthChallenges, st.RegistersOK, st.Requests["REGISTER"])
			}
		})
	}
}

func TestNonceCountReplay(t *testing.T) {
	s, _ := startServer(t, nil)
	u := newTestUA(t, s, "udp", s.Users()[0])
	u.register() // uses nc 1
	chal := u.chal
	for _, step := range []struct {
		nc   int
		want int
	}{
		{3, 200},   // counts may skip
		{3, 401},   // replayed
		{2, 200},   // overtaken by 3 in flight: within the window, first use
		{2, 401},   // replayed
		{1, 401},   // used by the REGISTER above
		{100, 200}, // a jump slides the window
		{36, 401},  // more than the window behind the highest
		{37, 200},  // just within the window
		{4, 401},   // far behind
	} {
		req := u.registerRequest(300)
		u.authorizeWith(req, chal, step.nc, u.user.Password)
		res := u.do(req)
		if res.StatusCode != step.want {
			t.Fatalf("nc %d: got %d, want %d", step.nc, res.StatusCode, step.want)
		}
		if step.want == 401 && !u.learn(res).Stale {
			t.Errorf("nc %d replay: challenge not stale: %s", step.nc, header(res, "WWW-Authenticate"))
		}
	}
}

func TestStaleNonce(t *testing.T) {
	s, clk := startServer(t, func(c *Config) { c.NonceLifetime = time.Minute })
	u := newTestUA(t, s, "udp", s.Users()[0])
	u.register()

	clk.advance(time.Minute + time.Second)
	req := u.registerRequest(300)
	u.authorize(req, u.user.Password)
	res := u.do(req)
	if res.StatusCode != 401 {
		t.Fatalf("expired nonce: got %d, want 401", res.StatusCode)
	}
	if !u.learn(res).Stale {
		t.Fatalf("expired nonce: challenge %q lacks stale=true", header(res, "WWW-Authenticate"))
	}
	req = u.registerRequest(300)
	u.authorize(req, u.user.Password)
	if res := u.do(req); res.StatusCode != 200 {
		t.Fatalf("retry with the new nonce: got %d, want 200", res.StatusCode)
	}
	if st := s.Stats(); st.AuthFailures != 0 {
		t.Errorf("auth_failures: got %d, want 0 (stale is not a failure)", st.AuthFailures)
	}
}

func TestWrongPasswordChallengedAgain(t *testing.T) {
	s, _ := startServer(t, nil)
	u := newTestUA(t, s, "udp", s.Users()[0])
	for _, method := range []sip.RequestMethod{sip.REGISTER, sip.MESSAGE} {
		mk := func() *sip.Request {
			if method == sip.REGISTER {
				return u.registerRequest(300)
			}
			return u.request(sip.MESSAGE, room1, room1, "#join")
		}
		res := u.do(mk())
		u.learn(res)
		req := mk()
		u.authorize(req, "not-the-password")
		res = u.do(req)
		want := 401
		if method == sip.MESSAGE {
			want = 407
		}
		if res.StatusCode != want {
			t.Fatalf("%s with a wrong password: got %d %s, want %d", method, res.StatusCode, res.Reason, want)
		}
		if u.learn(res).Stale {
			t.Errorf("%s with a wrong password: challenge is stale", method)
		}
	}
	if st := s.Stats(); st.AuthFailures != 2 {
		t.Errorf("auth_failures: got %d, want 2", st.AuthFailures)
	}
}

func TestUnknownUserAndMismatch(t *testing.T) {
	s, _ := startServer(t, nil)
	ghost := newTestUA(t, s, "udp", scenarios.User{URI: "sip:ghost@example.test", Password: "x"})
	res := ghost.send(func() *sip.Request { return ghost.registerRequest(300) })
	if res.StatusCode != 404 || res.Reason != ReasonUserNotFound {
		t.Fatalf("unknown user: got %d %s, want 404 %s", res.StatusCode, res.Reason, ReasonUserNotFound)
	}

	// user0002's credentials with user0001's identity.
	u1 := s.Users()[0]
	u1.AuthUser, u1.Password = "user0002", "pass0002"
	imp := newTestUA(t, s, "udp", u1)
	for _, mk := range []func() *sip.Request{
		func() *sip.Request { return imp.registerRequest(300) },
		func() *sip.Request { return imp.request(sip.MESSAGE, room1, room1, "#join") },
	} {
		imp.chal = nil
		res := imp.send(mk)
		if res.StatusCode != 403 || res.Reason != ReasonAuthUserMismatch {
			t.Fatalf("auth user mismatch: got %d %s, want 403 %s", res.StatusCode, res.Reason, ReasonAuthUserMismatch)
		}
	}
}

func TestNonceTableEviction(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.MaxNonces = 1 })
	a := newTestUA(t, s, "udp", s.Users()[0])
	b := newTestUA(t, s, "udp", s.Users()[1])
	a.register()
	b.register() // evicts a's nonce from the one-entry table
	req := a.registerRequest(300)
	a.authorize(req, a.user.Password)
	res := a.do(req)
	if res.StatusCode != 401 || !a.learn(res).Stale {
		t.Fatalf("evicted nonce: got %d %s, want 401 with stale=true", res.StatusCode, header(res, "WWW-Authenticate"))
	}
	a.register()
}

func TestRegistrarExpiry(t *testing.T) {
	s, clk := startServer(t, func(c *Config) { c.MaxExpires = time.Minute })
	u := newTestUA(t, s, "udp", s.Users()[0])
	res := u.send(func() *sip.Request { return u.registerRequest(3600) })
	if got := header(res, "Contact"); !strings.HasSuffix(got, ";expires=60") {
		t.Fatalf("Contact %q: want the expiry capped to 60", got)
	}
	if _, ok := s.lookup("user0001"); !ok {
		t.Fatal("no binding after REGISTER")
	}
	clk.advance(time.Minute)
	if _, ok := s.lookup("user0001"); ok {
		t.Fatal("binding outlived its expiry")
	}
	u.register()
	if res := u.send(func() *sip.Request { return u.registerRequest(0) }); res.StatusCode != 200 {
		t.Fatalf("unREGISTER: got %d", res.StatusCode)
	}
	if _, ok := s.lookup("user0001"); ok {
		t.Fatal("Expires: 0 left the binding")
	}
	if st := s.Stats(); st.Unregisters != 1 {
		t.Errorf("unregisters: got %d, want 1", st.Unregisters)
	}
}

func TestJoinNotices(t *testing.T) {
	s, _ := startServer(t, nil)
	u := newTestUA(t, s, "udp", s.Users()[0])
	u.register()

	id := u.must(room1, "#join", 200)
	n := u.expect(wire.NoticeJoined("user0001"))
	if got := header(n, "From"); !strings.HasPrefix(got, "<"+room1+">;tag=") {
		t.Errorf("notice From: got %q, want the room URI with a tag", got)
	}
	if got := header(n, wire.HeaderInReplyTo); got != id {
		t.Errorf("notice In-Reply-To: got %q, want %q", got, id)
	}
	u.must(room1, "#join", 200)
	u.expect(wire.NoticeAlreadyIn)
	u.must("sip:nosuch@conf.example.test", "#join", 200)
	u.expect(wire.NoticeRoomNotFound)
	u.must(room1, "#join room999", 200)
	u.expect(wire.NoticeRoomNotFound)
	u.must(room1, "#hello there", 200)
	u.expect(wire.NoticeInvalidCommand("hello"))
	u.must(room1, "#rooms", 200)
	u.expect("Rooms:\n[room001]\n[room002]\n[room003]")
	u.must(room1, "#list", 200)
	u.expect("Members:\n[user0001]")
	u.must(room1, "# join", 400)
	u.must(room1, "#destroy", 500)
	// Room names are case-insensitive, in the R-URI and as an argument.
	u.must("sip:ROOM002@conf.example.test", "#join", 200)
	u.expect(wire.NoticeJoined("user0001"))
	u.must(room1, "#exit Room002", 200)
	u.expect(wire.NoticeLeft("user0001"))
	if st := s.Stats(); st.Joins != 2 || st.Leaves != 1 {
		t.Errorf("stats: joins %d leaves %d, want 2 and 1", st.Joins, st.Leaves)
	}
}

func TestNonMember(t *testing.T) {
	s, _ := startServer(t, nil)
	u := newTestUA(t, s, "udp", s.Users()[0])
	u.register()
	_, res := u.message(room1, "hello")
	if res.StatusCode != 403 || res.Reason != wire.ReasonNotMember {
		t.Fatalf("line from a non-member: got %d %s, want 403 %s", res.StatusCode, res.Reason, wire.ReasonNotMember)
	}
	_, res = u.message("sip:nosuch@conf.example.test", "hello")
	if res.StatusCode != 403 || res.Reason != wire.ReasonNotMember {
		t.Fatalf("line to an unknown room: got %d %s, want 403 %s", res.StatusCode, res.Reason, wire.ReasonNotMember)
	}
	_, res = u.message(room1, "#exit")
	if res.StatusCode != 500 || res.Reason != wire.ReasonCommandFailed {
		t.Fatalf("#exit by a non-member: got %d %s, want 500 %s", res.StatusCode, res.Reason, wire.ReasonCommandFailed)
	}
	if st := s.Stats(); st.Lines != 0 {
		t.Errorf("lines: got %d, want 0", st.Lines)
	}
}

func TestFanout(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) { testFanout(t, tr) })
	}
}

func testFanout(t *testing.T, tr string) {
	s, _ := startServer(t, nil)
	a := newTestUA(t, s, tr, s.Users()[0])
	b := newTestUA(t, s, tr, s.Users()[1])
	a.register()
	b.register()

	a.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0001"))
	b.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0002"))
	b.expect(wire.NoticeJoined("user0002"))

	id := a.must(room1, "hello from user0001", 200)
	c := b.expect("[user0001]: hello from user0001")
	for name, want := range map[string]string{
		"To":                 "<sip:user0002@example.test>",
		"CSeq":               "10 MESSAGE",
		"Content-Type":       "text/plain",
		"Supported":          "kamailio/imc",
		wire.HeaderInReplyTo: id,
	} {
		if got := header(c, name); got != want {
			t.Errorf("copy %s: got %q, want %q", name, got, want)
		}
	}
	if got := header(c, "From"); !strings.HasPrefix(got, "<"+room1+">;tag=") {
		t.Errorf("copy From: got %q, want <%s>;tag=...", got, room1)
	}
	if c.CallID().Value() == id {
		t.Error("copy reuses the sender's Call-ID")
	}
	if tr == "udp" {
		if got, want := c.Recipient.String(), "sip:user0002@"+b.local; got != want {
			t.Errorf("copy R-URI: got %s, want the contact %s", got, want)
		}
		if got, want := c.Source(), s.Addr("udp"); got != want {
			t.Errorf("copy came from %s, want the server's listening socket %s", got, want)
		}
	} else if got := c.Transport(); got != "TCP" {
		t.Errorf("copy transport: got %s, want TCP", got)
	}

	// #list queues behind the line in the room's lane: once its answer is in, every
	// copy of the line has been sent, and none went back to the author.
	a.must(room1, "#list", 200)
	a.expect("Members:\n[user0002]\n[user0001]")
	if st := s.Stats(); st.Lines != 1 || st.CopiesSent != 1 {
		t.Errorf("stats: lines %d copies_sent %d, want 1 and 1 (no copy to the author)", st.Lines, st.CopiesSent)
	}

	b.must(room1, "#exit", 200)
	a.expect(wire.NoticeLeft("user0002"))
	b.expect(wire.NoticeLeft("user0002"))
	a.must(room1, "#exit", 200)
	a.expect(wire.NoticeLeft("user0001"))
	_, res := b.message(room1, "still here?")
	if res.StatusCode != 403 {
		t.Errorf("line after #exit: got %d, want 403", res.StatusCode)
	}
	waitFor(t, s, func(st Stats) bool { return st.CopiesOK == 1 && st.NoticesOK == 7 })
	if st := s.Stats(); st.CopiesFailed != 0 || st.NoticesFailed != 0 {
		t.Errorf("stats: copies_failed %d notices_failed %d, want 0", st.CopiesFailed, st.NoticesFailed)
	}
}

// waitFor waits (bounded, yielding, never sleeping) for cond about counters that
// are updated when a member's answer reaches the server, after the member has seen
// the request.
func waitFor(t *testing.T, s *Server, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v; stats %+v", wait, s.Stats())
		}
		runtime.Gosched()
	}
}

func TestUnregisteredMemberStays(t *testing.T) {
	s, _ := startServer(t, nil)
	a := newTestUA(t, s, "udp", s.Users()[0])
	b := newTestUA(t, s, "udp", s.Users()[1]) // joins without registering
	a.register()
	a.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0001"))
	b.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0002"))
	b.must(room1, "from b", 200)
	a.expect("[user0002]: from b")
	a.must(room1, "from a", 200)
	a.must(room1, "#list", 200) // behind the copy to b in the lane
	a.expect("Members:\n[user0002]\n[user0001]")
	if st := s.Stats(); st.CopiesUnregistered != 1 || st.CopiesSent != 1 {
		t.Errorf("stats: copies_unregistered %d copies_sent %d, want 1 and 1", st.CopiesUnregistered, st.CopiesSent)
	}
}

func TestRetransmittedLineNotRebroadcast(t *testing.T) {
	s, _ := startServer(t, nil)
	a := newTestUA(t, s, "udp", s.Users()[0])
	b := newTestUA(t, s, "udp", s.Users()[1])
	a.register()
	b.register()
	a.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0001"))
	b.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0002"))
	b.expect(wire.NoticeJoined("user0002"))

	// Send the same authenticated line twice from a raw socket, the second time
	// after its 200: the server transaction must answer it again without handling it.
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raddr, _ := net.ResolveUDPAddr("udp", s.Addr("udp"))
	req := a.request(sip.MESSAGE, room1, room1, "only once")
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).Port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	req.PrependHeader(via)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	a.authorize(req, a.user.Password)
	raw := []byte(req.String())
	readStatus := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(wait))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("raw read: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		return line
	}
	for i := range 2 {
		if _, err := conn.WriteTo(raw, raddr); err != nil {
			t.Fatal(err)
		}
		if got := readStatus(); got != "SIP/2.0 200 OK" {
			t.Fatalf("send %d: got %q, want 200 OK", i+1, got)
		}
	}
	b.expect("[user0001]: only once")
	b.must(room1, "#list", 200)
	b.expect("Members:\n[user0002]\n[user0001]")
	if st := s.Stats(); st.Lines != 1 || st.CopiesSent != 1 {
		t.Errorf("stats: lines %d copies_sent %d, want 1 and 1", st.Lines, st.CopiesSent)
	}
}

func TestRelay(t *testing.T) {
	s, _ := startServer(t, nil)
	a := newTestUA(t, s, "udp", s.Users()[0])
	b := newTestUA(t, s, "tcp", s.Users()[1])
	a.register()
	b.register()
	a.must("sip:user0002@example.test", "direct", 200)
	got := b.expect("direct")
	if v := header(got, "Proxy-Authorization"); v != "" {
		t.Errorf("relayed request carries credentials: %q", v)
	}
	if len(got.GetHeaders("Via")) != 2 {
		t.Errorf("relayed request: got %d Via, want 2", len(got.GetHeaders("Via")))
	}
	_, res := a.message("sip:user0003@example.test", "nobody home")
	if res.StatusCode != 404 {
		t.Errorf("MESSAGE to an unregistered user: got %d, want 404", res.StatusCode)
	}
	_, res = a.message("sip:someone@elsewhere.test", "x")
	if res.StatusCode != 403 || res.Reason != ReasonNotRelaying {
		t.Errorf("foreign domain: got %d %s, want 403 %s", res.StatusCode, res.Reason, ReasonNotRelaying)
	}
	if st := s.Stats(); st.Relays != 1 || st.RelaysOK != 1 {
		t.Errorf("stats: relays %d relays_ok %d, want 1 and 1", st.Relays, st.RelaysOK)
	}
}

func TestOtherMethods(t *testing.T) {
	s, _ := startServer(t, nil)
	u := newTestUA(t, s, "tcp", s.Users()[0])
	if res := u.do(u.request(sip.OPTIONS, "sip:example.test", "sip:example.test", "")); res.StatusCode != 200 {
		t.Errorf("OPTIONS: got %d, want 200", res.StatusCode)
	}
	if res := u.do(u.request(sip.PUBLISH, "sip:example.test", "sip:example.test", "")); res.StatusCode != 405 {
		t.Errorf("PUBLISH: got %d, want 405", res.StatusCode)
	}
	if st := s.Stats(); st.Requests["OPTIONS"] != 1 || st.Requests["PUBLISH"] != 1 {
		t.Errorf("requests: got %v", st.Requests)
	}
}

func TestConfig(t *testing.T) {
	users := GeneratedUsers(2, "")
	if users[1].URI != "sip:user0002@example.test" || users[1].Password != "pass0002" || users[1].AuthUser != "" {
		t.Fatalf("GeneratedUsers: got %#v", users[1])
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"defaults", Config{Users: users, Generated: true}, ""},
		{"generated on all interfaces", Config{Users: users, Generated: true, Listen: []string{"udp:0.0.0.0:5060"}}, "0.0.0.0:5060"},
		{"generated on an empty host", Config{Users: users, Generated: true, Listen: []string{"tcp::5060"}}, ":5060"},
		{"generated remote allowed", Config{Users: users, Generated: true, AllowRemote: true, Listen: []string{"udp:0.0.0.0:5060"}}, ""},
		{"file users on all interfaces", Config{Users: users, Listen: []string{"udp:0.0.0.0:5060"}}, ""},
		{"tls", Config{Users: users, Listen: []string{"tls:127.0.0.1:5061"}}, ""},
		{"tls certificate without key", Config{Users: users, Listen: []string{"tls:127.0.0.1:5061"}, TLSCert: "c.pem"}, "both the certificate and the key"},
		{"tls certificate without tls listener", Config{Users: users, TLSCert: "c.pem", TLSKey: "k.pem"}, "no tls listener"},
		{"unknown transport", Config{Users: users, Listen: []string{"sctp:127.0.0.1:5060"}}, "want udp, tcp or tls"},
		{"host name", Config{Users: users, Listen: []string{"udp:sip.example.test:5060"}}, "not an IP address"},
		{"no port", Config{Users: users, Listen: []string{"udp:127.0.0.1"}}, "transport:host:port"},
		{"no users", Config{}, "users"},
		{"bad domain", Config{Users: users, Domain: "a b"}, "domain"},
		{"negative rooms", Config{Users: users, Rooms: -1}, "rooms"},
		{"algorithm", Config{Users: users, DigestAlgorithm: "SHA-512"}, "digest algorithm"},
		{"duplicate auth user", Config{Users: []scenarios.User{users[0], {URI: "sip:x@example.test", AuthUser: "user0001", Password: "p"}}}, "share the auth user"},
		{"empty password", Config{Users: []scenarios.User{{URI: "sip:x@example.test"}}}, "empty password"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: got %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pass0001") {
			t.Errorf("%s: error shows a password: %v", tc.name, err)
		}
	}
	err := Config{Users: users, Generated: true, Listen: []string{"udp:0.0.0.0:5060"}}.Validate()
	if !errors.Is(err, ErrRemoteGenerated) {
		t.Errorf("generated users on 0.0.0.0: got %v, want ErrRemoteGenerated", err)
	}
	if s := (Config{Users: users, Generated: true}).String(); strings.Contains(s, "pass0001") || !strings.Contains(s, "users=2") {
		t.Errorf("String: got %q", s)
	}
}

// TestChallengeFormat pins the challenge to what Kamailio sends plus the algorithm.
func TestChallengeFormat(t *testing.T) {
	a, err := newAuthenticator("example.test", AlgorithmMD5, time.Minute, 8, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := digest.ParseChallenge(a.challenge(true))
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != "example.test" || !c.Stale || c.Algorithm != "MD5" || len(c.QOP) != 1 || c.QOP[0] != "auth" || c.Nonce == "" {
		t.Errorf("challenge: got %+v", c)
	}
	if _, ok := a.issued(c.Nonce); !ok {
		t.Error("our own nonce does not verify")
	}
	b := []byte(c.Nonce)
	b[3] ^= 1
	if _, ok := a.issued(string(b)); ok {
		t.Error("a tampered nonce verifies")
	}
}
