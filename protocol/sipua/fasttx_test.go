package sipua

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emiago/sipgo/sip"
)

// wire is the fake socket of a txTable under test: it keeps what was written.
type wire struct {
	mu  sync.Mutex
	out [][]byte
	err error // returned by the next writes when set
}

func (w *wire) write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.out = append(w.out, bytes.Clone(b))
	return nil
}

func (w *wire) sent() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.out)
}

// outcome collects the results a transaction's done received.
type outcome struct {
	mu  sync.Mutex
	got []txResult
}

func (o *outcome) done(r txResult) {
	o.mu.Lock()
	o.got = append(o.got, r)
	o.mu.Unlock()
}

func (o *outcome) results() []txResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

func testRequest(t *testing.T, body string) *sip.Request {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri("sip:room001@conf.example.test", &u); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.MESSAGE, u)
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}, Params: sip.HeaderParams{{K: "tag", V: "t1"}}})
	req.AppendHeader(&sip.ToHeader{Address: u})
	cid := sip.CallIDHeader("call-1")
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.MESSAGE})
	req.SetBody([]byte(body))
	return req
}

// answer is the response a server would send to the request datagram b.
func answer(t *testing.T, b []byte, code int, reason string, hdrs ...sip.Header) []byte {
	t.Helper()
	msg, err := sip.ParseMessage(bytes.Clone(b))
	if err != nil {
		t.Fatalf("our request does not parse: %v\n%s", err, b)
	}
	res := sip.NewResponseFromRequest(msg.(*sip.Request), code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return []byte(res.String())
}

func newTestTable(t *testing.T, w *wire) *txTable {
	t.Helper()
	tt := newTxTableBatch(w.write, nil, 500*time.Millisecond, 4*time.Second, 5*time.Second)
	t.Cleanup(func() { tt.close(context.Canceled) })
	return tt
}

func TestTxOffsets(t *testing.T) {
	ms := func(v ...int) []int64 {
		var out []int64
		for _, x := range v {
			out = append(out, int64(time.Duration(x)*time.Millisecond))
		}
		return out
	}
	for _, c := range []struct {
		t1, t2, timeout time.Duration
		want            []int64
	}{
		{500 * time.Millisecond, 4 * time.Second, 5 * time.Second, ms(500, 1500, 3500, 5000)},
		{500 * time.Millisecond, 4 * time.Second, 20 * time.Second, ms(500, 1500, 3500, 7500, 11500, 15500, 19500, 20000)},
		{time.Second, time.Second, 3 * time.Second, ms(1000, 2000, 3000)},
		{time.Second, 4 * time.Second, time.Second, ms(1000)},
		{2 * time.Second, 4 * time.Second, time.Second, ms(1000)},
	} {
		if got := txOffsets(c.t1, c.t2, c.timeout); !slices.Equal(got, c.want) {
			t.Errorf("txOffsets(%v, %v, %v) = %v; want %v", c.t1, c.t2, c.timeout, got, c.want)
		}
	}
}

// A request unanswered at T1 is sent again, byte for byte; its final response
// ends it (a 2xx without parsing), and a retransmission of that response
// afterwards is swallowed without a second outcome.
func TestTxRetransmitsUntilAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w wire
		tt := newTestTable(t, &w)
		var o outcome
		tt.start(t.Context(), testRequest(t, "hello"), "127.0.0.1", 5060, parseStatus, false, o.done)
		synctest.Wait()
		if n := len(w.sent()); n != 1 {
			t.Fatalf("%d datagrams at once; want 1", n)
		}
		time.Sleep(499 * time.Millisecond)
		synctest.Wait()
		if n := len(w.sent()); n != 1 {
			t.Fatalf("%d datagrams before T1; want 1", n)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		out := w.sent()
		if len(out) != 2 || !bytes.Equal(out[0], out[1]) {
			t.Fatalf("after T1: %d datagrams; want the request twice, identical", len(out))
		}
		if !bytes.Contains(out[0], []byte("Via: SIP/2.0/UDP 127.0.0.1:5060;branch="+tt.branch+"1;rport\r\n")) {
			t.Errorf("request without our Via:\n%s", out[0])
		}
		if ok := tt.onDatagram(answer(t, out[0], 100, "Trying")); !ok {
			t.Error("provisional response not taken as ours")
		}
		synctest.Wait()
		if got := o.results(); len(got) != 0 {
			t.Fatalf("a 100 ended the transaction: %+v", got)
		}
		ok200 := answer(t, out[0], 200, "OK")
		if !tt.onDatagram(ok200) {
			t.Fatal("200 not taken as ours")
		}
		got := o.results()
		if len(got) != 1 || got[0].code != 200 || got[0].reason != "OK" || got[0].res != nil || got[0].err != nil {
			t.Fatalf("outcome %+v; want 200 OK, not parsed", got)
		}
		if !tt.onDatagram(ok200) {
			t.Error("retransmitted 200 not swallowed")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n, m := len(w.sent()), len(o.results()); n != 2 || m != 1 {
			t.Errorf("after the answer: %d datagrams, %d outcomes; want 2 and 1", n, m)
		}
	})
}

