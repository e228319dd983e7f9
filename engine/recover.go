package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
)

// Recovery after the target forgot a user: a server that restarted (or expired a
// registration, or dropped a member) answers the user's posts with 403 "not a
// member", 404 or 481, or the transport breaks. A user that stays logged on for
// the run (steady, fanout, churn) then logs on again with a new session and
// re-joins the rooms it was in, retrying with exponential backoff until it
// succeeds or the run ends. Each attempt is one `reconnect` operation (its
// latency: the log-on and the joins), so the outage shows in the intervals as
// failed posts and failed reconnects, and the recovery as the reconnects that
// succeed.
//
// A recovering session wraps the driver's session; the posters and the teardown
// hold the wrapper, which swaps the session inside. Posts that fail while a
// recovery runs go to the old session and are counted as failures.

const (
	recoverFirstBackoff = 200 * time.Millisecond
	recoverMaxBackoff   = 2 * time.Second
)

// stateLost reports whether err says the target no longer knows the user's
// registration, session or membership: the transport broke (the server went
// away), authentication is asked again, or a 403/404/481 (imc's "not a member",
// a dialog the server forgot) or an ended XCCOS session. Timeouts are not: a
// slow or stalled server still knows the user.
func stateLost(err error) bool {
	var e *report.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Class {
	case report.Transport, report.Auth, report.NotFound:
		return true
	case report.Rejected:
		return e.Code == 403 || e.Code == 404 || e.Code == 481 || e.Code == 0
	}
	return false
}

// recoveryGroup knows which recovering sessions are in which room: when a user
// finds it was forgotten and is let back in (the target restarted, or dropped the
// room's members), the other members were forgotten too, though those that only
// receive cannot tell: they are recovered with it. Safe for concurrent use.
type recoveryGroup struct {
	mu      sync.Mutex
	members map[string][]*recovering
	// slots bounds the reconnects in flight as --logon-parallel bounds the
	// setup's log-ons: a restarted server is not hit by every user at once.
	slots chan struct{}
}

func (g *recoveryGroup) add(room string, s *recovering) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.members[room] {
		if m == s {
			return
		}
	}
	g.members[room] = append(g.members[room], s)
}

// nudge starts the recovery of the members of rooms other than self that have
// not recovered since.
func (g *recoveryGroup) nudge(self *recovering, rooms []string, since time.Time) {
	g.mu.Lock()
	var ms []*recovering
	for _, room := range rooms {
		for _, m := range g.members[room] {
			if m != self {
				ms = append(ms, m)
			}
		}
	}
	g.mu.Unlock()
	for _, m := range ms {
		m.nudge(since)
	}
}

// recovering is a Session that logs its user on again when the target lost it.
// Safe for concurrent use.
type recovering struct {
	r   *runner
	g   *recoveryGroup
	u   int32
	ctx context.Context // the run's: a recovery ends with it, or with Close

	mu      sync.Mutex
	cur     Session
	gen     uint64   // increments with each new session
	rooms   []string // joined, to join again
	running bool     // a recovery goroutine runs
	backoff time.Duration
	closed  bool
	cancel  context.CancelFunc // of the running recovery
	done    chan struct{}      // closed when the running recovery ends
	lostAt  time.Time          // when the running recovery started
	backAt  time.Time          // when the last recovery succeeded
}

// recoveringAsync is a recovering session whose driver session is an AsyncSender.
type recoveringAsync struct{ *recovering }

// wrapSessions wraps every logged-on user's session for recovery, after the
// setup's log-ons and joins (their failures are the setup's to report, not
// losses to recover from). ctx is the run's.
func (r *runner) wrapSessions(ctx context.Context) {
	g := &recoveryGroup{members: map[string][]*recovering{}, slots: make(chan struct{}, max(1, r.c.LogonParallel))}
	for u, s := range r.sess {
		if s != nil {
			r.sess[u] = r.wrapRecovering(ctx, g, int32(u), s, r.joined[u])
		}
	}
}

// wrapRecovering returns s, joined to rooms, wrapped for recovery, keeping its
// AsyncSender capability (the only optional one the recoverable scenarios use).
func (r *runner) wrapRecovering(ctx context.Context, g *recoveryGroup, u int32, s Session, rooms []string) Session {
	rs := &recovering{r: r, g: g, u: u, ctx: ctx, cur: s, backoff: recoverFirstBackoff, rooms: append([]string(nil), rooms...)}
	for _, room := range rooms {
		g.add(room, rs)
	}
	if _, ok := s.(AsyncSender); ok {
		return recoveringAsync{rs}
	}
	return rs
}

// current returns the session and its generation, or an error when a recovery
// runs (the old session is closed: the operation fails at once).
func (s *recovering) current(op string) (Session, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil, s.gen, &report.Error{Class: report.Transport, Op: op,
			Detail: "not logged on: logging on again after the target lost the session (reconnect)"}
	}
	return s.cur, s.gen, nil
}

// observe looks at the outcome of an operation on session generation gen.
func (s *recovering) observe(gen uint64, err error) {
	if err == nil {
		s.mu.Lock()
		if gen == s.gen {
			s.backoff = recoverFirstBackoff // the session works: a later loss starts afresh
		}
		s.mu.Unlock()
		return
	}
	if !stateLost(err) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return // an old session's failure
	}
	s.startLocked(time.Now())
}

