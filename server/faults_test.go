package server

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/imc/wire"
)

func TestFaultsValidate(t *testing.T) {
	users := GeneratedUsers(2, "")
	for _, tc := range []struct {
		name string
		f    Faults
		want string // substring of the error; "" for valid
	}{
		{"none", Faults{}, ""},
		{"all", Faults{Drop: 0.2, Dup: 0.1, Delay: time.Millisecond, Jitter: time.Millisecond, StallFor: time.Second, StallEvery: 10 * time.Second, Seed: -3}, ""},
		{"certain drop", Faults{Drop: 1}, ""},
		{"jitter alone", Faults{Jitter: time.Millisecond}, ""},
		{"negative drop", Faults{Drop: -0.1}, "drop"},
		{"drop over 1", Faults{Drop: 1.5}, "drop"},
		{"NaN dup", Faults{Dup: math.NaN()}, "dup"},
		{"drop+dup over 1", Faults{Drop: 0.6, Dup: 0.5}, "must not exceed 1"},
		{"negative delay", Faults{Delay: -time.Millisecond}, "delay"},
		{"negative jitter", Faults{Jitter: -time.Millisecond}, "jitter"},
		{"negative stall", Faults{StallFor: -time.Second, StallEvery: time.Second}, "stall"},
		{"stall as long as the period", Faults{StallFor: time.Second, StallEvery: time.Second}, "0 < duration < period"},
		{"stall without period", Faults{StallFor: time.Second}, "stall"},
		{"period without stall", Faults{StallEvery: time.Second}, "stall"},
	} {
		err := Config{Users: users, Generated: true, Faults: tc.f}.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: got %v; want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "faults: ")):
			t.Errorf("%s: got %v; want an error starting with \"faults: \" containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseFaultFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		ff   FaultFlags
		want Faults
		err  string // substring of the error; "" for valid
	}{
		{"none", FaultFlags{Seed: 1}, Faults{Seed: 1}, ""},
		{"fraction", FaultFlags{Drop: "0.02"}, Faults{Drop: 0.02}, ""},
		{"percent", FaultFlags{Drop: "2%", Dup: " 1.5 % "}, Faults{Drop: 0.02, Dup: 0.015}, ""},
		{"bounds", FaultFlags{Drop: "100%", Dup: "0"}, Faults{Drop: 1}, ""},
		{"delay", FaultFlags{Delay: "20ms"}, Faults{Delay: 20 * time.Millisecond}, ""},
		{"delay and jitter", FaultFlags{Delay: "20ms,5ms"}, Faults{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}, ""},
		{"jitter alone", FaultFlags{Delay: "0,5ms"}, Faults{Jitter: 5 * time.Millisecond}, ""},
		{"stall", FaultFlags{Stall: "1s/10s", Seed: 7}, Faults{StallFor: time.Second, StallEvery: 10 * time.Second, Seed: 7}, ""},
		{"drop word", FaultFlags{Drop: "some"}, Faults{}, "--fault-drop"},
		{"drop negative", FaultFlags{Drop: "-0.1"}, Faults{}, "--fault-drop"},
		{"drop over 100%", FaultFlags{Drop: "101%"}, Faults{}, "--fault-drop"},
		{"drop NaN", FaultFlags{Drop: "NaN"}, Faults{}, "--fault-drop"},
		{"drop Inf", FaultFlags{Drop: "Inf"}, Faults{}, "--fault-drop"},
		{"dup over 1", FaultFlags{Dup: "1.01"}, Faults{}, "--fault-dup"},
		{"drop and dup over 1", FaultFlags{Drop: "60%", Dup: "0.5"}, Faults{}, "--fault-drop 60% with --fault-dup 0.5"},
		{"delay word", FaultFlags{Delay: "soon"}, Faults{}, "--fault-delay"},
		{"delay negative", FaultFlags{Delay: "-1ms"}, Faults{}, "--fault-delay"},
		{"jitter bad", FaultFlags{Delay: "20ms,x"}, Faults{}, "--fault-delay: jitter"},
		{"delay without unit", FaultFlags{Delay: "20"}, Faults{}, "--fault-delay"},
		{"stall no period", FaultFlags{Stall: "1s"}, Faults{}, "--fault-stall"},
		{"stall longer than period", FaultFlags{Stall: "10s/1s"}, Faults{}, "--fault-stall"},
		{"stall zero", FaultFlags{Stall: "0s/1s"}, Faults{}, "--fault-stall"},
		{"stall bad", FaultFlags{Stall: "1s/often"}, Faults{}, "--fault-stall"},
	} {
		got, err := tc.ff.Faults()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: got %v; want %+v", tc.name, err, tc.want)
		case tc.err == "" && got != tc.want:
			t.Errorf("%s: got %+v; want %+v", tc.name, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %+v, %v; want an error containing %q", tc.name, got, err, tc.err)
		}
		if err == nil {
			if verr := got.Validate(); verr != nil {
				t.Errorf("%s: parsed %+v does not validate: %v", tc.name, got, verr)
			}
		}
	}
}