// Unanswered, a request is retransmitted at T1, 3*T1, 7*T1 (doubling up to T2)
// and times out at the table's timeout.
func TestTxTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w wire
		tt := newTestTable(t, &w)
		var o outcome
		start := time.Now()
		var at time.Duration
		tt.start(t.Context(), testRequest(t, "hello"), "127.0.0.1", 5060, parseFull, false, func(r txResult) {
			at = time.Since(start)
			o.done(r)
		})
		time.Sleep(time.Minute)
		synctest.Wait()
		got := o.results()
		if len(got) != 1 || !errors.Is(got[0].err, context.DeadlineExceeded) {
			t.Fatalf("outcome %+v; want one, DeadlineExceeded", got)
		}
		if at != 5*time.Second {
			t.Errorf("timed out after %v; want 5s", at)
		}
		if n := len(w.sent()); n != 4 {
			t.Errorf("%d datagrams; want 4 (at 0, 0.5, 1.5, 3.5 s)", n)
		}
	})
}

// Cancelling the context ends the transaction with its error, and nothing is
// retransmitted after that.
func TestTxCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w wire
		tt := newTestTable(t, &w)
		var o outcome
		ctx, cancel := context.WithCancel(t.Context())
		tt.start(ctx, testRequest(t, "hello"), "127.0.0.1", 5060, parseStatus, false, o.done)
		time.Sleep(100 * time.Millisecond)
		cancel()
		synctest.Wait()
		got := o.results()
		if len(got) != 1 || !errors.Is(got[0].err, context.Canceled) {
			t.Fatalf("outcome %+v; want Canceled", got)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(w.sent()); n != 1 {
			t.Errorf("%d datagrams; want 1 (no retransmission once cancelled)", n)
		}
		if tx := tt.shard(1).m[1]; tx != nil {
			t.Error("cancelled transaction still in the table")
		}
	})
}

// A refusal fails every transaction in flight; after close, a new transaction
// fails at once with close's error; a failed write fails its transaction.
func TestTxFailAllCloseWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w wire
		tt := newTestTable(t, &w)
		var a, b outcome
		tt.start(t.Context(), testRequest(t, "a"), "127.0.0.1", 5060, parseStatus, false, a.done)
		tt.start(t.Context(), testRequest(t, "b"), "127.0.0.1", 5060, parseStatus, false, b.done)
		tt.failAll(errRefused{syscall.ECONNREFUSED})
		for _, o := range []*outcome{&a, &b} {
			if got := o.results(); len(got) != 1 || !errors.Is(got[0].err, syscall.ECONNREFUSED) {
				t.Errorf("outcome %+v; want ECONNREFUSED", got)
			}
		}

		w.mu.Lock()
		w.err = syscall.EHOSTUNREACH
		w.mu.Unlock()
		var c outcome
		tt.start(t.Context(), testRequest(t, "c"), "127.0.0.1", 5060, parseStatus, false, c.done)
		if got := c.results(); len(got) != 1 || !errors.Is(got[0].err, syscall.EHOSTUNREACH) {
			t.Errorf("failed write: outcome %+v; want EHOSTUNREACH", got)
		}

		tt.close(context.Canceled)
		var d outcome
		tt.start(t.Context(), testRequest(t, "d"), "127.0.0.1", 5060, parseStatus, false, d.done)
		if got := d.results(); len(got) != 1 || !errors.Is(got[0].err, context.Canceled) {
			t.Errorf("after close: outcome %+v; want Canceled", got)
		}
	})
}

