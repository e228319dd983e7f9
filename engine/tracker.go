package engine

import (
	"hash/crc32"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatload/chatload/report"
)

// Body format of every posted message (version 1):
//
//	cl1 <runid> <stream> <seq> <crc32-hex> <padding>
//
// The checksum (IEEE CRC-32) covers "<runid> <stream> <seq>" and the padding, so a
// change anywhere in a copy is caught. The padding is generated from (stream, seq),
// which makes every copy of a message byte-identical and lets a body be rebuilt from
// its key alone. A body is MessageSize bytes long, or just the header when that does
// not fit (about 30 bytes plus the run id). It starts with "cl1", never '#': imc treats
// '#' lines as commands.
const (
	bodyMagic = "cl1 "
	crcLen    = 8 // hex digits
)

// nShards spreads the tracker's lock traffic: deliveries arrive on many driver
// goroutines at once. 64 is well above the cores of a load generator and cheap to
// walk for the sweeper and progress (64 short lock holds).
const nShards = 64

// roster is the set of users a stream's messages are expected to reach: the joined
// members of a room (the sender's own position, if any, is never expected). One roster
// is shared by all the streams of a room, so a big room costs one position map, not
// one per sender.
type roster struct {
	members []int32         // user indexes, by position
	pos     map[int32]int32 // user index -> position
	// speakers, in the room roster of a scenario with idle members (Uses.Idle;
	// nil otherwise), has the bit of every member
	// with a stream in the room (addStream sets it): the others are its idle
	// members, whose copies are also recorded as OpIdleDelivery. Atomic: a
	// stream added after publish sets a bit deliver may be reading.
	speakers []atomic.Uint64
}

func newRoster(members []int32) *roster {
	r := &roster{members: members, pos: make(map[int32]int32, len(members))}
	for i, u := range members {
		r.pos[u] = int32(i)
	}
	return r
}

// newRoomRoster is the roster of a room of a scenario with idle members
// (scenarios.Uses.Idle), shared by its streams, which tells them apart.
func newRoomRoster(members []int32) *roster {
	r := newRoster(members)
	r.speakers = make([]atomic.Uint64, (len(members)+63)/64)
	return r
}

// idle reports whether the member at pos is an idle member of a room.
func (r *roster) idle(pos int32) bool {
	return r.speakers != nil && r.speakers[pos/64].Load()&(1<<(pos%64)) == 0
}

// idleOf counts the idle members among the positions set in word w of set.
func (r *roster) idleOf(w int, set uint64) int {
	if r.speakers == nil {
		return 0
	}
	return bits.OnesCount64(set &^ r.speakers[w].Load())
}

// waiter lets one caller (a pair-cycle) wait until its message is resolved: delivered
// to every receiver, lost, or withdrawn.
type waiter struct {
	done chan struct{}
	lost bool // written before done is closed
}

// entry is one posted message awaiting (or remembering) its copies. Entries stay in
// their stream's ring until their delivery deadline even when complete, so that a
// duplicate arriving before the deadline is recognized as such.
type entry struct {
	intended  time.Time
	bits      []uint64 // [0:words) pending receivers, [words:2*words) receivers that got it; reused with the slot
	left      int32    // pending receivers
	lostAny   bool
	withdrawn bool
	w         *waiter
}

// stream is the messages of one sender in one room, numbered 1, 2, 3...; it belongs
// to one shard and is guarded by that shard's mutex. Streams are created during setup,
// before the first post, and never removed.
type stream struct {
	id      uint32
	sender  int32 // user index
	room    string
	self    int32 // the sender's position in the roster, -1 when not a member
	roster  *roster
	sh      *shard
	words   int
	next    uint64 // next sequence number to post
	head    uint64 // sequence number of ents' first entry
	ents    ring[entry]
	highest []uint64 // per roster position: highest sequence number delivered (out-of-order check); nil until the first post
}

// counts are one shard's message tallies, guarded by the shard's mutex.
type counts struct {
	posted, delivered, lost, duplicated, outOfOrder, corrupted uint64
	late, stray, withdrawn, abandoned                          uint64
	echoes                                                     uint64 // the author's own copy (XCCOS echoes posts): expected, not stray
	pending                                                    int64  // copies still awaited
}