func TestFaultsString(t *testing.T) {
	for _, tc := range []struct {
		f    Faults
		want string
	}{
		{Faults{Seed: 1}, "none"},
		{Faults{Drop: 0.02, Dup: 0.01, Seed: 1}, "drop 2% of copies, dup 1% of copies, seed 1"},
		{Faults{Delay: 20 * time.Millisecond}, "delay 20ms"},
		{Faults{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 3}, "delay 20ms (+ jitter up to 5ms, may reorder), seed 3"},
		{Faults{StallFor: time.Second, StallEvery: 10 * time.Second}, "stall 1s every 10s"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v: got %q; want %q", tc.f, got, tc.want)
		}
	}
	if s := (Config{Users: GeneratedUsers(1, ""), Faults: Faults{Drop: 0.5}}).String(); !strings.Contains(s, "faults=[drop 50% of copies, seed 0]") {
		t.Errorf("Config.String: got %q; want the faults in it", s)
	}
}

func TestFaultRandStreams(t *testing.T) {
	draw := func(seed int64, room string) []float64 {
		r := newFaultRand(seed, room)
		out := make([]float64, 8)
		for i := range out {
			out[i] = r.float64()
		}
		return out
	}
	if a, b := draw(1, "room001"), draw(1, "room001"); !slices.Equal(a, b) {
		t.Errorf("same seed and room: %v and %v; want the same draws", a, b)
	}
	if a, b := draw(1, "room001"), draw(1, "room002"); slices.Equal(a, b) {
		t.Error("two rooms draw the same stream")
	}
	if a, b := draw(1, "room001"), draw(2, "room001"); slices.Equal(a, b) {
		t.Error("two seeds draw the same stream")
	}
}

// lineOutcome is what fault injection did to each line of a run, by line index.
type lineOutcome struct{ dropped, duplicated []int }

// TestFaultDropDupExact checks that what a member receives matches the server's
// counters exactly, and that the same seed makes the same decisions (over UDP and
// then over TCP).
func TestFaultDropDupExact(t *testing.T) {
	faults := Faults{Drop: 0.2, Dup: 0.1, Seed: 42}
	var runs []lineOutcome
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) { runs = append(runs, testDropDup(t, tr, faults, 150)) })
	}
	if len(runs) == 2 && !(slices.Equal(runs[0].dropped, runs[1].dropped) && slices.Equal(runs[0].duplicated, runs[1].duplicated)) {
		t.Errorf("same seed, same copies, different decisions:\n%+v\n%+v", runs[0], runs[1])
	}
}

