package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Bounds on what unauthenticated peers can make the server keep or do.
const (
	// DefaultUnauthRate is Config.UnauthRate's default: out-of-dialog requests
	// without credentials per second per source IP. A load generator (all its
	// users on one IP) sends about one per user at log-on (the first REGISTER),
	// then credentials on each: 5,000/s with a burst of 10,000 leaves it room,
	// including everyone logging on again after a server restart.
	DefaultUnauthRate = 5000
	// DefaultMaxDialogsPerUser is PChatConfig.MaxDialogsPerUser's default.
	DefaultMaxDialogsPerUser = 32
	// MaxDatagram is the largest UDP datagram handled; larger ones are dropped
	// and counted (oversize_datagrams), the first one logged.
	MaxDatagram = 32 << 10
	// limiterSources bounds the per-source rate table; sources beyond it (a
	// flood of spoofed addresses) share one bucket.
	limiterSources = 1 << 16
)

// udpEpochSources bounds the per-source state sipgo's UDP reader keeps (a map
// entry per source address, never released while it runs): after this many
// new sources the reader is restarted, which releases it (udpGuard). A
// variable for tests.
var udpEpochSources = 8192

// sourceLimiter is a token bucket per source IP with a bounded table. Safe for
// concurrent use.
type sourceLimiter struct {
	rate, burst float64
	now         func() time.Time
	mu          sync.Mutex
	m           map[netip.Addr]*bucket
	overflow    bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newSourceLimiter(rate float64, now func() time.Time) *sourceLimiter {
	return &sourceLimiter{rate: rate, burst: 2 * rate, now: now, m: map[netip.Addr]*bucket{}}
}

// allow takes a token from ip's bucket; false when it is empty. A nil limiter
// allows everything.
func (l *sourceLimiter) allow(ip netip.Addr) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[ip]
	if b == nil {
		if len(l.m) >= limiterSources {
			l.sweep(now)
		}
		if len(l.m) >= limiterSources {
			b = &l.overflow
		} else {
			b = &bucket{tokens: l.burst, last: now}
			l.m[ip] = b
		}
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets the buckets that have refilled: they are as good as new.
func (l *sourceLimiter) sweep(now time.Time) {
	for ip, b := range l.m {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.m, ip)
		}
	}
}

