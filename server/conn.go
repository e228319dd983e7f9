package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The TCP and TLS listeners are served through guardListener: sipgo's serve loop
// returns on the first failed Accept (EMFILE when the process is out of file
// descriptors, ...), so accept errors are retried here with a backoff and never
// reach it. Each listener caps its connections, overall and per remote address;
// a connection over a cap is closed at once. Every accepted connection is a
// guardConn: reads time out after IdleTimeout without traffic either way (and a
// TLS handshake after HandshakeTimeout), and writes go through a bounded send
// queue written by a goroutine of the connection with a write deadline, so a
// peer that stops reading is dropped (its connection closed) instead of
// blocking whoever writes to it: a room's fan-out, a dialog's sender.

// Defaults of the connection limits (Config fields of the same names).
const (
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultSendQueue        = 1 << 20 // bytes
	// fdReserve is how many file descriptors the automatic connection cap leaves
	// to everything else (UDP sockets, the history database, logs, ...).
	fdReserve = 128
	// acceptBackoffMax bounds the wait between failed accepts.
	acceptBackoffMax = time.Second
)

// errDropped is the write error of a connection dropped for not reading.
var errDropped = errors.New("connection dropped: the peer does not read (send queue full or write timed out)")

// guardListener wraps a TCP listener (TLS: the TCP listener under the TLS one).
// Safe for concurrent use.
type guardListener struct {
	net.Listener
	s         *Server
	transport string // "tcp" or "tls"
	max       int    // connections at once
	perAddr   int    // connections at once per remote IP; 0: max only

	mu     sync.Mutex
	open   int
	byAddr map[string]int // remote IP -> open connections; entries removed at zero
	closed chan struct{}
	once   sync.Once
}

func (s *Server) guard(l net.Listener, transport string) *guardListener {
	max := s.cfg.MaxConnections
	if max == 0 {
		max = autoMaxConnections()
	}
	return &guardListener{Listener: l, s: s, transport: transport, max: max,
		perAddr: s.cfg.MaxConnectionsPerAddr, byAddr: map[string]int{}, closed: make(chan struct{})}
}

func (l *guardListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Accept returns the next connection within the caps. Accept errors other than
// the listener being closed are logged, counted and retried after a backoff
// (5 ms doubling to 1 s): out of file descriptors, the listener comes back as
// soon as connections close.
func (l *guardListener) Accept() (net.Conn, error) {
	s := l.s
	backoff := time.Duration(0)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return nil, err
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
			s.stats.acceptErrors.Add(1)
			s.diag(slog.LevelError, "accept failed; retrying", "transport", l.transport, "addr", l.Addr().String(),
				"error", err, "retry_in", backoff, "open_connections", l.count())
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		backoff = 0
		ip := remoteIP(c.RemoteAddr())
		if why := l.admit(ip); why != "" {
			// Counted before the close: whoever sees the close sees the count.
			s.stats.connsRejected.Add(1)
			s.diag(slog.LevelError, "connection refused", "transport", l.transport, "remote", c.RemoteAddr().String(), "reason", why)
			c.Close()
			continue
		}
		s.stats.connsAccepted.Add(1)
		return s.newGuardConn(c, l, ip), nil
	}
}