func testDropDup(t *testing.T, tr string, faults Faults, lines int) lineOutcome {
	s, _ := startServer(t, func(c *Config) { c.Faults = faults })
	a := newTestUA(t, s, tr, s.Users()[0])
	b := newTestUA(t, s, tr, s.Users()[1])
	a.register()
	b.register()
	a.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0001"))
	b.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0002"))
	b.expect(wire.NoticeJoined("user0002"))

	ids := make([]string, lines)
	for i := range ids {
		ids[i] = a.must(room1, fmt.Sprintf("line %d", i), 200)
	}
	// #list queues behind the lines in the room's lane: once its answer is in, every
	// copy has been sent; once all are answered, b has them all in its inbox.
	a.must(room1, "#list", 200)
	a.expect("Members:\n[user0002]\n[user0001]")
	waitFor(t, s, func(st Stats) bool { return st.CopiesOK+st.CopiesFailed == st.CopiesSent })

	got := map[string]int{} // copies by In-Reply-To
	received := 0
	for len(b.inbox) > 0 {
		c := <-b.inbox
		id := header(c, wire.HeaderInReplyTo)
		i := slices.Index(ids, id)
		if i < 0 {
			t.Fatalf("b got %q in reply to %q: not one of the lines", c.Body(), id)
		}
		if want := fmt.Sprintf("[user0001]: line %d", i); string(c.Body()) != want {
			t.Errorf("copy in reply to line %d: body %q; want %q", i, c.Body(), want)
		}
		got[id]++
		received++
	}
	var out lineOutcome
	for i, id := range ids {
		switch got[id] {
		case 0:
			out.dropped = append(out.dropped, i)
		case 1:
		case 2:
			out.duplicated = append(out.duplicated, i)
		default:
			t.Errorf("line %d: %d copies; want at most 2", i, got[id])
		}
	}

	st := s.Stats()
	t.Logf("%d lines: %d copies received, fault_dropped %d, fault_duplicated %d", lines, received, st.FaultDropped, st.FaultDuplicated)
	if st.Lines != uint64(lines) {
		t.Fatalf("lines: got %d; want %d", st.Lines, lines)
	}
	if st.FaultDropped == 0 || st.FaultDuplicated == 0 {
		t.Errorf("fault_dropped %d, fault_duplicated %d; want both > 0 with drop 0.2 and dup 0.1 over %d lines",
			st.FaultDropped, st.FaultDuplicated, lines)
	}
	if want := uint64(lines) - st.FaultDropped + st.FaultDuplicated; uint64(received) != want {
		t.Errorf("received %d copies; want lines - fault_dropped + fault_duplicated = %d - %d + %d = %d",
			received, lines, st.FaultDropped, st.FaultDuplicated, want)
	}
	if uint64(len(out.duplicated)) != st.FaultDuplicated {
		t.Errorf("%d lines came twice; want fault_duplicated = %d", len(out.duplicated), st.FaultDuplicated)
	}
	if uint64(len(out.dropped)) != st.FaultDropped {
		t.Errorf("%d lines never came; want fault_dropped = %d", len(out.dropped), st.FaultDropped)
	}
	if st.CopiesSent != uint64(received) || st.CopiesOK != st.CopiesSent || st.CopiesFailed != 0 || st.CopiesUnregistered != 0 {
		t.Errorf("copies sent %d ok %d failed %d unregistered %d; want sent = ok = received = %d, none failed or unregistered",
			st.CopiesSent, st.CopiesOK, st.CopiesFailed, st.CopiesUnregistered, received)
	}
	if st.FaultDelayed != 0 || st.FaultStalls != 0 {
		t.Errorf("fault_delayed %d fault_stalls %d; want 0 without those faults", st.FaultDelayed, st.FaultStalls)
	}
	return out
}

// TestFaultsSpareNotices drops every copy: notices, answers and relayed MESSAGEs
// must still all get through.
func TestFaultsSpareNotices(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.Faults = Faults{Drop: 1} })
	a := newTestUA(t, s, "udp", s.Users()[0])
	b := newTestUA(t, s, "udp", s.Users()[1])
	a.register()
	b.register()
	a.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0001"))
	b.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0002"))
	b.expect(wire.NoticeJoined("user0002"))
	for i := range 3 {
		a.must(room1, fmt.Sprintf("line %d", i), 200)
	}
	b.must(room1, "#list", 200)
	b.expect("Members:\n[user0002]\n[user0001]") // no copy before it
	a.must("sip:user0002@example.test", "direct", 200)
	b.expect("direct")
	if st := s.Stats(); st.FaultDropped != 3 || st.CopiesSent != 0 || st.NoticesSent != 4 || st.RelaysOK != 1 {
		t.Errorf("stats: fault_dropped %d copies_sent %d notices_sent %d relays_ok %d; want 3, 0, 4, 1",
			st.FaultDropped, st.CopiesSent, st.NoticesSent, st.RelaysOK)
	}
}