func (l *sourceLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// sourceIP parses the IP of a "host:port" source.
func sourceIP(src string) netip.Addr {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// errEpoch ends sipgo's UDP reader quietly (it treats net.ErrClosed as closed).
var errEpoch = fmt.Errorf("udp reader restarted to release per-source state: %w", net.ErrClosed)

// udpSourceTTL is how long a UDP source's entry in sipgo's connection pool is
// kept after its last datagram: well past Timer J (32 s), after which no
// transaction of it needs the entry.
const udpSourceTTL = 64 * time.Second

// udpGuard is the PacketConn sipgo's UDP reader reads from. It drops oversize
// datagrams and ones that cannot be SIP before sipgo sees them, remembers the
// datagram being parsed (so a parse failure sipgo reports can be answered
// 400), and bounds the state sipgo keeps per source address.
//
// sipgo's reader adds a pool entry for every new source (responses go out
// through it) and a map entry it only releases when the reader returns. So the
// guard points every source's pool entry at a connection of its own over the
// same socket (entries the reader's exit does not delete), expires them
// udpSourceTTL after the source's last datagram, and restarts the reader every
// udpEpochSources new sources. Only sipgo's reader goroutine calls ReadFrom.
type udpGuard struct {
	net.PacketConn
	s     *Server
	buf   []byte
	laddr string
	mine  *sip.UDPConnection // over the same socket; never closes it

	seen      map[netip.AddrPort]*udpSource // by source, bounded by udpSourceTTL (and limiterSources)
	epoch     int                           // sources new to the current reader
	prev      *udpSource                    // source whose pool entry sipgo may just have set
	lastSrc   *udpSource                    // source of the previous datagram
	lastSweep time.Time
	stash     []byte // a datagram held over a restart
	stashAt   net.Addr
	closed    atomic.Bool

	mu       sync.Mutex // guards last, lastAddr: read by the parse-failure hook
	last     []byte
	lastAddr net.Addr
}

type udpSource struct {
	key   string // as sipgo keys its pool
	last  time.Time
	epoch bool // seen by the current reader
}

func (s *Server) guardUDP(pc net.PacketConn) *udpGuard {
	la := pc.LocalAddr().String()
	return &udpGuard{PacketConn: pc, s: s, buf: make([]byte, MaxDatagram+1), laddr: la,
		mine: &sip.UDPConnection{PacketConn: pc, PacketAddr: la, Listener: true},
		seen: map[netip.AddrPort]*udpSource{}, lastSweep: s.now()}
}

func (g *udpGuard) Close() error {
	g.closed.Store(true)
	return g.PacketConn.Close()
}

func (g *udpGuard) pool() *sip.ConnectionPool { return g.s.ua.TransportLayer().Pool("udp") }

func (g *udpGuard) ReadFrom(b []byte) (int, net.Addr, error) {
	s := g.s
	if g.prev != nil {
		// sipgo pooled the previous datagram's source to its own connection:
		// point it at ours, which its reader's exit leaves.
		g.pool().Add(g.prev.key, g.mine)
		g.prev = nil
	}
	if g.stash != nil {
		n := copy(b, g.stash)
		addr := g.stashAt
		g.stash, g.stashAt = nil, nil
		g.admit(addr)
		g.setLast(b[:n], addr)
		return n, addr, nil
	}
	backoff := time.Duration(0)
	for {
		n, addr, err := g.PacketConn.ReadFrom(g.buf)
		if err != nil {
			if g.closed.Load() || errors.Is(err, net.ErrClosed) {
				return 0, nil, err
			}
			// Not closed: a transient error must not end the listener.
			backoff = min(max(2*backoff, time.Millisecond), acceptBackoffMax)
			s.diag(slog.LevelError, "udp read failed; retrying", "addr", g.laddr, "error", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if n > MaxDatagram || n > len(b) {
			if s.stats.oversize.Add(1) == 1 {
				s.log.Error("udp datagram over 32 KiB dropped (logged once; see oversize_datagrams)", "from", addr.String(), "size_at_least", n)
			}
			continue
		}
		data := g.buf[:n]
		if !plausibleSIP(data) {
			s.stats.parseErrors.Add(1)
			s.diag(slog.LevelInfo, "udp: not a SIP message", "from", addr.String(), "data", peerText(data))
			continue
		}
		if g.epoch >= udpEpochSources {
			if src := g.source(addr); src == nil || !src.epoch {
				// Restart the reader (releasing its per-source map); this
				// datagram is its first. Our own address's entry points at
				// ours meanwhile, so copies sent from it never miss it.
				g.pool().Add(g.laddr, g.mine)
				for _, src := range g.seen {
					src.epoch = false
				}
				g.epoch, g.lastSrc = 0, nil
				g.stash, g.stashAt = append(g.stash[:0], data...), addr
				return 0, nil, errEpoch
			}
		}
		g.admit(addr)
		n = copy(b, data)
		g.setLast(b[:n], addr)
		return n, addr, nil
	}
}

func (g *udpGuard) source(addr net.Addr) *udpSource {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return nil
	}
	return g.seen[ua.AddrPort()]
}

// admit records a datagram's source: a source new to the guard gets its pool
// entry now, before sipgo hands the request on (its response needs it).
func (g *udpGuard) admit(addr net.Addr) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return
	}
	now := g.s.now()
	if now.Sub(g.lastSweep) > udpSourceTTL/8 || len(g.seen) >= limiterSources {
		g.sweep(now)
	}
	ap := ua.AddrPort()
	src := g.seen[ap]
	if src == nil {
		src = &udpSource{key: addr.String()}
		g.seen[ap] = src
		g.pool().Add(src.key, g.mine)
	}
	src.last = now
	if !src.epoch {
		src.epoch = true
		g.epoch++
	}
	if src != g.lastSrc {
		// sipgo's reader pools a source to its own connection whenever the
		// source differs from the previous datagram's: re-point it at the next
		// ReadFrom, after that.
		g.prev, g.lastSrc = src, src
	}
}

// sweep forgets sources idle for udpSourceTTL (shorter when the table is
// full), with their pool entries.
func (g *udpGuard) sweep(now time.Time) {
	g.lastSweep = now
	ttl := udpSourceTTL
	if len(g.seen) >= limiterSources {
		ttl = 2 * time.Second
	}
	var gone []string
	for ap, src := range g.seen {
		if now.Sub(src.last) > ttl {
			if src == g.lastSrc {
				g.lastSrc = nil
			}
			if src == g.prev {
				g.prev = nil
			}
			delete(g.seen, ap)
			gone = append(gone, src.key)
		}
	}
	if len(gone) > 0 {
		g.pool().DeleteMultiple(gone)
	}
}

func (g *udpGuard) setLast(b []byte, addr net.Addr) {
	g.mu.Lock()
	g.last, g.lastAddr = b, addr
	g.mu.Unlock()
}

// unparsable answers the datagram sipgo just failed to parse with a 400, when it
// is the one being parsed on this socket and carries what a response needs.
func (g *udpGuard) unparsable(data string) bool {
	g.mu.Lock()
	if string(g.last) != data || g.lastAddr == nil {
		g.mu.Unlock()
		return false
	}
	addr := g.lastAddr
	res := badRequest(g.last)
	g.mu.Unlock()
	if res == nil || !g.s.limiter.allow(sourceIP(addr.String())) {
		return true
	}
	if _, err := g.PacketConn.WriteTo(res, addr); err != nil {
		g.s.log.Debug("400 to unparsable datagram not sent", "to", addr.String(), "error", err)
	}
	return true
}

// serveUDP runs sipgo's UDP reader on g until g closes, restarting it after
// each epoch.
func (s *Server) serveUDP(g *udpGuard) {
	for !g.closed.Load() && s.ctx.Err() == nil {
		s.srv.ServeUDP(g)
	}
}

// plausibleSIP reports whether a datagram can be a SIP message or keepalive: a
// CRLF keepalive, or a first line of printable ASCII naming SIP/.
func plausibleSIP(b []byte) bool {
	if len(bytes.Trim(b, "\r\n\x00")) == 0 {
		return true // keepalive (sipgo skips it)
	}
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	} else if len(b) > 256 {
		return false
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	for _, c := range line {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return bytes.HasPrefix(line, []byte("SIP/")) || bytes.Contains(line, []byte(" SIP/"))
}

// badRequest builds a 400 answering a request sipgo could not parse, from its
// raw Via, From, To, Call-ID and CSeq lines; nil unless it is a request with at
// least a Via, a Call-ID and a CSeq (nothing else can be matched by the client).
func badRequest(raw []byte) []byte {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := bytes.Split(head, []byte("\r\n"))
	if len(lines) < 2 || bytes.HasPrefix(lines[0], []byte("SIP/")) {
		return nil
	}
	var out bytes.Buffer
	out.WriteString("SIP/2.0 400 Bad Request\r\n")
	var via, cid, cseq bool
	for _, l := range lines[1:] {
		name, _, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "via", "v":
			via = true
		case "call-id", "i":
			cid = true
		case "cseq":
			cseq = true
		case "from", "f", "to", "t":
		default:
			continue
		}
		if len(l) > 1024 {
			return nil
		}
		out.Write(l)
		out.WriteString("\r\n")
	}
	if !via || !cid || !cseq {
		return nil
	}
	out.WriteString("Server: " + userAgent + "\r\nContent-Length: 0\r\n\r\n")
	return out.Bytes()
}

// sipgoLog is the slog.Handler sipgo logs through: its lines are rate-limited
// per message and their values truncated and escaped (sipgo puts whole
// messages, a peer's bytes, in "failed to parse"); a parse failure is counted,
// and a UDP one answered 400 when it can be.
type sipgoLog struct {
	s      *Server
	inner  slog.Handler
	caller string
}

// Enabled is true for errors whatever the level: sipgo reports a parse failure
// at error level, which is counted (and answered) even when nothing is logged.
func (h *sipgoLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.inner.Enabled(ctx, l)
}

func (h *sipgoLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		if a.Key == "caller" {
			c.caller = a.Value.String()
		}
	}
	c.inner = h.inner.WithAttrs(truncAttrs(as))
	return &c
}

