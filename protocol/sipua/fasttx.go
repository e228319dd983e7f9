package sipua

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// UDP non-INVITE client transactions (RFC 3261 section 17.1.2) run by the UA
// itself instead of sipgo's transaction layer.
//
// Why: a load run's hot path is one MESSAGE transaction per op. sipgo gives
// each client transaction two runtime timers (A, B), an unbuffered response
// channel, and a goroutine per received response that hands it over through
// that channel; profiled at 8,000 MESSAGEs/s this hand-off and the thread
// wake-ups it causes were most of chatload's CPU per message, several times
// SIPp's (docs/performance.md). Here a transaction is a table entry: the
// request is written straight to the UA's connected socket, the response is
// matched by its branch in the socket's read loop before sipgo parses it (no
// goroutine, and a 2xx is not even parsed when the caller only wants the
// status), and one goroutine per UA serves every transaction's retransmission
// timer (Timer E: T1, doubling up to T2) and the timeout. INVITE keeps sipgo's
// transaction (its ACK handling matters), as do TCP and TLS (no
// retransmissions, and sipgo dials the connection).
//
// An Account's requests are written straight into their datagram (request.go),
// a Dialog's built by sipgo (start); both carry our own Via, whose branch is
// this UA's marker followed by the transaction's number in hex: "z9hG4bK" +
// "cl" + 8 random hex digits + "-" + number. A response carrying the marker is
// ours (the random part tells UAs apart); anything else is left to sipgo
// (responses to its own transactions) or to the inbox (incoming requests).

// txResult is the outcome of a transaction: the final status, the parsed
// response (nil for a 2xx to a status-only transaction) or the error that ended
// it without a final response.
type txResult struct {
	code   int
	reason string
	res    *sip.Response
	err    error
}

// parseMode is how much of a final response a transaction parses.
type parseMode uint8

const (
	// parseStatus: the status line of a 2xx only (txResult.res nil); any
	// other final response in full.
	parseStatus parseMode = iota
	// parseFull: every final response in full (sipgo's parser).
	parseFull
	// parseBinding: a 2xx to REGISTER keeps what a binding is read from
	// (Contact, Expires, Allow-Events: Account.Granted, the GRUU, provisioning)
	// and skips the rest, about half the cost of parseFull (profiled at
	// 100,000 users); other final responses in full.
	parseBinding
)

// fullIf is parseFull when full, else parseStatus.
func fullIf(full bool) parseMode {
	if full {
		return parseFull
	}
	return parseStatus
}

// clientTx is one transaction in the table. id, data, parse and done are set
// before it is published and sent after that; state decides who completes it.
type clientTx struct {
	id    uint64
	sent  int64 // ns since the table's base: start of the timers
	data  []byte
	parse parseMode
	done  func(txResult)
	stop  atomic.Pointer[func() bool] // context.AfterFunc's stop; nil when the ctx cannot end
	state atomic.Int32
}

const (
	txPending = iota
	txDone
)

// claim makes the caller the one that completes tx: exactly one caller gets
// true.
func (tx *clientTx) claim() bool { return tx.state.CompareAndSwap(txPending, txDone) }

func (tx *clientTx) pending() bool { return tx.state.Load() == txPending }

const txShards = 16