func (c *counts) add(o counts) {
	c.posted += o.posted
	c.delivered += o.delivered
	c.lost += o.lost
	c.duplicated += o.duplicated
	c.outOfOrder += o.outOfOrder
	c.corrupted += o.corrupted
	c.late += o.late
	c.stray += o.stray
	c.echoes += o.echoes
	c.withdrawn += o.withdrawn
	c.abandoned += o.abandoned
	c.pending += o.pending
}

// shard owns the streams whose id is ≡ its index (mod nShards), their delivery
// latencies (its own recorder: one per shard, never one per user) and a FIFO of its
// streams in posting order, from which the sweeper expires entries oldest first.
type shard struct {
	mu    sync.Mutex
	rec   *report.Recorder
	spare *report.Recorder // swapped with rec at each interval (monitor.swap); the monitor's only
	fifo  ring[*stream]
	c     counts
	// Examples are texts built per failure; building stops after a few (the recorder
	// keeps 3 per class anyway) so a storm of duplicates does not allocate.
	nDupEx, nOOOEx, nCorruptEx int
	_                          [64]byte // keep neighbouring shards' locks off one cache line
}

// tracker counts every expected copy of every posted message exactly once as
// delivered (received by its deadline) or lost, and every extra copy as duplicated,
// late, stray or corrupted. post and withdraw are called by workers, deliver by driver
// goroutines (it never blocks on anything but a shard mutex), sweep by the sweeper;
// all are safe for concurrent use once setup has added the streams.
type tracker struct {
	runID   string
	timeout time.Duration
	size    int
	users   []User
	shards  [nShards]shard
	streams []*stream // by id; built during setup, then published to table
	table   atomic.Pointer[[]*stream]
	// lostClass is the class every lost copy's error unwraps to; never modified.
	lostClass *report.Error
}

func newTracker(runID string, users []User, size int, timeout time.Duration) *tracker {
	t := &tracker{runID: runID, users: users, size: size, timeout: timeout,
		lostClass: &report.Error{Class: report.Lost, Op: "delivery", Detail: "not received before the delivery deadline"}}
	for i := range t.shards {
		t.shards[i].rec = report.NewRecorder()
	}
	return t
}

// addStream creates the stream of sender's posts to room, expected by rs's members
// (nil: nobody). Setup only, before publish: it is not safe for concurrent use with
// other addStream calls (deliver, which may run during setup, reads only what publish
// published).
func (t *tracker) addStream(sender int32, room string, rs *roster) *stream {
	id := uint32(len(t.streams))
	st := &stream{id: id, sender: sender, room: room, self: -1, roster: rs, sh: &t.shards[id%nShards], next: 1, head: 1}
	if rs != nil {
		if p, ok := rs.pos[sender]; ok {
			st.self = p
			if rs.speakers != nil {
				rs.speakers[p/64].Or(1 << (p % 64))
			}
		}
		st.words = (len(rs.members) + 63) / 64
		// highest is made by the stream's first post: in a room of n members that
		// all may post, n streams of n entries each would be n² words (2 GiB at
		// 16,000 members), most of them for streams that never post.
	}
	t.streams = append(t.streams, st)
	return st
}

// publish makes the streams added so far visible to deliver. Copies received
// before (history replayed on join, another run's) are stray.
func (t *tracker) publish() {
	tab := t.streams
	t.table.Store(&tab)
}

// expected is how many receivers each of st's messages has.
func (st *stream) expected() int {
	if st.roster == nil {
		return 0
	}
	n := len(st.roster.members)
	if st.self >= 0 {
		n--
	}
	return n
}