func (h *sipgoLog) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}

func (h *sipgoLog) Handle(ctx context.Context, r slog.Record) error {
	s := h.s
	level := r.Level
	if r.Message == "failed to parse" {
		s.stats.parseErrors.Add(1)
		level = slog.LevelInfo // a peer's fault, counted: not an error of the server
		if h.caller == "Transport<UDP>" {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "data" {
					s.udpUnparsable(a.Value.String())
					return false
				}
				return true
			})
		}
	}
	if !h.inner.Enabled(ctx, level) {
		return nil
	}
	ok, suppressed := s.diags.allow("sipgo: " + r.Message)
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(truncAttr(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed_since_last", suppressed))
	}
	return h.inner.Handle(ctx, out)
}

func truncAttrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = truncAttr(a)
	}
	return out
}

func truncAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString, slog.KindAny:
		s := v.String()
		if e, ok := v.Any().(error); ok && v.Kind() == slog.KindAny {
			s = e.Error()
		}
		return slog.String(a.Key, peerText([]byte(s)))
	}
	return a
}

// udpUnparsable hands a datagram sipgo failed to parse to the guard that read it.
func (s *Server) udpUnparsable(data string) {
	s.mu.Lock()
	gs := append([]*udpGuard(nil), s.udp...)
	s.mu.Unlock()
	for _, g := range gs {
		if g.unparsable(data) {
			return
		}
	}
}