// txTable holds a UA's UDP transactions: a sharded map by number for the read
// loop's lookups, and one FIFO queue per timer stage for the timer goroutine.
// All the UA's transactions share one schedule (T1, T2 and the UA's timeout
// are fixed when it is made), so an entry's due time in stage k is
// sent+offsets[k] and every queue is in due order: pushing is an append,
// and the timer goroutine only ever looks at queue heads. A transaction
// finished early leaves its entry behind until the timer goroutine finds it at
// a queue head (at most one entry per transaction is queued at a time).
type txTable struct {
	write func([]byte) error
	// writeBatch sends several datagrams (one sendmmsg on Linux) and calls
	// failed for each one that could not be sent.
	writeBatch func(bufs [][]byte, failed func(i int, err error))
	marker     []byte // "branch=z9hG4bKcl" + 8 hex + "-"
	branch     string // marker without "branch="
	base       time.Time
	offsets    []int64 // ns after sending: the retransmissions, then the timeout (last)
	next       atomic.Uint64
	shards     [txShards]txShard

	// held are transactions started with hold, not yet written: flush sends
	// them together.
	hmu   sync.Mutex
	held  []*clientTx
	bufs  [][]byte // flush's scratch, under fmu
	fmu   sync.Mutex
	spare []*clientTx // the previous held slice, reused

	qmu     sync.Mutex
	queues  []txQueue
	planned int64 // when the timer goroutine will wake (ns since base); 0 = idle
	closed  bool
	failed  error // the error Close ends transactions with

	kick chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
}

type txShard struct {
	mu sync.Mutex
	m  map[uint64]*clientTx
	_  [40]byte // keep neighbouring shards' locks off one cache line
}

type txEntry struct {
	tx  *clientTx
	due int64
}

// txQueue is a FIFO of entries in due order.
type txQueue struct {
	buf  []txEntry
	head int
}

func (q *txQueue) push(e txEntry) {
	if q.head > 0 && q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	} else if q.head >= 1024 && q.head*2 >= len(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, e)
}

func (q *txQueue) empty() bool { return q.head == len(q.buf) }

func (q *txQueue) pop() txEntry {
	e := q.buf[q.head]
	q.buf[q.head] = txEntry{}
	q.head++
	return e
}

// txTick bounds how often the timer goroutine wakes: retransmissions and
// timeouts fire up to this late. Each wake also drops the finished
// transactions' entries from the queue heads, whatever their due time, so the
// next wake is for the oldest transaction still pending: under load, a
// transaction answered within T1 costs the timer goroutine nothing but its
// entry, and the goroutine wakes about once per T1 instead of once per tick.
const txTick = 10 * time.Millisecond

// txOffsets is the schedule of a transaction sent at 0: retransmissions at T1,
// then intervals doubling up to T2, while before timeout; the timeout last.
func txOffsets(t1, t2, timeout time.Duration) []int64 {
	var offs []int64
	step, at := t1, t1
	for t1 > 0 && at < timeout {
		offs = append(offs, int64(at))
		step = min(2*step, t2)
		at += step
	}
	return append(offs, int64(timeout))
}

// newTxTableBatch starts the timer goroutine. write sends a datagram to the
// target, writeBatch several (nil: write each on its own); t1 and t2 are RFC
// 3261's (the UA gives sipgo's, see SetTimers); timeout ends a transaction
// without a final response.
func newTxTableBatch(write func([]byte) error, writeBatch func([][]byte, func(int, error)), t1, t2, timeout time.Duration) *txTable {
	if writeBatch == nil {
		writeBatch = func(bufs [][]byte, failed func(int, error)) {
			for i, b := range bufs {
				if err := write(b); err != nil {
					failed(i, err)
				}
			}
		}
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	branch := "z9hG4bKcl" + hex.EncodeToString(r[:]) + "-"
	t := &txTable{
		write:      write,
		writeBatch: writeBatch,
		branch:     branch,
		marker:     []byte("branch=" + branch),
		base:       time.Now(),
		offsets:    txOffsets(t1, t2, timeout),
		kick:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
	}
	t.queues = make([]txQueue, len(t.offsets))
	for i := range t.shards {
		t.shards[i].m = map[uint64]*clientTx{}
	}
	t.wg.Add(1)
	go t.timers()
	return t
}

func (t *txTable) now() int64 { return int64(time.Since(t.base)) }

func (t *txTable) shard(id uint64) *txShard { return &t.shards[id%txShards] }

// start sends req as a new transaction and calls done exactly once with its
// outcome: from the UA's read loop (a final response), the timer goroutine
// (timeout), ctx's cancellation, a refusal by the target, Close, or from start
// itself when the request cannot be sent. done must not block. req must have
// no Via yet; start adds ours. With hold, the request is only queued: the next
// flush sends it, with the others queued by then, in one system call.
func (t *txTable) start(ctx context.Context, req *sip.Request, host string, port int, parse parseMode, hold bool, done func(txResult)) {
	id := t.nextID()
	v := t.via(id, host, port)
	req.PrependHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: host, Port: port,
		Params: sip.HeaderParams{{K: "branch", V: v.branch + strconv.FormatUint(id, 16)}, {K: "rport"}}})
	w := bufWriter(make([]byte, 0, 384+len(req.Body())))
	req.StringWrite(&w)
	t.startData(ctx, id, w, parse, hold, done)
}