// post numbers the next message of st, registers its expected copies with their
// deadline (intended + DeliveryTimeout) and returns it. With wait, the returned waiter
// is closed once the message is resolved. It must be called before the message is
// sent, so that a copy arriving before Send returns is already expected.
func (t *tracker) post(st *stream, intended time.Time, wait bool) (Message, uint64, *waiter) {
	var w *waiter
	if wait {
		w = &waiter{done: make(chan struct{})}
	}
	n := st.expected()
	sh := st.sh
	sh.mu.Lock()
	seq := st.next
	st.next++
	sh.c.posted++
	if n > 0 {
		if st.highest == nil {
			st.highest = make([]uint64, len(st.roster.members))
		}
		e := st.ents.push()
		if cap(e.bits) < 2*st.words {
			e.bits = make([]uint64, 2*st.words)
		}
		e.bits = e.bits[:2*st.words]
		pend, got := e.bits[:st.words], e.bits[st.words:]
		for i := range pend {
			pend[i] = ^uint64(0)
			got[i] = 0
		}
		if r := len(st.roster.members) % 64; r != 0 {
			pend[st.words-1] = 1<<r - 1
		}
		if st.self >= 0 {
			pend[st.self/64] &^= 1 << (st.self % 64)
		}
		*e = entry{intended: intended, bits: e.bits, left: int32(n), w: w}
		*sh.fifo.push() = st
		sh.c.pending += int64(n)
	}
	sh.mu.Unlock()
	if n == 0 && w != nil {
		close(w.done)
	}
	return Message{ID: t.messageID(st.id, seq), Body: t.body(st.id, seq)}, seq, w
}

// withdraw takes back the copies of (st, seq) not yet received: its Send failed, so
// they are not expected any more (neither delivered nor lost). Copies already
// received stay delivered. Safe for concurrent use.
func (t *tracker) withdraw(st *stream, seq uint64) {
	sh := st.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if seq < st.head || seq >= st.head+uint64(st.ents.len()) {
		return
	}
	e := st.ents.at(int(seq - st.head))
	e.withdrawn = true
	if e.left == 0 {
		return
	}
	clear(e.bits[:st.words])
	sh.c.pending -= int64(e.left)
	sh.c.withdrawn += uint64(e.left)
	e.left = 0
	t.resolved(e)
}

// resolved wakes the message's waiter, if any, once nothing is pending. Callers hold
// the shard's mutex.
func (t *tracker) resolved(e *entry) {
	if e.w == nil || e.left > 0 {
		return
	}
	e.w.lost = e.lostAny || e.withdrawn
	close(e.w.done)
	e.w = nil
}

// deliver accounts for one received copy (receiver: a user index). It is called on
// driver goroutines and never blocks except on one shard mutex, held for a few
// hundred nanoseconds; it does not allocate unless it records a failure example.
func (t *tracker) deliver(receiver int32, d Delivery) {
	at := d.At
	if at.IsZero() {
		at = time.Now()
	}
	k, st := t.parse(d.Body)
	var streams []*stream
	if tab := t.table.Load(); tab != nil {
		streams = *tab
	}
	if st == bodyOK && int(k.stream) >= len(streams) {
		st = bodyStray // a valid checksum on a stream this run does not have (yet)
	}
	if st != bodyOK {
		sh := &t.shards[uint32(receiver)%nShards]
		sh.mu.Lock()
		if st == bodyStray {
			sh.c.stray++
		} else {
			sh.c.corrupted++
			ex := ""
			if sh.nCorruptEx < 3 {
				sh.nCorruptEx++
				ex = "corrupted copy received by " + t.userURI(receiver) + " from " + d.From + " in " + d.Room + ": " + clip(d.Body, 96)
			}
			sh.rec.Fail(report.Corrupted, 0, 1, ex)
		}
		sh.mu.Unlock()
		return
	}
	s := streams[k.stream]
	sh := s.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	pos, ok := int32(-1), false
	if s.roster != nil {
		pos, ok = s.roster.pos[receiver]
	}
	switch {
	case ok && pos == s.self && k.seq != 0 && k.seq < s.next:
		// The sender's own post echoed back to it (Persistent Chat does): expected.
		sh.c.echoes++
		return
	case !ok || pos == s.self || k.seq == 0 || k.seq >= s.next:
		// Not for this receiver, or never posted by this run (a run id reused across
		// runs).
		sh.c.stray++
		return
	case k.seq < s.head:
		// Its entry expired: the copy was counted lost at its deadline.
		sh.c.late++
		return
	}
	e := s.ents.at(int(k.seq - s.head))
	word, bit := pos/64, uint64(1)<<(pos%64)
	pend, got := e.bits[:s.words], e.bits[s.words:]
	switch {
	case got[word]&bit != 0:
		sh.c.duplicated++
		ex := ""
		if sh.nDupEx < 3 {
			sh.nDupEx++
			ex = t.describe(s, k.seq, receiver) + " received more than once"
		}
		sh.rec.Fail(report.Duplicate, 0, 1, ex)
	case pend[word]&bit != 0:
		pend[word] &^= bit
		e.left--
		sh.c.pending--
		deadline := e.intended.Add(t.timeout)
		if at.After(deadline) {
			// Arrived after its deadline, before the sweeper got to it: lost, exactly
			// as if the sweeper had run first.
			sh.c.lost++
			sh.c.late++
			e.lostAny = true
			sh.rec.Record(report.OpDelivery, 0, 0, t.lostError(s, k.seq, receiver))
			if s.roster.idle(pos) {
				sh.rec.RecordSubset(report.OpIdleDelivery, 0, true)
			}
		} else {
			got[word] |= bit
			sh.c.delivered++
			sh.rec.Record(report.OpDelivery, at.Sub(e.intended), 0, nil)
			if s.roster.idle(pos) {
				sh.rec.RecordSubset(report.OpIdleDelivery, at.Sub(e.intended), false)
			}
			if k.seq < s.highest[pos] {
				sh.c.outOfOrder++
				ex := ""
				if sh.nOOOEx < 3 {
					sh.nOOOEx++
					ex = t.describe(s, k.seq, receiver) + " arrived after seq " + strconv.FormatUint(s.highest[pos], 10)
				}
				sh.rec.Fail(report.OutOfOrder, 0, 1, ex)
			} else {
				s.highest[pos] = k.seq
			}
		}
		t.resolved(e)
	case e.withdrawn:
		sh.c.stray++ // its Send failed: nobody expects it
	default:
		sh.c.late++ // counted lost already (arrived after its deadline)
	}
}