func (l *guardListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// admit counts a new connection from ip in, or says which cap it is over.
func (l *guardListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.max {
		return "listener connection cap reached (--max-connections)"
	}
	if l.perAddr > 0 && l.byAddr[ip] >= l.perAddr {
		return "per-address connection cap reached (--max-connections-per-addr)"
	}
	l.open++
	l.byAddr[ip]++
	return ""
}

func (l *guardListener) release(ip string) {
	l.mu.Lock()
	l.open--
	if n := l.byAddr[ip] - 1; n > 0 {
		l.byAddr[ip] = n
	} else {
		delete(l.byAddr, ip)
	}
	l.mu.Unlock()
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// guardConn is one accepted connection: idle and handshake timeouts on reads, a
// bounded send queue with write deadlines. Safe for concurrent use (as net.Conn).
type guardConn struct {
	net.Conn
	s      *Server
	l      *guardListener
	ip     string
	remote string // RemoteAddr().String(): what sipgo keys the connection by

	accepted time.Time
	lastIO   atomic.Int64 // unix ns of the last byte read or written
	tlsUp    atomic.Bool  // false until a TLS handshake completed (tls listeners)

	mu      sync.Mutex
	pend    []byte // queued, not yet handed to the writer
	spare   []byte
	closed  bool
	dropped bool // closed for not reading
	wake    chan struct{}
	done    chan struct{}
	onClose map[int]func()
	hookID  int

	fold foldHold // tcp: folded headers kept whole for sipgo (fold.go); read by sipgo's one reader
}

func (s *Server) newGuardConn(c net.Conn, l *guardListener, ip string) *guardConn {
	g := &guardConn{Conn: c, s: s, l: l, ip: ip, remote: c.RemoteAddr().String(), accepted: time.Now(),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	g.lastIO.Store(g.accepted.UnixNano())
	s.connOpened(g)
	go g.writer()
	return g
}

// Read reads with a deadline of IdleTimeout since the last traffic either way
// (a connection that keeps receiving requests from us is not idle). On a tls
// listener, until the handshake is done, the deadline is HandshakeTimeout from
// the accept.
func (g *guardConn) Read(b []byte) (int, error) {
	if g.l.transport == "tls" {
		return g.readRaw(b) // TLS records: tlsConn keeps the folds above it
	}
	return g.fold.read(g.readRaw, b)
}

func (g *guardConn) readRaw(b []byte) (int, error) {
	cfg := &g.s.cfg
	for {
		if g.l.transport == "tls" && !g.tlsUp.Load() {
			if cfg.HandshakeTimeout > 0 {
				_ = g.Conn.SetReadDeadline(g.accepted.Add(cfg.HandshakeTimeout))
			}
		} else if cfg.IdleTimeout > 0 {
			_ = g.Conn.SetReadDeadline(time.Unix(0, g.lastIO.Load()).Add(cfg.IdleTimeout))
		}
		n, err := g.Conn.Read(b)
		if n > 0 {
			g.lastIO.Store(time.Now().UnixNano())
		}
		if err == nil || n > 0 {
			return n, err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if g.l.transport == "tls" && !g.tlsUp.Load() {
				return 0, err // tlsConn counts and logs it
			}
			if cfg.IdleTimeout > 0 && time.Since(time.Unix(0, g.lastIO.Load())) < cfg.IdleTimeout {
				continue // written to meanwhile: not idle
			}
			g.s.stats.idleClosed.Add(1)
			g.s.diag(slog.LevelInfo, "idle connection closed", "transport", g.l.transport, "remote", g.remote, "idle_timeout", cfg.IdleTimeout)
			g.Close()
			return 0, io.EOF
		}
		return 0, err
	}
}

// Write queues b for the connection's writer; it never blocks on the peer. A
// queue over SendQueue bytes drops the connection.
func (g *guardConn) Write(b []byte) (int, error) {
	g.mu.Lock()
	if g.closed {
		dropped := g.dropped
		g.mu.Unlock()
		if dropped {
			return 0, errDropped
		}
		return 0, net.ErrClosed
	}
	if len(g.pend)+len(b) > g.s.cfg.SendQueue {
		g.mu.Unlock()
		g.drop("send queue full")
		return 0, errDropped
	}
	g.pend = append(g.pend, b...)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return len(b), nil
}

// writer writes what is queued, in order, each batch with a WriteTimeout
// deadline; a write that fails or times out drops the connection.
func (g *guardConn) writer() {
	for {
		select {
		case <-g.wake:
		case <-g.done:
			return
		}
		for {
			g.mu.Lock()
			out := g.pend
			g.pend, g.spare = g.spare[:0], nil
			g.mu.Unlock()
			if len(out) == 0 {
				g.mu.Lock()
				g.spare = out
				g.mu.Unlock()
				break
			}
			if t := g.s.cfg.WriteTimeout; t > 0 {
				_ = g.Conn.SetWriteDeadline(time.Now().Add(t))
			}
			_, err := g.Conn.Write(out)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					g.drop("write timed out")
				} else {
					g.Close()
				}
				return
			}
			g.lastIO.Store(time.Now().UnixNano())
			g.mu.Lock()
			if cap(out) <= 64<<10 { // keep a modest buffer, not a burst's
				g.spare = out[:0]
			}
			g.mu.Unlock()
		}
	}
}

// drop closes a connection whose peer does not keep up.
func (g *guardConn) drop(why string) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.dropped = true
	queued := len(g.pend)
	g.mu.Unlock()
	g.s.stats.slowDropped.Add(1)
	g.s.diag(slog.LevelError, "connection dropped: peer does not read", "transport", g.l.transport,
		"remote", g.remote, "reason", why, "queued_bytes", queued)
	g.Close()
}