// bubble runs a server inside a synctest bubble without a network: requests go
// straight to the room front end, and copies and notices are recorded when they
// would be transmitted (and answered 200 at once).
type bubble struct {
	t *testing.T
	s *Server

	mu      sync.Mutex
	sent    []sentReq // copies and notices, in transmission order
	replies []reply   // answers to posted requests, in order
}

type sentReq struct {
	at        time.Time
	to        string // user part of the R-URI
	body      string
	inReplyTo string
	callID    string
}

type reply struct {
	at     time.Time
	body   string // of the request answered
	status int
}

func newBubble(t *testing.T, f Faults) *bubble {
	t.Helper()
	return newBubbleConfig(t, Config{Faults: f})
}

// newBubbleConfig is newBubble with more of cfg: users and rooms are set here.
func newBubbleConfig(t *testing.T, cfg Config) *bubble {
	t.Helper()
	cfg.Users, cfg.Generated, cfg.Rooms = GeneratedUsers(3, ""), true, 1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &bubble{t: t, s: s}
	s.copyTx = func(req *sip.Request, _ binding) (sip.ClientTransaction, error) {
		b.mu.Lock()
		b.sent = append(b.sent, sentReq{at: time.Now(), to: req.Recipient.User, body: string(req.Body()),
			inReplyTo: header(req, wire.HeaderInReplyTo), callID: req.CallID().Value()})
		b.mu.Unlock()
		tx := &fakeClientTx{res: make(chan *sip.Response, 1), done: make(chan struct{})}
		tx.res <- sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		return tx, nil
	}
	s.mu.Lock()
	s.started = true
	s.startWorkers()
	s.mu.Unlock()
	for _, u := range s.Users() {
		user := strings.TrimPrefix(strings.Split(u.URI, "@")[0], "sip:")
		s.reg.set(user, binding{contact: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: 5999},
			transport: "udp", dest: "127.0.0.1:5999", expires: time.Now().Add(24 * time.Hour)})
	}
	t.Cleanup(func() { s.Close() })
	return b
}

// post hands body from userNNNN (1-based) to room001 as an authenticated MESSAGE
// and returns when the server has answered it.
func (b *bubble) post(n int, body string) {
	from := sip.Uri{Scheme: "sip", User: fmt.Sprintf("user%04d", n), Host: "example.test"}
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: "room001", Host: "conf.example.test"})
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5999, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	fh := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fh.Params.Add("tag", sip.GenerateTagN(8))
	callID := sip.CallIDHeader("bubble-" + sip.GenerateTagN(12))
	req.AppendHeader(via)
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: req.Recipient, Params: sip.NewParams()})
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.MESSAGE})
	req.SetBody([]byte(body))
	b.s.roomRequest(req, &fakeServerTx{respond: func(res *sip.Response) {
		b.mu.Lock()
		b.replies = append(b.replies, reply{at: time.Now(), body: body, status: res.StatusCode})
		b.mu.Unlock()
	}}, nil)
}

// take returns and forgets what was sent and answered so far.
func (b *bubble) take() ([]sentReq, []reply) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, r := b.sent, b.replies
	b.sent, b.replies = nil, nil
	return s, r
}

// joinAll makes users 1..3 members of room001 and forgets their notices.
func (b *bubble) joinAll() {
	for n := 1; n <= 3; n++ {
		b.post(n, "#join")
	}
	synctest.Wait()
	sent, replies := b.take()
	if len(sent) != 1+2+3 || len(replies) != 3 {
		b.t.Fatalf("joins: %d notices and %d answers; want 6 and 3", len(sent), len(replies))
	}
}

type fakeServerTx struct{ respond func(*sip.Response) }