// sweep marks every copy whose deadline is before now as lost and frees the entries
// that expired. Entries are visited oldest first per shard, so a sweep that finds
// nothing costs one look per shard. Safe for concurrent use.
func (t *tracker) sweep(now time.Time) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for sh.fifo.len() > 0 {
			s := *sh.fifo.front()
			e := s.ents.front()
			if !e.intended.Add(t.timeout).Before(now) {
				break
			}
			t.expire(sh, s, e, false, now)
		}
		sh.mu.Unlock()
	}
}

// finish resolves everything still registered: after a completed run every deadline
// has passed, so pending copies are lost; after an interrupt, copies whose deadline
// had not passed yet are abandoned instead (not counted as expected: the run did not
// give them their chance). Safe for concurrent use, but meant for the end of the run.
func (t *tracker) finish(now time.Time, interrupted bool) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for sh.fifo.len() > 0 {
			s := *sh.fifo.front()
			t.expire(sh, s, s.ents.front(), interrupted, now)
		}
		sh.mu.Unlock()
	}
}

// expire resolves the oldest entry of s (the front of sh's FIFO) and frees it. Callers
// hold sh's mutex.
func (t *tracker) expire(sh *shard, s *stream, e *entry, abandon bool, now time.Time) {
	if e.left > 0 {
		n := uint64(e.left)
		sh.c.pending -= int64(e.left)
		if abandon && now.Before(e.intended.Add(t.timeout)) {
			sh.c.abandoned += n
		} else {
			sh.c.lost += n
			e.lostAny = true
			// One error (with the first missing receiver) stands for the whole batch.
			first, idle := int32(-1), 0
			for w, b := range e.bits[:s.words] {
				if b != 0 {
					if first < 0 {
						first = s.roster.members[w*64+bits.TrailingZeros64(b)]
					}
					idle += s.roster.idleOf(w, b)
				}
			}
			err := t.lostError(s, s.head, first)
			for range n {
				sh.rec.Record(report.OpDelivery, 0, 0, err)
			}
			for range idle {
				sh.rec.RecordSubset(report.OpIdleDelivery, 0, true)
			}
		}
		clear(e.bits[:s.words])
		e.left = 0
	}
	t.resolved(e)
	e.w = nil
	s.ents.pop()
	s.head++
	sh.fifo.pop()
}

// lostError describes a copy that missed its deadline. Its text is built only when
// the recorder wants an example (the first few per class), so a loss storm costs one
// small allocation per batch, not a formatted string per copy.
func (t *tracker) lostError(s *stream, seq uint64, receiver int32) error {
	return &lostErr{t: t, s: s, seq: seq, receiver: receiver}
}