// Close closes the connection once; the callbacks registered by onClosed run.
func (g *guardConn) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.pend = nil
	fns := g.onClose
	g.onClose = nil
	g.mu.Unlock()
	close(g.done)
	err := g.Conn.Close()
	g.l.release(g.ip)
	g.s.connClosed(g)
	for _, f := range fns {
		f()
	}
	return err
}

// onClosed registers f to run when the connection closes (at once when it has);
// the function returned unregisters it.
func (g *guardConn) onClosed(f func()) func() {
	g.mu.Lock()
	if !g.closed {
		if g.onClose == nil {
			g.onClose = map[int]func(){}
		}
		g.hookID++
		id := g.hookID
		g.onClose[id] = f
		g.mu.Unlock()
		return func() {
			g.mu.Lock()
			delete(g.onClose, id)
			g.mu.Unlock()
		}
	}
	g.mu.Unlock()
	f()
	return func() {}
}

// tlsGuard is the TLS listener over a guardListener: its connections do their
// handshake on the first Read (in sipgo's reader goroutine of the connection,
// holding up no one else) within HandshakeTimeout; a failed handshake is
// counted and logged (rate-limited, the peer's bytes never) and reads as EOF.
type tlsGuard struct {
	*guardListener
	cfg *tls.Config
}

func (l *tlsGuard) Accept() (net.Conn, error) {
	c, err := l.guardListener.Accept()
	if err != nil {
		return nil, err
	}
	g := c.(*guardConn)
	return &tlsConn{Conn: tls.Server(g, l.cfg), g: g}, nil
}

type tlsConn struct {
	*tls.Conn
	g    *guardConn
	once sync.Once
	err  error
	fold foldHold // folded headers kept whole for sipgo (fold.go)
}

func (c *tlsConn) handshake() error {
	c.once.Do(func() {
		ctx := context.Background()
		if t := c.g.s.cfg.HandshakeTimeout; t > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = err
			s := c.g.s
			s.stats.handshakeFailed.Add(1)
			var ne net.Error
			reason := "handshake failed"
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
				reason = "handshake timed out"
			}
			s.diag(slog.LevelInfo, "tls: "+reason, "remote", c.g.remote, "error", peerText([]byte(err.Error())))
			c.Conn.Close()
			c.g.Close()
			return
		}
		c.g.tlsUp.Store(true)
	})
	return c.err
}

func (c *tlsConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, io.EOF // counted and logged once above; sipgo closes quietly
	}
	return c.fold.read(c.Conn.Read, b)
}

func (c *tlsConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

func connKey(transport, remote string) string { return transport + "|" + remote }

func (s *Server) connOpened(g *guardConn) {
	s.stats.connsOpen.Add(1)
	s.mu.Lock()
	s.conns[connKey(g.l.transport, g.remote)] = g
	s.mu.Unlock()
}

func (s *Server) connClosed(g *guardConn) {
	s.stats.connsOpen.Add(^uint64(0))
	k := connKey(g.l.transport, g.remote)
	s.mu.Lock()
	if s.conns[k] == g {
		delete(s.conns, k)
	}
	s.mu.Unlock()
}

// connOf returns the open connection a request came in on (transport "tcp" or
// "tls", src its Source()), or nil.
func (s *Server) connOf(transport, src string) *guardConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[connKey(transport, src)]
}

// spawn runs f on a goroutine the server waits for on Close, unless Close has
// begun (false then): a request handled while the server closes must not add to
// the WaitGroup Close is waiting on.
func (s *Server) spawn(f func()) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}