// Responses: a non-2xx is always parsed (challenges need their headers), a 2xx
// only when the caller asked for it; datagrams that are not responses to this
// table's transactions are left to sipgo.
func TestTxResponses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w wire
		tt := newTestTable(t, &w)
		var busy, full outcome
		tt.start(t.Context(), testRequest(t, "a"), "127.0.0.1", 5060, parseStatus, false, busy.done)
		tt.start(t.Context(), testRequest(t, "b"), "127.0.0.1", 5060, parseFull, false, full.done)
		out := w.sent()

		for _, b := range [][]byte{
			[]byte("MESSAGE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1\r\n\r\n"),
			[]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKother\r\n\r\n"),
			[]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;" + string(tt.marker) + "zz\r\n\r\n"),
			[]byte("SIP/2.0 2x0 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;" + string(tt.marker) + "1\r\n\r\n"),
			[]byte("SIP/2.0 200 OK\r\n\r\nbody " + string(tt.marker) + "1"),
		} {
			if tt.onDatagram(b) {
				t.Errorf("taken as ours: %q", b)
			}
		}

		ww := sip.NewHeader("WWW-Authenticate", `Digest realm="example.test", nonce="n1"`)
		tt.onDatagram(answer(t, out[0], 486, "Busy Here", ww))
		got := busy.results()
		if len(got) != 1 || got[0].code != 486 || got[0].reason != "Busy Here" || got[0].res == nil {
			t.Fatalf("486: outcome %+v; want 486 Busy Here, parsed", got)
		}
		if h := got[0].res.GetHeader("WWW-Authenticate"); h == nil || !strings.Contains(h.Value(), `nonce="n1"`) {
			t.Errorf("parsed 486 lost its headers: %v", got[0].res)
		}
		tt.onDatagram(answer(t, out[1], 202, "Accepted"))
		got = full.results()
		if len(got) != 1 || got[0].code != 202 || got[0].res == nil || got[0].res.CallID().Value() != "call-1" {
			t.Fatalf("202: outcome %+v; want 202, parsed", got)
		}
	})
}

// A request over the UDP size limit is refused as sipgo refuses it, unsent.
func TestTxTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w wire
		tt := newTestTable(t, &w)
		var o outcome
		tt.start(t.Context(), testRequest(t, strings.Repeat("x", 1400)), "127.0.0.1", 5060, parseStatus, false, o.done)
		if got := o.results(); len(got) != 1 || !errors.Is(got[0].err, sip.ErrUDPMTUCongestion) {
			t.Errorf("outcome %+v; want ErrUDPMTUCongestion", got)
		}
		if n := len(w.sent()); n != 0 {
			t.Errorf("%d datagrams sent", n)
		}
	})
}

// Held requests wait for flush, which hands them to the batch writer together;
// one the writer refuses fails its transaction, and one cancelled before the
// flush is not sent.
func TestTxHoldFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w wire
		var batches [][]int // the sizes the batch writer got
		var mu sync.Mutex
		tt := newTxTableBatch(w.write, func(bufs [][]byte, failed func(int, error)) {
			mu.Lock()
			batches = append(batches, []int{len(bufs)})
			mu.Unlock()
			for i, b := range bufs {
				if bytes.Contains(b, []byte("refuse-me")) {
					failed(i, syscall.ECONNREFUSED)
					continue
				}
				_ = w.write(b)
			}
		}, 500*time.Millisecond, 4*time.Second, 5*time.Second)
		t.Cleanup(func() { tt.close(context.Canceled) })

		var a, b, c, d outcome
		ctx, cancel := context.WithCancel(t.Context())
		tt.start(t.Context(), testRequest(t, "a"), "127.0.0.1", 5060, parseStatus, true, a.done)
		tt.start(t.Context(), testRequest(t, "refuse-me"), "127.0.0.1", 5060, parseStatus, true, b.done)
		tt.start(ctx, testRequest(t, "c"), "127.0.0.1", 5060, parseStatus, true, c.done)
		tt.start(t.Context(), testRequest(t, "d"), "127.0.0.1", 5060, parseStatus, true, d.done)
		cancel()
		synctest.Wait()
		if n := len(w.sent()); n != 0 {
			t.Fatalf("%d datagrams before the flush", n)
		}
		tt.flush()
		out := w.sent()
		if len(out) != 2 || !bytes.HasSuffix(out[0], []byte("\r\n\r\na")) || !bytes.HasSuffix(out[1], []byte("\r\n\r\nd")) {
			t.Fatalf("flush sent %d datagrams; want a and d", len(out))
		}
		if len(batches) != 1 || batches[0][0] != 3 {
			t.Errorf("batches %v; want one of 3 (the cancelled one left out)", batches)
		}
		if got := b.results(); len(got) != 1 || !errors.Is(got[0].err, syscall.ECONNREFUSED) {
			t.Errorf("refused datagram: outcome %+v", got)
		}
		if got := c.results(); len(got) != 1 || !errors.Is(got[0].err, context.Canceled) {
			t.Errorf("cancelled before the flush: outcome %+v", got)
		}
		tt.onDatagram(answer(t, out[0], 200, "OK"))
		if got := a.results(); len(got) != 1 || got[0].code != 200 {
			t.Errorf("a: outcome %+v; want 200", got)
		}
		tt.flush() // nothing held: nothing sent
		if n := len(w.sent()); n != 2 {
			t.Errorf("an empty flush sent something: %d datagrams", n)
		}
	})
}