type lostErr struct {
	t        *tracker
	s        *stream
	seq      uint64
	receiver int32
}

func (e *lostErr) Error() string {
	return "delivery: " + e.t.describe(e.s, e.seq, e.receiver) + " not received within " + e.t.timeout.String()
}

// Unwrap gives report.ClassOf the class without building the text.
func (e *lostErr) Unwrap() error { return e.t.lostClass }

func (t *tracker) describe(s *stream, seq uint64, receiver int32) string {
	return "message " + t.messageID(s.id, seq) + " from " + t.userURI(s.sender) + " in " + s.room + " to " + t.userURI(receiver)
}

func (t *tracker) userURI(u int32) string {
	if u >= 0 && int(u) < len(t.users) {
		return t.users[u].URI
	}
	return "user#" + strconv.Itoa(int(u))
}

// totals sums the shards' counts. Safe for concurrent use (one short lock per shard).
func (t *tracker) totals() counts {
	var c counts
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		c.add(sh.c)
		sh.mu.Unlock()
	}
	return c
}

// outstanding is the number of copies still awaited.
func (t *tracker) outstanding() int64 { return t.totals().pending }

// mergeInto adds every shard's recorder to r. Safe for concurrent use with deliveries.
func (t *tracker) mergeInto(r *report.Recorder) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		r.Merge(sh.rec)
		sh.mu.Unlock()
	}
}

// messageID is "<runid>-<stream>-<seq>": unique per message in a run, and a valid
// SIP Call-ID word.
func (t *tracker) messageID(stream uint32, seq uint64) string {
	var b strings.Builder
	b.Grow(len(t.runID) + 24)
	b.WriteString(t.runID)
	b.WriteByte('-')
	var num [20]byte
	b.Write(strconv.AppendUint(num[:0], uint64(stream), 10))
	b.WriteByte('-')
	b.Write(strconv.AppendUint(num[:0], seq, 10))
	return b.String()
}

// body builds the text of (stream, seq), t.size bytes long when the header fits (one
// allocation).
func (t *tracker) body(stream uint32, seq uint64) string {
	var num [48]byte
	key := append(num[:0], t.runID...)
	key = append(key, ' ')
	key = strconv.AppendUint(key, uint64(stream), 10)
	key = append(key, ' ')
	key = strconv.AppendUint(key, seq, 10)
	head := len(bodyMagic) + len(key) + 1 + crcLen
	pad := t.size - head - 1
	if pad < 0 {
		pad = 0
	}
	// The checksum first (generating the padding once to hash it), then the text
	// (generating it again): cheaper than a second buffer.
	crc := crcUpdate(0, key)
	p := newPadding(stream, seq)
	var chunk [64]byte
	for left := pad; left > 0; {
		n := min(left, len(chunk))
		p.fill(chunk[:n])
		crc = crcUpdate(crc, chunk[:n])
		left -= n
	}
	var b strings.Builder
	n := head
	if pad > 0 {
		n += 1 + pad
	}
	b.Grow(n)
	b.WriteString(bodyMagic)
	b.Write(key)
	b.WriteByte(' ')
	var hex [crcLen]byte
	putHex(hex[:], crc)
	b.Write(hex[:])
	if pad > 0 {
		b.WriteByte(' ')
		p = newPadding(stream, seq)
		for left := pad; left > 0; {
			n := min(left, len(chunk))
			p.fill(chunk[:n])
			b.Write(chunk[:n])
			left -= n
		}
	}
	return b.String()
}

type bodyStatus uint8

const (
	bodyOK      bodyStatus = iota
	bodyStray              // not a chatload body of this run: someone else's text, another run, an old history line
	bodyCorrupt            // this run's body, but it fails its check
)

type msgKey struct {
	stream uint32
	seq    uint64
}