// nextID numbers a new transaction.
func (t *txTable) nextID() uint64 { return t.next.Add(1) }

// via is the Via of transaction id sent from host:port.
func (t *txTable) via(id uint64, host string, port int) viaSpec {
	return viaSpec{branch: t.branch, id: id, host: host, port: port}
}

// startData is start for a request already written, with the Via of
// via(id, ...): see start.
func (t *txTable) startData(ctx context.Context, id uint64, data []byte, parse parseMode, hold bool, done func(txResult)) {
	if len(data) > sip.UDPMTUSize-200 {
		done(txResult{err: sip.ErrUDPMTUCongestion})
		return
	}
	tx := &clientTx{id: id, data: data, parse: parse, done: done}

	sh := t.shard(id)
	sh.mu.Lock()
	sh.m[id] = tx
	sh.mu.Unlock()

	t.qmu.Lock()
	if t.closed {
		t.qmu.Unlock()
		t.finish(tx, txResult{err: t.failed})
		return
	}
	tx.sent = t.now()
	due := tx.sent + t.offsets[0]
	t.queues[0].push(txEntry{tx: tx, due: due})
	wake := t.planned == 0 || due < t.planned
	t.qmu.Unlock()
	if wake {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { t.finish(tx, txResult{err: ctx.Err()}) })
		tx.stop.Store(&stop)
		if !tx.pending() { // finished before stop was stored: finish did not see it
			if s := tx.stop.Swap(nil); s != nil {
				(*s)()
			}
		}
	}
	if hold {
		t.hmu.Lock()
		t.held = append(t.held, tx)
		t.hmu.Unlock()
		return
	}
	if err := t.write(tx.data); err != nil {
		t.finish(tx, txResult{err: err})
	}
}

// heldCount is how many transactions wait for flush (tests).
func (t *txTable) heldCount() int {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	return len(t.held)
}

// flush sends the held transactions' requests. A request that cannot be sent
// fails its transaction.
func (t *txTable) flush() {
	t.fmu.Lock()
	defer t.fmu.Unlock()
	t.hmu.Lock()
	txs := t.held
	t.held = t.spare[:0]
	t.hmu.Unlock()
	if len(txs) == 0 {
		t.spare = txs
		return
	}
	bufs := t.bufs[:0]
	live := txs[:0]
	for _, tx := range txs {
		if tx.pending() { // not cancelled or failed meanwhile
			live = append(live, tx)
			bufs = append(bufs, tx.data)
		}
	}
	txs = live
	t.writeBatch(bufs, func(i int, err error) { t.finish(txs[i], txResult{err: err}) })
	clear(bufs)
	t.bufs = bufs[:0]
	clear(txs)
	t.spare = txs[:0]
}

// finish completes tx with r unless it is complete already.
func (t *txTable) finish(tx *clientTx, r txResult) {
	if !tx.claim() {
		return
	}
	sh := t.shard(tx.id)
	sh.mu.Lock()
	delete(sh.m, tx.id)
	sh.mu.Unlock()
	if s := tx.stop.Swap(nil); s != nil {
		(*s)()
	}
	tx.done(r)
}