// TestTxBindingResponse: a 2xx to a refresh (parseBinding) keeps exactly the
// headers a binding is read from, as sipgo's parser reads them (the Contacts
// with a quoted GRUU, the Expires header, Allow-Events), so that
// Account.Granted reads the same from it as from the full parse; a response
// with a folded line, and any non-2xx, is parsed in full.
func TestTxBindingResponse(t *testing.T) {
	contacts := []sip.Header{
		sip.NewHeader("Contact", `<sip:bob@10.0.0.9:5062>;expires=90`),
		sip.NewHeader("Contact", `<sip:alice@127.0.0.1:5070;transport=udp>;expires=240;gruu="sip:alice@example.test;gr=urn:uuid:1;x=y"`),
		sip.NewHeader("Expires", "600"),
		sip.NewHeader("Allow-Events", "vnd-microsoft-provisioning-v2, presence"),
		sip.NewHeader("Server", "RTC/5.0"),
	}
	a := &Account{aor: sip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}, key: "alice", ua: &UA{advert: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5070}}}
	synctest.Test(t, func(t *testing.T) {
		var w wire
		tt := newTestTable(t, &w)
		var lean, full, folded, challenged outcome
		for _, o := range []*outcome{&lean, &full, &folded, &challenged} {
			mode := parseBinding
			if o == &full {
				mode = parseFull
			}
			tt.start(t.Context(), testRequest(t, "r"), "127.0.0.1", 5060, mode, false, o.done)
		}
		out := w.sent()
		tt.onDatagram(answer(t, out[0], 200, "OK", contacts...))
		tt.onDatagram(answer(t, out[1], 200, "OK", contacts...))
		f := answer(t, out[2], 200, "OK", contacts...)
		f = bytes.Replace(f, []byte("Server: RTC/5.0"), []byte("Server: RTC/5.0\r\n  (folded)"), 1)
		tt.onDatagram(f)
		tt.onDatagram(answer(t, out[3], 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", `Digest realm="r", nonce="n"`)))

		l, fu := lean.results(), full.results()
		if len(l) != 1 || l[0].res == nil || len(fu) != 1 || fu[0].res == nil {
			t.Fatalf("outcomes %+v, %+v; want a parsed 200 each", l, fu)
		}
		names := func(res *sip.Response) (out []string) {
			for _, h := range res.Headers() {
				out = append(out, h.Name()+": "+h.Value())
			}
			return out
		}
		want := []string{}
		for _, h := range names(fu[0].res) {
			if n, _, _ := strings.Cut(h, ":"); n == "Contact" || n == "Expires" || n == "Allow-Events" {
				want = append(want, h)
			}
		}
		if got := names(l[0].res); strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != 4 {
			t.Errorf("binding headers:\n%s\nwant (as parsed in full):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if l[0].res.StatusCode != 200 || l[0].res.Reason != "OK" {
			t.Errorf("status %d %q; want 200 OK", l[0].res.StatusCode, l[0].res.Reason)
		}
		if g, ok := a.Granted(l[0].res); !ok || g != 240*time.Second {
			t.Errorf("granted %v %v from the binding headers; want 240s (the own Contact's)", g, ok)
		}
		if c := a.ownContact(l[0].res); c == nil {
			t.Error("own Contact not found in the binding headers")
		} else if v, _ := HeaderParam(c.Value(), "gruu"); v != "sip:alice@example.test;gr=urn:uuid:1;x=y" {
			t.Errorf("gruu %q; want the quoted GRUU whole", v)
		}
		if r := folded.results(); len(r) != 1 || r[0].res == nil || r[0].res.GetHeader("Server") == nil {
			t.Errorf("folded 200: %+v; want parsed in full (Server kept)", r)
		}
		if r := challenged.results(); len(r) != 1 || r[0].res == nil || r[0].res.GetHeader("WWW-Authenticate") == nil {
			t.Errorf("401: %+v; want parsed in full", r)
		}
	})
}

// TestGrantedExpiresHeader: a registrar that says the expiry only in an Expires
// header (pidgin-sipe reads a Lync registrar's grant there; sipgo keeps the
// header generic) is read.
func TestGrantedExpiresHeader(t *testing.T) {
	a := &Account{aor: sip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}, key: "alice", ua: &UA{advert: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5070}}}
	res := sip.NewResponse(200, "OK")
	res.AppendHeader(sip.NewHeader("Contact", "<sip:alice@127.0.0.1:5070>"))
	res.AppendHeader(sip.NewHeader("Expires", " 7200"))
	if g, ok := a.Granted(res); !ok || g != 2*time.Hour {
		t.Errorf("granted %v %v; want 2h from the Expires header", g, ok)
	}
}