func (tx *fakeServerTx) Respond(res *sip.Response) error    { tx.respond(res); return nil }
func (tx *fakeServerTx) Acks() <-chan *sip.Request          { return nil }
func (tx *fakeServerTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (tx *fakeServerTx) Terminate()                         {}
func (tx *fakeServerTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (tx *fakeServerTx) Done() <-chan struct{}              { return nil }
func (tx *fakeServerTx) Err() error                         { return nil }

type fakeClientTx struct {
	res  chan *sip.Response
	done chan struct{}
}

func (tx *fakeClientTx) Responses() <-chan *sip.Response        { return tx.res }
func (tx *fakeClientTx) OnRetransmission(sip.FnTxResponse) bool { return false }
func (tx *fakeClientTx) Terminate()                             {}
func (tx *fakeClientTx) OnTerminate(sip.FnTxTerminate) bool     { return false }
func (tx *fakeClientTx) Done() <-chan struct{}                  { return tx.done }
func (tx *fakeClientTx) Err() error                             { return nil }

func TestFaultDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 20 * time.Millisecond
		b := newBubble(t, Faults{Delay: d})
		b.joinAll() // notices are not delayed: joinAll saw them without time passing
		t0 := time.Now()
		b.post(1, "one")
		b.post(1, "two")
		b.post(1, "#list")
		synctest.Wait()
		sent, replies := b.take()
		if len(replies) != 3 || replies[0].at != t0 || replies[1].at != t0 || replies[0].status != 200 {
			t.Fatalf("answers %+v; want three at once", replies)
		}
		if len(sent) != 1 || !strings.HasPrefix(sent[0].body, "Members:") {
			t.Fatalf("sent at once %+v; want only the #list notice (notices overtake delayed copies)", sent)
		}

		time.Sleep(d - time.Nanosecond)
		synctest.Wait()
		if sent, _ := b.take(); len(sent) != 0 {
			t.Fatalf("copies sent before the delay: %+v", sent)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		sent, _ = b.take()
		var bodies []string
		for _, c := range sent {
			if c.at != t0.Add(d) {
				t.Errorf("copy %q to %s sent at +%v; want +%v", c.body, c.to, c.at.Sub(t0), d)
			}
			bodies = append(bodies, c.to+" "+c.body)
		}
		want := []string{"user0003 [user0001]: one", "user0002 [user0001]: one", "user0003 [user0001]: two", "user0002 [user0001]: two"}
		if !slices.Equal(bodies, want) {
			t.Errorf("copies %q; want %q (the room's order)", bodies, want)
		}
		if st := b.s.Stats(); st.FaultDelayed != 4 || st.CopiesSent != 4 {
			t.Errorf("fault_delayed %d copies_sent %d; want 4 and 4", st.FaultDelayed, st.CopiesSent)
		}
	})
}

func TestFaultJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d, j, n = 20 * time.Millisecond, 5 * time.Millisecond, 20
		b := newBubble(t, Faults{Delay: d, Jitter: j, Dup: 0.25, Seed: 1})
		b.joinAll()
		t0 := time.Now()
		for i := range n {
			b.post(1, fmt.Sprint(i))
		}
		time.Sleep(d + j)
		synctest.Wait()
		sent, _ := b.take()
		st := b.s.Stats()
		if uint64(len(sent)) != st.CopiesSent || st.FaultDelayed != st.CopiesSent || st.CopiesSent != 2*n+st.FaultDuplicated {
			t.Fatalf("sent %d; copies_sent %d fault_delayed %d fault_duplicated %d; want sent = copies_sent = fault_delayed = %d + fault_duplicated",
				len(sent), st.CopiesSent, st.FaultDelayed, st.FaultDuplicated, 2*n)
		}
		if st.FaultDuplicated == 0 {
			t.Error("fault_duplicated 0; want some with dup 0.25 over 40 copies")
		}
		var order []string
		byLine := map[string][]string{} // Call-IDs by In-Reply-To and member
		for _, c := range sent {
			if el := c.at.Sub(t0); el < d || el >= d+j {
				t.Errorf("copy %q sent at +%v; want within [%v, %v)", c.body, el, d, d+j)
			}
			if c.to == "user0002" {
				order = append(order, c.body)
			}
			k := c.inReplyTo + " " + c.to
			if slices.Contains(byLine[k], c.callID) {
				t.Errorf("copy %q to %s: Call-ID %s reused", c.body, c.to, c.callID)
			}
			byLine[k] = append(byLine[k], c.callID)
		}
		if slices.IsSorted(order) {
			t.Errorf("user0002 got %q in order; want jitter to reorder some (seed 1)", order)
		}
	})
}

func TestFaultStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, Faults{StallFor: time.Second, StallEvery: 10 * time.Second})
		t0 := time.Now() // the server started now
		b.joinAll()

		b.post(1, "before")
		synctest.Wait()
		sent, replies := b.take()
		if len(replies) != 1 || replies[0].at != t0 || len(sent) != 2 {
			t.Fatalf("outside a window: answers %+v, copies %d; want the 200 and 2 copies at once", replies, len(sent))
		}

		time.Sleep(10*time.Second + 100*time.Millisecond) // in the first window [10s, 11s)
		go b.post(1, "held 1")
		synctest.Wait()
		go b.post(2, "held 2")
		synctest.Wait()
		b.post(1, "#list") // commands are not held
		synctest.Wait()
		if sent, replies := b.take(); len(replies) != 1 || replies[0].body != "#list" || len(sent) != 1 {
			t.Fatalf("in the window: answers %+v, sent %+v; want only the #list answer and notice", replies, sent)
		}
		time.Sleep(900*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if sent, replies := b.take(); len(replies) != 0 || len(sent) != 0 {
			t.Fatalf("before the window's end: answers %+v, sent %+v; want none", replies, sent)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		end := t0.Add(11 * time.Second)
		sent, replies = b.take()
		if len(replies) != 2 || replies[0].body != "held 1" || replies[1].body != "held 2" ||
			replies[0].at != end || replies[1].at != end || replies[0].status != 200 {
			t.Fatalf("at the window's end: answers %+v; want 200 to held 1 then held 2 at +11s", replies)
		}
		var bodies []string
		for _, c := range sent {
			bodies = append(bodies, c.body)
		}
		if want := []string{"[user0001]: held 1", "[user0001]: held 1", "[user0002]: held 2", "[user0002]: held 2"}; !slices.Equal(bodies, want) || sent[0].at != end {
			t.Fatalf("at the window's end: copies %q; want %q at +11s", bodies, want)
		}

		time.Sleep(4 * time.Second) // +15s: between windows
		b.post(3, "after")
		if _, replies := b.take(); len(replies) != 1 || replies[0].at != t0.Add(15*time.Second) {
			t.Fatalf("between windows: answers %+v; want one at once", replies)
		}
		time.Sleep(15*time.Second + 500*time.Millisecond) // +30.5s: the window at 20s held nothing
		go b.post(3, "held 3")
		synctest.Wait()
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if _, replies := b.take(); len(replies) != 1 || replies[0].at != t0.Add(31*time.Second) {
			t.Fatalf("window at 30s: answers %+v; want one at +31s", replies)
		}
		if st := b.s.Stats(); st.FaultStalls != 2 || st.Lines != 5 {
			t.Errorf("fault_stalls %d lines %d; want 2 (windows that held a line) and 5", st.FaultStalls, st.Lines)
		}
	})
}