// parse checks a received body without allocating. A body that does not start with
// "cl1 <our run id> " is stray; one that does and fails the checksum or the format is
// corrupted. (A corruption inside the magic or the run id therefore reads as stray;
// the copy still never counts as delivered, so its loss is counted.)
func (t *tracker) parse(body string) (msgKey, bodyStatus) {
	var k msgKey
	if !strings.HasPrefix(body, bodyMagic) {
		return k, bodyStray
	}
	rest := body[len(bodyMagic):]
	if !strings.HasPrefix(rest, t.runID) || len(rest) == len(t.runID) || rest[len(t.runID)] != ' ' {
		return k, bodyStray
	}
	keyEnd := len(bodyMagic) + len(t.runID) + 1
	s, ok := parseUint(body, &keyEnd)
	if !ok || s > 1<<32-1 {
		return k, bodyCorrupt
	}
	seq, ok := parseUint(body, &keyEnd)
	if !ok {
		return k, bodyCorrupt
	}
	// keyEnd is past the space after seq; the key ends before it.
	key := body[len(bodyMagic) : keyEnd-1]
	if len(body) < keyEnd+crcLen {
		return k, bodyCorrupt
	}
	want, ok := parseHex(body[keyEnd : keyEnd+crcLen])
	if !ok {
		return k, bodyCorrupt
	}
	pad := body[keyEnd+crcLen:]
	if pad != "" {
		if pad[0] != ' ' {
			return k, bodyCorrupt
		}
		pad = pad[1:]
	}
	if crcUpdateString(crcUpdateString(0, key), pad) != want {
		return k, bodyCorrupt
	}
	return msgKey{stream: uint32(s), seq: seq}, bodyOK
}

// parseUint reads decimal digits at *i followed by one space, moving *i past the space.
func parseUint(s string, i *int) (uint64, bool) {
	var v uint64
	j := *i
	for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
		d := uint64(s[j] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false // overflows: no body of ours
		}
		v = v*10 + d
	}
	if j == *i || j >= len(s) || s[j] != ' ' {
		return 0, false
	}
	*i = j + 1
	return v, true
}

const hexDigits = "0123456789abcdef"

func putHex(dst []byte, v uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&15]
		v >>= 4
	}
}

func parseHex(s string) (uint32, bool) {
	var v uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}

// crcUpdate and crcUpdateString are crc32.Update with the IEEE table, written out:
// crc32.Update's assembly makes its argument escape, which would cost the body's
// stack buffers a heap allocation each, and a received string a copy to []byte.
func crcUpdate(crc uint32, p []byte) uint32 {
	tab := crc32.IEEETable
	crc = ^crc
	for _, b := range p {
		crc = tab[byte(crc)^b] ^ (crc >> 8)
	}
	return ^crc
}

func crcUpdateString(crc uint32, s string) uint32 {
	tab := crc32.IEEETable
	crc = ^crc
	for i := 0; i < len(s); i++ {
		crc = tab[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// padding is a deterministic character stream from (stream, seq): splitmix64, 5 bits
// per character from a 32-letter alphabet that no SIP stack or chat server rewrites.
type padding struct {
	x    uint64
	buf  uint64
	nbuf int
}

const padAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func newPadding(stream uint32, seq uint64) padding {
	return padding{x: uint64(stream)<<40 ^ seq ^ 0x5DEECE66D}
}

func (p *padding) fill(dst []byte) {
	for i := range dst {
		if p.nbuf == 0 {
			p.x += 0x9E3779B97F4A7C15
			z := p.x
			z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
			z = (z ^ z>>27) * 0x94D049BB133111EB
			p.buf, p.nbuf = z^z>>31, 12
		}
		dst[i] = padAlphabet[p.buf&31]
		p.buf >>= 5
		p.nbuf--
	}
}

// clip shortens s for an example text.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ring is a FIFO on a circular buffer that reuses its slots: push returns the slot
// with whatever it held before (entries keep their bitsets that way).
type ring[T any] struct {
	buf  []T
	h, n int
}

func (r *ring[T]) len() int { return r.n }

func (r *ring[T]) push() *T {
	if r.n == len(r.buf) {
		nb := make([]T, max(8, 2*len(r.buf)))
		for i := range r.n {
			nb[i] = r.buf[(r.h+i)%len(r.buf)]
		}
		r.buf, r.h = nb, 0
	}
	r.n++
	return r.back()
}

func (r *ring[T]) back() *T  { return &r.buf[(r.h+r.n-1)%len(r.buf)] }
func (r *ring[T]) front() *T { return &r.buf[r.h] }
func (r *ring[T]) at(i int) *T {
	return &r.buf[(r.h+i)%len(r.buf)]
}

func (r *ring[T]) pop() {
	r.h = (r.h + 1) % len(r.buf)
	r.n--
}
