package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// Users shared between the workloads of a mixed run: a person of a population
// model is one account, signed in once, and a member of rooms of several
// workloads (12 small, 2 medium and 2 large rooms in Persistent Chat's model). The
// workloads that share users reach the driver through a sessionPool: the first
// workload to log a user on makes the session, the others get a handle on it, and
// the last handle closed logs it off. A copy a shared session receives goes to the
// workload whose run id its body carries (each workload has its own), so that no
// workload's tracker sees another's copies as strays.
//
// Only workloads whose users stay logged on for the run and use Join, Send, Leave
// and SendAsync can share (scenarios.Uses.Recover). A handle records an error
// saying the target forgot the user (stateLost): the next log-on of that user
// (a workload's recovery) then makes a new session for everyone, and the
// workloads' own recoveries rejoin their rooms.

// sessionPool is the sessions of the shared users, by user URI. Safe for
// concurrent use.
type sessionPool struct {
	d  Driver
	mu sync.Mutex
	m  map[string]*pooled
}

func newSessionPool(d Driver) *sessionPool { return &sessionPool{d: d, m: map[string]*pooled{}} }

// pooled is one shared user's session. s, gen and lost change under mu; the
// subscribers under subMu (read on every delivery).
type pooled struct {
	pool  *sessionPool
	key   string
	ready chan struct{} // closed when the first log-on ended (err set)
	err   error

	mu   sync.Mutex
	s    Session
	gen  int
	lost bool
	refs int // handles not closed; under pool.mu

	subMu sync.RWMutex
	subs  []poolSub
}

type poolSub struct {
	prefix string // "cl1 <run id> ": the bodies of the workload's posts
	fn     func(Delivery)
}

// deliver routes a copy to the workload whose run id it carries; a copy of no
// workload's (a stray, or a corrupted run id) goes to the first subscriber, which
// counts it once.
func (p *pooled) deliver(d Delivery) {
	p.subMu.RLock()
	defer p.subMu.RUnlock()
	for _, s := range p.subs {
		if strings.HasPrefix(d.Body, s.prefix) {
			s.fn(d)
			return
		}
	}
	if len(p.subs) > 0 {
		p.subs[0].fn(d)
	}
}

func (p *pooled) subscribe(prefix string, fn func(Delivery)) {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	for i, s := range p.subs {
		if s.prefix == prefix {
			p.subs[i].fn = fn
			return
		}
	}
	p.subs = append(p.subs, poolSub{prefix: prefix, fn: fn})
}

func (p *pooled) unsubscribe(prefix string) {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	for i, s := range p.subs {
		if s.prefix == prefix {
			p.subs = append(p.subs[:i], p.subs[i+1:]...)
			return
		}
	}
}

// current returns the session and its generation.
func (p *pooled) current() (Session, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s, p.gen
}

// failed notes an error of generation gen: one saying the target forgot the user
// makes the next log-on renew the session.
func (p *pooled) failed(gen int, err error) {
	if err == nil || !stateLost(err) {
		return
	}
	p.mu.Lock()
	if p.gen == gen {
		p.lost = true
	}
	p.mu.Unlock()
}

// poolDriver is the Driver of one workload that shares users: Connect gives a
// handle on the user's pooled session.
type poolDriver struct {
	pool   *sessionPool
	prefix string
}

// Flush passes the batch on when the driver batches (see Batcher).
func (pd poolDriver) Flush() {
	if b, ok := pd.pool.d.(Batcher); ok {
		b.Flush()
	}
}