// failAll completes every transaction in flight with err (the target refused,
// or the UA is closing).
func (t *txTable) failAll(err error) {
	var all []*clientTx
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, tx := range sh.m {
			all = append(all, tx)
		}
		sh.mu.Unlock()
	}
	for _, tx := range all {
		t.finish(tx, txResult{err: err})
	}
}

// close fails what is in flight with err and stops the timer goroutine; later
// starts fail with err too.
func (t *txTable) close(err error) {
	t.qmu.Lock()
	already := t.closed
	t.closed, t.failed = true, err
	t.qmu.Unlock()
	if already {
		return
	}
	close(t.quit)
	t.wg.Wait()
	t.failAll(err)
}

// onDatagram takes a datagram the UA's socket received and reports whether it
// was a response to one of the table's transactions (then it is handled and
// sipgo never sees it). It runs on the read loop: the final response completes
// its transaction right here.
func (t *txTable) onDatagram(b []byte) bool {
	if len(b) < 12 || string(b[:8]) != "SIP/2.0 " {
		return false
	}
	head := b
	if i := bytes.Index(b, crlfcrlf); i >= 0 {
		head = b[:i]
	}
	i := bytes.Index(head, t.marker)
	if i < 0 {
		return false
	}
	id, ok := parseHexID(head[i+len(t.marker):])
	code, cok := statusCode(b[8:11])
	if !ok || !cok {
		return false // not one we wrote: let sipgo judge it
	}
	sh := t.shard(id)
	sh.mu.Lock()
	tx := sh.m[id]
	sh.mu.Unlock()
	if tx == nil || code < 200 {
		// A retransmitted final response to a finished transaction, or a
		// provisional one: nothing to do (the retransmission schedule keeps
		// going for a provisional response; the RFC's T2 interval in Proceeding
		// is the schedule's cap anyway).
		return true
	}
	r := txResult{code: code, reason: reasonPhrase(b)}
	if tx.parse == parseBinding && code < 300 {
		if res, ok := bindingResponse(head, code, r.reason); ok {
			r.res = res
			t.finish(tx, r)
			return true
		}
	}
	if tx.parse != parseStatus || code >= 300 {
		msg, err := sip.ParseMessage(bytes.Clone(b))
		res, isRes := msg.(*sip.Response)
		if err != nil || !isRes {
			r = txResult{err: errBadResponse{err}}
		} else {
			r.res = res
		}
	}
	t.finish(tx, r)
	return true
}

var crlfcrlf = []byte("\r\n\r\n")

// bindingResponse is a response of status code and reason holding only the
// headers of head (a response's header section) that a binding is read from:
// Contact (m), Expires and Allow-Events (u), parsed as sipgo's parser does.
// False when head has folded lines or one of those headers does not parse:
// the caller parses it all then, and reports what is wrong.
func bindingResponse(head []byte, code int, reason string) (*sip.Response, bool) {
	i := bytes.Index(head, crlf)
	if i < 0 {
		return nil, false
	}
	var hs []sip.Header
	for rest := head[i+2:]; len(rest) > 0; {
		line := rest
		if j := bytes.Index(rest, crlf); j >= 0 {
			line, rest = rest[:j], rest[j+2:]
		} else {
			rest = nil
		}
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			return nil, false // a folded line (RFC 3261 7.3.1): sipgo's parser joins it
		}
		name, _, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return nil, false
		}
		name = bytes.TrimSpace(name)
		if slices.ContainsFunc(bindingNames, func(n []byte) bool { return bytes.EqualFold(name, n) }) {
			var err error
			if hs, err = bindingHeaders.ParseHeader(hs, line); err != nil {
				return nil, false
			}
		}
	}
	res := sip.NewResponse(code, reason)
	for _, h := range hs {
		res.AppendHeader(h)
	}
	return res, true
}