// TestStallGateOrder pins the arrival order of held lines: a line leaves the gate
// only after every line queued before it is done, even after the window.
func TestStallGateOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var stalls atomic.Uint64
		g := &stallGate{start: time.Now(), dur: time.Second, period: 10 * time.Second, now: time.Now, stalls: &stalls}
		var mu sync.Mutex
		var through []string
		dones := map[string]func(){}
		pass := func(name string) {
			done := g.pass(t.Context())
			mu.Lock()
			through = append(through, name)
			dones[name] = done
			mu.Unlock()
		}
		got := func() []string {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(through)
		}
		finish := func(name string) {
			mu.Lock()
			done := dones[name]
			mu.Unlock()
			done()
		}

		pass("early") // before the first window: through at once
		finish("early")
		time.Sleep(10 * time.Second)
		go pass("a")
		synctest.Wait()
		go pass("b")
		if g := got(); !slices.Equal(g, []string{"early"}) {
			t.Fatalf("in the window: %v through; want only early", g)
		}
		time.Sleep(time.Second) // the window ends; a is not done yet
		if g := got(); !slices.Equal(g, []string{"early", "a"}) {
			t.Fatalf("after the window: %v through; want early, a (b waits for a)", g)
		}
		go pass("c") // after the window, but a and b are still queued
		if g := got(); len(g) != 2 {
			t.Fatalf("c arriving while the queue drains: %v through; want it to wait", g)
		}
		finish("a")
		if g := got(); !slices.Equal(g, []string{"early", "a", "b"}) {
			t.Fatalf("a done: %v through; want b next", g)
		}
		finish("b")
		if g := got(); !slices.Equal(g, []string{"early", "a", "b", "c"}) {
			t.Fatalf("b done: %v through; want c next", g)
		}
		finish("c")
		pass("d") // queue empty, outside a window: at once
		finish("d")
		if stalls.Load() != 1 {
			t.Errorf("stalls %d; want 1", stalls.Load())
		}
	})
}

// TestFaultDelayBounded: a full delay line holds the room's fan-out back instead of
// growing; every copy still goes out, in order, at least the delay after its
// fan-out.
func TestFaultDelayBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 20 * time.Millisecond
		b := newBubbleConfig(t, Config{Faults: Faults{Delay: d}, MaxPendingCopies: 2})
		b.joinAll()
		t0 := time.Now()
		for i := range 3 {
			b.post(1, fmt.Sprint(i)) // 2 copies each; the lane waits for room after the first line
		}
		time.Sleep(3 * d)
		synctest.Wait()
		sent, replies := b.take()
		if len(replies) != 3 {
			t.Fatalf("answers %+v; want 3", replies)
		}
		var got []string
		for _, c := range sent {
			got = append(got, fmt.Sprintf("%s@%v", c.body, c.at.Sub(t0)))
		}
		// A copy is due D after the lane fanned it out: line 1's first copy was
		// decided at 0 and waited for room, its second was fanned out at 20ms.
		want := []string{"[user0001]: 0@20ms", "[user0001]: 0@20ms", "[user0001]: 1@20ms", "[user0001]: 1@40ms", "[user0001]: 2@40ms", "[user0001]: 2@40ms"}
		if !slices.Equal(got, want) {
			t.Errorf("copies %q; want %q", got, want)
		}
	})
}

// TestFaultDelayDupNetwork runs Delay and a certain Dup over TCP with the tests'
// frozen clock: the delay line must not wait for a clock that does not move.
func TestFaultDelayDupNetwork(t *testing.T) {
	s, _ := startServer(t, func(c *Config) { c.Faults = Faults{Delay: time.Millisecond, Dup: 1} })
	a := newTestUA(t, s, "tcp", s.Users()[0])
	b := newTestUA(t, s, "tcp", s.Users()[1])
	a.register()
	b.register()
	a.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0001"))
	b.must(room1, "#join", 200)
	a.expect(wire.NoticeJoined("user0002"))
	b.expect(wire.NoticeJoined("user0002"))
	id := a.must(room1, "twice", 200)
	c1, c2 := b.expect("[user0001]: twice"), b.expect("[user0001]: twice")
	if header(c1, wire.HeaderInReplyTo) != id || header(c2, wire.HeaderInReplyTo) != id {
		t.Errorf("In-Reply-To %q and %q; want both %q", header(c1, wire.HeaderInReplyTo), header(c2, wire.HeaderInReplyTo), id)
	}
	if c1.CallID().Value() == c2.CallID().Value() {
		t.Error("the extra copy reuses the Call-ID")
	}
	waitFor(t, s, func(st Stats) bool { return st.CopiesOK == 2 })
	if st := s.Stats(); st.CopiesSent != 2 || st.FaultDuplicated != 1 || st.FaultDelayed != 2 {
		t.Errorf("copies_sent %d fault_duplicated %d fault_delayed %d; want 2, 1, 2", st.CopiesSent, st.FaultDuplicated, st.FaultDelayed)
	}
}