func (pd poolDriver) Connect(ctx context.Context, u User, deliver func(Delivery)) (Session, error) {
	pl := pd.pool
	pl.mu.Lock()
	p := pl.m[u.URI]
	first := p == nil
	if first {
		p = &pooled{pool: pl, key: u.URI, ready: make(chan struct{})}
		pl.m[u.URI] = p
	}
	p.refs++
	pl.mu.Unlock()
	p.subscribe(pd.prefix, deliver)
	fail := func(err error) (Session, error) {
		pd.release(p)
		return nil, err
	}
	if first {
		s, err := pl.d.Connect(ctx, u, p.deliver)
		p.mu.Lock()
		p.s, p.err = s, err
		p.mu.Unlock()
		close(p.ready)
		if err != nil {
			return fail(err)
		}
		return pd.handle(p, false), nil
	}
	select {
	case <-p.ready:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if p.err != nil {
		return fail(sharedFailure{p.err})
	}
	p.mu.Lock()
	if p.lost {
		// The target forgot the user: a new session for every workload sharing it
		// (the others' recoveries rejoin their rooms). The old one is closed first:
		// its log-off must not reach the server after the new log-on.
		closeQuietly(p.s, connectCloseTimeout)
		s, err := pl.d.Connect(ctx, u, p.deliver)
		if err != nil {
			p.mu.Unlock()
			return fail(err)
		}
		p.s, p.gen, p.lost = s, p.gen+1, false
	}
	p.mu.Unlock()
	return pd.handle(p, !first), nil
}

// connectCloseTimeout bounds the quiet close of a session a renewal replaced.
const connectCloseTimeout = 2 * time.Second

// release drops one reference to p; the last one logs the session off (when it
// was made) and forgets it.
func (pd poolDriver) release(p *pooled) Session {
	pl := pd.pool
	pl.mu.Lock()
	p.refs--
	last := p.refs == 0
	if last && pl.m[p.key] == p {
		delete(pl.m, p.key)
	}
	pl.mu.Unlock()
	p.unsubscribe(pd.prefix)
	if !last {
		return nil
	}
	s, _ := p.current()
	return s
}

func (pd poolDriver) handle(p *pooled, reused bool) Session {
	h := &sharedSession{pd: pd, p: p, reused: reused}
	if s, _ := p.current(); s != nil {
		if _, ok := s.(AsyncSender); ok {
			return &sharedAsync{h}
		}
	}
	return h
}

// sharedSession is one workload's handle on a pooled session.
type sharedSession struct {
	pd     poolDriver
	p      *pooled
	reused bool // another workload logged the user on
	once   sync.Once
	closed error
}

func (h *sharedSession) Join(ctx context.Context, room string) error {
	s, gen := h.p.current()
	err := s.Join(ctx, room)
	h.p.failed(gen, err)
	return err
}

func (h *sharedSession) Send(ctx context.Context, room string, m Message) error {
	s, gen := h.p.current()
	err := s.Send(ctx, room, m)
	h.p.failed(gen, err)
	return err
}

func (h *sharedSession) Leave(ctx context.Context, room string) error {
	s, gen := h.p.current()
	err := s.Leave(ctx, room)
	h.p.failed(gen, err)
	return err
}

// Close releases the handle; the last handle of a user logs it off.
func (h *sharedSession) Close(ctx context.Context) error {
	h.once.Do(func() {
		if s := h.pd.release(h.p); s != nil {
			h.closed = s.Close(ctx)
		} else if n, ok := ctx.Value(closeNoteKey{}).(*closeNote); ok {
			n.kept = true
		}
	})
	return h.closed
}

// sharedAsync is a handle on a session that is an AsyncSender.
type sharedAsync struct{ *sharedSession }

func (h *sharedAsync) SendAsync(ctx context.Context, room string, page bool, m Message, done func(error)) {
	s, gen := h.p.current()
	s.(AsyncSender).SendAsync(ctx, room, page, m, func(err error) {
		h.p.failed(gen, err)
		done(err)
	})
}

// sharedFailure is the failed log-on of a shared user, as the workloads that
// waited for another's log-on get it: recorded once, by the workload that tried.
type sharedFailure struct{ err error }

func (e sharedFailure) Error() string { return e.err.Error() }
func (e sharedFailure) Unwrap() error { return e.err }

// isReused reports whether s is a handle on a session another workload logged on.
func isReused(s Session) bool {
	switch h := s.(type) {
	case *sharedSession:
		return h.reused
	case *sharedAsync:
		return h.reused
	}
	return false
}

func isSharedFailure(err error) bool {
	var sf sharedFailure
	return errors.As(err, &sf)
}

// closeNote is how a teardown learns that a Close went not on the wire: another
// workload still holds the shared session (set by sharedSession.Close when ctx
// carries one under closeNoteKey).
type closeNote struct{ kept bool }

type closeNoteKey struct{}