var crlf = []byte("\r\n")

// bindingNames are the headers bindingResponse keeps, compact forms too.
var bindingNames = [][]byte{[]byte("Contact"), []byte("m"), []byte("Expires"), []byte("Allow-Events"), []byte("u")}

// bindingHeaders is sipgo's own header parser (the one sip.ParseMessage uses).
var bindingHeaders = sip.HeadersParser(sip.DefaultHeadersParser())

// errBadResponse: a response we matched but sipgo cannot parse.
type errBadResponse struct{ err error }

func (e errBadResponse) Error() string {
	if e.err == nil {
		return "unparsable response"
	}
	return "unparsable response: " + e.err.Error()
}
func (e errBadResponse) Unwrap() error { return e.err }

func parseHexID(b []byte) (uint64, bool) {
	var v uint64
	n := 0
	for ; n < len(b) && n < 16; n++ {
		c := b[n]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return v, n > 0
		}
	}
	return v, n > 0
}

func statusCode(b []byte) (int, bool) {
	if len(b) != 3 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, v >= 100 && v <= 699
}

// reasonPhrase is the status line's text after the code ("OK").
func reasonPhrase(b []byte) string {
	if len(b) < 12 {
		return ""
	}
	line := b[12:]
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		line = line[:i]
	}
	// The common phrases without an allocation.
	switch string(line) {
	case "OK":
		return "OK"
	case "Accepted":
		return "Accepted"
	}
	return string(line)
}

// timers is the table's one goroutine: it retransmits and times out
// transactions at their queue heads' due times, waking at most once per tick,
// and sleeps until kicked while nothing is queued.
func (t *txTable) timers() {
	defer t.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// fired is a transaction whose timer of stage k went off.
	type fired struct {
		tx *clientTx
		k  int
	}
	var due []fired // popped this round, handled outside the lock
	last := int64(0)
	for {
		now := t.now()
		t.qmu.Lock()
		for k := range t.queues {
			q := &t.queues[k]
			for !q.empty() {
				e := &q.buf[q.head]
				if e.tx.pending() && e.due > now {
					break
				}
				if e.tx.pending() {
					due = append(due, fired{e.tx, k})
				}
				q.pop()
			}
		}
		t.qmu.Unlock()
		var expired []*clientTx
		var again []fired
		for _, e := range due {
			tx, k := e.tx, e.k
			if !tx.pending() {
				continue
			}
			if k == len(t.offsets)-1 {
				expired = append(expired, tx)
				continue
			}
			_ = t.write(tx.data) // a failed write shows as a refusal or a timeout
			again = append(again, fired{tx, k + 1})
		}
		clear(due)
		due = due[:0]
		for _, tx := range expired {
			t.finish(tx, txResult{err: context.DeadlineExceeded})
		}

		t.qmu.Lock()
		for _, e := range again {
			k := e.k
			t.queues[k].push(txEntry{tx: e.tx, due: e.tx.sent + t.offsets[k]})
		}
		next := int64(0)
		for k := range t.queues {
			if q := &t.queues[k]; !q.empty() && (next == 0 || q.buf[q.head].due < next) {
				next = q.buf[q.head].due
			}
		}
		if next != 0 {
			next = max(next, last+int64(txTick), 1)
		}
		t.planned = next
		t.qmu.Unlock()
		last = now

		if next == 0 {
			select {
			case <-t.kick:
				continue
			case <-t.quit:
				return
			}
		}
		timer.Reset(time.Duration(next - t.now()))
		select {
		case <-timer.C:
		case <-t.kick:
			timer.Stop()
		case <-t.quit:
			return
		}
	}
}

// bufWriter collects a message's text (io.StringWriter) into a byte slice.
type bufWriter []byte

func (w *bufWriter) WriteString(s string) (int, error) {
	*w = append(*w, s...)
	return len(s), nil
}
