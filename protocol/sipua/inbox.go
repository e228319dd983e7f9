package sipua

import (
	"bytes"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The UDP MESSAGE and OPTIONS requests the UA receives (every chat line copy a
// user gets) are answered and handed to their Account in the socket's read
// loop, as the responses to the UA's own transactions are (fasttx.go), instead
// of by sipgo's server transactions.
//
// Why: sipgo starts a goroutine per received request and keeps its server
// transaction for Timer J (64*T1 = 32 s) to absorb retransmissions, about
// 3.9 KiB each: a fan-out run receiving 10,000 copies per second held over a
// GiB for that alone, and the goroutine hand-off cost more CPU than the copy.
// Here the 200 is written at once, and a retransmission is recognised by a
// small record of the requests answered within Timer J (the key of RFC 3261
// section 17.2.3: branch, sent-by, method), answered again with the same 200
// (the To tag is derived from the key) and not handed on a second time.
// Requests of other methods, and requests without an RFC 3261 branch, still go
// to sipgo.

// inbox is the read loop's state for incoming requests. Only the read loop
// uses it: no locks.
type inbox struct {
	ua     *UA
	src    string // the target, source of every datagram ("ip:port")
	linger int64  // Timer J, ns
	base   time.Time
	seen   map[string]struct{}
	order  []seenEntry // in expiry order
	head   int
	out    []byte // the response being written
}

type seenEntry struct {
	key string
	exp int64
}

func newInbox(ua *UA, src string, linger time.Duration) *inbox {
	return &inbox{ua: ua, src: src, linger: int64(linger), base: time.Now(), seen: map[string]struct{}{}}
}

var (
	methodMessage = []byte("MESSAGE ")
	methodOptions = []byte("OPTIONS ")
)

// onDatagram reports whether b was an incoming MESSAGE or OPTIONS it handled.
func (in *inbox) onDatagram(b []byte) bool {
	if !bytes.HasPrefix(b, methodMessage) && !bytes.HasPrefix(b, methodOptions) {
		return false
	}
	msg, err := sip.ParseMessage(bytes.Clone(b)) // the request outlives the read buffer
	if err != nil {
		return false // sipgo says what is wrong with it
	}
	req, ok := msg.(*sip.Request)
	via := req.Via()
	if !ok || via == nil {
		return false
	}
	branch, _ := via.Params.Get("branch")
	if len(branch) <= len(sip.RFC3261BranchMagicCookie) || branch[:len(sip.RFC3261BranchMagicCookie)] != sip.RFC3261BranchMagicCookie {
		return false // no RFC 3261 transaction key: sipgo's matching
	}
	key := branch + " " + via.Host + ":" + strconv.Itoa(via.Port) + " " + string(req.Method)
	req.SetTransport("UDP")
	req.SetSource(in.src)

	res := okResponseTag(req, toTag(key))
	a := in.ua.route(req)
	refused := a != nil && !a.accept(req)
	if refused {
		res.StatusCode, res.Reason = sip.StatusForbidden, ReasonBadSignature
	}
	w := bufWriter(in.out[:0])
	res.StringWrite(&w)
	in.out = w
	if err := in.ua.udp.write(w); err != nil {
		in.ua.log.Debug("answering incoming request failed", "method", req.Method, "error", err)
	}

	now := int64(time.Since(in.base))
	in.expire(now)
	if _, dup := in.seen[key]; dup {
		return true // a retransmission: answered again, handed on once
	}
	in.seen[key] = struct{}{}
	in.order = append(in.order, seenEntry{key: key, exp: now + in.linger})

	if req.Method == sip.OPTIONS || refused {
		return true
	}
	if a != nil && a.handler != nil && !a.closed.Load() {
		a.handler(req)
	}
	return true
}

// expire forgets the requests answered more than Timer J ago.
func (in *inbox) expire(now int64) {
	for in.head < len(in.order) && in.order[in.head].exp <= now {
		delete(in.seen, in.order[in.head].key)
		in.order[in.head] = seenEntry{}
		in.head++
	}
	if in.head > 0 && in.head*2 >= len(in.order) {
		n := copy(in.order, in.order[in.head:])
		clear(in.order[n:])
		in.order, in.head = in.order[:n], 0
	}
}

// toTag is the To tag of our 200 to the request of key: the same for its
// retransmissions, as RFC 3261 wants of a retransmitted response.
func toTag(key string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	var sum [8]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