// nudge starts a recovery for a loss found by another member at since, unless
// one runs or succeeded after since.
func (s *recovering) nudge(since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.backAt.After(since) {
		return
	}
	s.startLocked(since)
}

// startLocked starts a recovery goroutine for a loss at lostAt unless one runs;
// s.mu is held. Its success nudges the other members of its rooms for that loss
// (no further back: one loss, one round of recoveries).
func (s *recovering) startLocked(lostAt time.Time) {
	if s.running || s.closed || s.ctx.Err() != nil {
		return
	}
	s.running, s.lostAt = true, lostAt
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	go s.recover(ctx, s.done)
}

// recover logs the user on again and re-joins its rooms, with backoff between
// attempts, until one succeeds or ctx ends.
func (s *recovering) recover(ctx context.Context, done chan struct{}) {
	defer close(done)
	l := s.r.lane(int64(s.u))
	s.mu.Lock()
	wait, old := s.backoff, s.cur
	s.mu.Unlock()
	// The old session first: its log-off and leaves must not reach the server
	// after the new session's log-on and joins (drivers may share one contact for
	// all users). Bounded: the server may be gone.
	closeQuietly(old, min(s.r.c.Timeout, 2*time.Second))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.finish(nil, nil, wait)
			return
		case <-t.C:
		}
		select {
		case s.g.slots <- struct{}{}:
		case <-ctx.Done():
			s.finish(nil, nil, wait)
			return
		}
		s.mu.Lock()
		rooms := append([]string(nil), s.rooms...)
		s.mu.Unlock()
		var ns Session
		t0 := time.Now()
		octx, cancel := context.WithTimeout(ctx, s.r.c.Timeout*time.Duration(1+len(rooms)))
		err := func() error {
			var err error
			if ns, err = s.r.d.Connect(octx, s.r.cfg.Users[s.u], s.r.deliverTo(s.u)); err != nil {
				return err
			}
			for _, room := range rooms {
				if err := ns.Join(octx, room); err != nil {
					return err
				}
			}
			return nil
		}()
		cancel()
		<-s.g.slots
		err = classify(err, "reconnect")
		if ctx.Err() != nil {
			// The run ended (or the session was closed) during the attempt: not a
			// failure of the target's; the new session, if any, is closed.
			s.finish(nil, ns, wait)
			return
		}
		s.r.record(l, report.OpReconnect, time.Since(t0), 0, err)
		if err == nil {
			s.finish(ns, nil, wait)
			return
		}
		if ns != nil {
			closeQuietly(ns, s.r.c.Timeout)
		}
		wait = min(2*wait, recoverMaxBackoff)
	}
}

// finish ends a recovery: ns (when not nil) becomes the session; drop is a
// session to close instead.
func (s *recovering) finish(ns, drop Session, wait time.Duration) {
	s.mu.Lock()
	lostAt := s.lostAt
	var rooms []string
	if ns != nil {
		s.cur = ns
		s.gen++
		s.backAt = time.Now()
		rooms = append(rooms, s.rooms...)
	}
	s.backoff = min(2*wait, recoverMaxBackoff) // reset by the next success of the new session
	s.running = false
	s.mu.Unlock()
	if drop != nil {
		closeQuietly(drop, s.r.c.Timeout)
	}
	if ns != nil {
		// Let back in: the target had forgotten us, so it forgot our rooms'
		// other members too (a receiver never sees an error of its own).
		s.g.nudge(s, rooms, lostAt)
	}
}

func closeQuietly(s Session, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = s.Close(ctx)
}

func (s *recovering) Join(ctx context.Context, room string) error {
	cur, gen, err := s.current("join")
	if err != nil {
		return err
	}
	err = cur.Join(ctx, room)
	if err == nil {
		s.mu.Lock()
		s.rooms = append(s.rooms, room)
		s.mu.Unlock()
		s.g.add(room, s)
	}
	s.observe(gen, err)
	return err
}

func (s *recovering) Send(ctx context.Context, room string, m Message) error {
	cur, gen, err := s.current("send")
	if err != nil {
		return err
	}
	err = cur.Send(ctx, room, m)
	s.observe(gen, err)
	return err
}

func (s *recovering) Leave(ctx context.Context, room string) error {
	s.mu.Lock()
	for i, r := range s.rooms {
		if r == room {
			s.rooms = append(s.rooms[:i], s.rooms[i+1:]...)
			break
		}
	}
	cur, gen := s.cur, s.gen
	s.mu.Unlock()
	err := cur.Leave(ctx, room)
	s.observe(gen, err)
	return err
}

// Close stops a running recovery (waiting for it) and closes the session.
func (s *recovering) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	cancel, done := s.cancel, s.done
	running := s.running
	s.mu.Unlock()
	if running {
		cancel()
		<-done
	}
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	return cur.Close(ctx)
}

func (s recoveringAsync) SendAsync(ctx context.Context, room string, page bool, m Message, done func(error)) {
	cur, gen, err := s.current("send")
	if err != nil {
		done(err)
		return
	}
	cur.(AsyncSender).SendAsync(ctx, room, page, m, func(err error) {
		s.observe(gen, err)
		done(err)
	})
}
