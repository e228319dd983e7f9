// Package enginetest provides an in-memory Driver for testing what the engine itself
// decides (pacing, steps, counting), like net/http/httptest does for handlers.
package enginetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// FakeDriver is an in-memory chat service implementing engine.Driver (and its
// sessions engine.Pager and engine.HistoryFetcher, unless NoHistory). Configure its fields before the first Connect; after that it
// is safe for concurrent use, and it calls the knob functions (Drop, Dup, Delay,
// Corrupt, OpLatency, Fail) from many goroutines at once: they must be safe for
// concurrent use too. Timers (Latency, Delay, OpLatency) use the time package, so
// tests drive them with testing/synctest.
type FakeDriver struct {
	// Passwords maps user URI to password; a user not in it is unknown (NotFound).
	Passwords map[string]string
	// Rooms lists the rooms that exist.
	Rooms []string
	// Latency delays every delivery (and nothing else).
	Latency time.Duration
	// Drop, when set, decides that the copy of m for receiver is lost.
	Drop func(m engine.Message, receiver string) bool
	// Dup, when set, returns how many extra copies of m receiver gets (sent at the
	// same time as the first).
	Dup func(m engine.Message, receiver string) int
	// Delay, when set, adds to Latency for the copy of m to receiver: late copies,
	// reordering.
	Delay func(m engine.Message, receiver string) time.Duration
	// Corrupt, when set, decides that receiver's copy of m has its last byte changed.
	Corrupt func(m engine.Message, receiver string) bool
	// OpLatency, when set, delays operation op ("connect", "join", "send", "sendto", "history",
	// "leave", "close") of user before it takes effect: a slow or stalled server holds
	// the answer and, for a send, the copies too. A context done first makes the
	// operation fail with a Timeout (Canceled when the context was canceled).
	OpLatency func(op, user string) time.Duration
	// Fail, when set, is called before each operation ("connect", "join", "send",
	// "sendto", "history", "leave", "close") of user; a non-nil result is returned instead of
	// doing it.
	Fail func(op, user string) error
	// NoHistory makes sessions without history (no engine.HistoryFetcher, nor Pager
	// nor RoomLister), as the imc driver's.
	NoHistory bool
	// AsyncTimeout, when positive, makes sessions engine.AsyncSenders too (not with
	// NoHistory): SendAsync holds the post until the driver's Flush
	// (engine.Batcher), which runs it as Send or SendTo on a goroutine of its own
	// with this timeout on its context, as a driver's own per-request timeout.
	AsyncTimeout time.Duration
	// HistoryEdit, when set, changes what History returns: it gets the last n
	// messages of room (a copy, oldest first) and returns the history to answer.
	// Called from many goroutines at once.
	HistoryEdit func(room string, h []engine.Delivery) []engine.Delivery

	mu      sync.Mutex
	members map[string]map[string]*fakeSession // room -> user URI -> session
	online  map[string]*fakeSession            // user URI -> its latest open session (page mode)
	calls   []string
	history map[string][]engine.Delivery // room -> every accepted post, oldest first

	held       []func() // posts SendAsync started, run by Flush
	asyncSends atomic.Int64
}

// AsyncSends returns how many posts went through SendAsync so far. It is safe for
// concurrent use.
func (d *FakeDriver) AsyncSends() int64 { return d.asyncSends.Load() }

// Calls returns the operations done so far as "op user [room]", in order. It is safe
// for concurrent use.
func (d *FakeDriver) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

// CallCount returns how many of the operations done so far are op (such as "close").
// It is safe for concurrent use.
func (d *FakeDriver) CallCount(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if strings.HasPrefix(c, op+" ") {
			n++
		}
	}
	return n
}

func (d *FakeDriver) record(ctx context.Context, op, user, room string) error {
	d.mu.Lock()
	c := op + " " + user
	if room != "" {
		c += " " + room
	}
	d.calls = append(d.calls, c)
	d.mu.Unlock()
	if d.Fail != nil {
		if err := d.Fail(op, user); err != nil {
			return err
		}
	}
	if d.OpLatency != nil {
		if l := d.OpLatency(op, user); l > 0 {
			t := time.NewTimer(l)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				class := report.Timeout
				if errors.Is(ctx.Err(), context.Canceled) {
					class = report.Canceled
				}
				return &report.Error{Class: class, Op: op, Detail: "no answer from the fake", Err: ctx.Err()}
			}
		}
	}
	return nil
}

// Connect implements engine.Driver.
func (d *FakeDriver) Connect(ctx context.Context, u engine.User, deliver func(engine.Delivery)) (engine.Session, error) {
	if err := d.record(ctx, "connect", u.URI, ""); err != nil {
		return nil, err
	}
	pw, ok := d.Passwords[u.URI]
	switch {
	case !ok:
		return nil, report.Errorf(report.NotFound, "register", 404, "404 User Not Found")
	case pw != u.Password:
		return nil, report.Errorf(report.Auth, "register", 401, "401 Unauthorized (challenged again)")
	}
	s := &fakeSession{d: d, user: u.URI, deliver: deliver}
	d.mu.Lock()
	if d.online == nil {
		d.online = map[string]*fakeSession{}
	}
	d.online[u.URI] = s
	d.mu.Unlock()
	if d.NoHistory {
		return plainSession{s}, nil
	}
	if d.AsyncTimeout <= 0 {
		return syncSession{s}, nil
	}
	return s, nil
}

// plainSession hides the optional capabilities of a fakeSession: only Session's
// methods are promoted from the interface.
type plainSession struct{ engine.Session }

// syncSession is a fakeSession without engine.AsyncSender.
type syncSession struct{ *fakeSession }

func (syncSession) SendAsync() {} // hides fakeSession's: syncSession is no engine.AsyncSender

type fakeSession struct {
	d       *FakeDriver
	user    string
	deliver func(engine.Delivery)
	closed  bool // guarded by d.mu
}

func (s *fakeSession) Join(ctx context.Context, room string) error {
	if err := s.d.record(ctx, "join", s.user, room); err != nil {
		return err
	}
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.roomExists(room) {
		return report.Errorf(report.NotFound, "join", 0, "room %s not found", room)
	}
	if d.members == nil {
		d.members = map[string]map[string]*fakeSession{}
	}
	if d.members[room] == nil {
		d.members[room] = map[string]*fakeSession{}
	}
	d.members[room][s.user] = s
	return nil
}

func (d *FakeDriver) roomExists(room string) bool {
	for _, r := range d.Rooms {
		if strings.EqualFold(r, room) {
			return true
		}
	}
	return false
}

func (s *fakeSession) Send(ctx context.Context, room string, m engine.Message) error {
	if err := s.d.record(ctx, "send", s.user, room); err != nil {
		return err
	}
	d := s.d
	d.mu.Lock()
	if _, ok := d.members[room][s.user]; !ok {
		d.mu.Unlock()
		return report.Errorf(report.Rejected, "send", 403, "403 Not A Member Of This Room")
	}
	var to []*fakeSession
	for u, m := range d.members[room] {
		if u != s.user {
			to = append(to, m)
		}
	}
	if d.history == nil {
		d.history = map[string][]engine.Delivery{}
	}
	d.history[room] = append(d.history[room], engine.Delivery{Room: room, From: scenarios.UserPart(s.user), ID: m.ID, Body: m.Body, At: time.Now()})
	d.mu.Unlock()
	for _, r := range to {
		d.copyTo(r, room, s.user, m)
	}
	return nil
}

// SendAsync implements engine.AsyncSender when d.AsyncTimeout is set (see there).
func (s *fakeSession) SendAsync(ctx context.Context, room string, page bool, m engine.Message, done func(error)) {
	s.d.asyncSends.Add(1)
	if s.d.AsyncTimeout <= 0 {
		done(report.Errorf(report.Other, "send", 0, "the fake has no AsyncTimeout: SendAsync must not be used"))
		return
	}
	d := s.d
	d.mu.Lock()
	d.held = append(d.held, func() {
		ctx, cancel := context.WithTimeout(ctx, d.AsyncTimeout)
		defer cancel()
		if page {
			done(s.SendTo(ctx, room, m))
		} else {
			done(s.Send(ctx, room, m))
		}
	})
	d.mu.Unlock()
}

// Flush implements engine.Batcher: the posts SendAsync started wait for it, so a
// test in which the engine forgets to flush loses them.
func (d *FakeDriver) Flush() {
	d.mu.Lock()
	held := d.held
	d.held = nil
	d.mu.Unlock()
	for _, f := range held {
		go f()
	}
}

// SendTo implements engine.Pager: the copy goes to the latest open session of uri,
// if any (else nowhere, as to a UAS that is no user of the run).
func (s *fakeSession) SendTo(ctx context.Context, uri string, m engine.Message) error {
	if err := s.d.record(ctx, "sendto", s.user, uri); err != nil {
		return err
	}
	d := s.d
	d.mu.Lock()
	r := d.online[uri]
	d.mu.Unlock()
	if r != nil {
		d.copyTo(r, "", s.user, m)
	}
	return nil
}

// copyTo schedules receiver r's copies of m (none when dropped), after Latency and
// Delay, with the duplicates and corruption the knobs ask for.
func (d *FakeDriver) copyTo(r *fakeSession, room, from string, m engine.Message) {
	if d.Drop != nil && d.Drop(m, r.user) {
		return
	}
	n := 1
	if d.Dup != nil {
		n += d.Dup(m, r.user)
	}
	body := m.Body
	if d.Corrupt != nil && d.Corrupt(m, r.user) && body != "" {
		b := []byte(body)
		b[len(b)-1] ^= 0x01
		body = string(b)
	}
	lat := d.Latency
	if d.Delay != nil {
		lat += d.Delay(m, r.user)
	}
	dl := engine.Delivery{Room: room, From: scenarios.UserPart(from), ID: m.ID, Body: body}
	deliver := r.deliver
	for range n {
		time.AfterFunc(lat, func() {
			c := dl
			c.At = time.Now()
			deliver(c)
		})
	}
}

func (s *fakeSession) Leave(ctx context.Context, room string) error {
	if err := s.d.record(ctx, "leave", s.user, room); err != nil {
		return err
	}
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.members[room][s.user]; !ok {
		return report.Errorf(report.Rejected, "leave", 500, "500 Chat Command Failed")
	}
	delete(d.members[room], s.user)
	return nil
}

func (s *fakeSession) Close(ctx context.Context) error {
	d := s.d
	d.mu.Lock()
	closed := s.closed
	s.closed = true
	d.mu.Unlock()
	if closed {
		return nil
	}
	if err := d.record(ctx, "close", s.user, ""); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ms := range d.members {
		delete(ms, s.user)
	}
	if d.online[s.user] == s {
		delete(d.online, s.user)
	}
	return nil
}

// Rooms implements engine.RoomLister with the driver's rooms.
func (s *fakeSession) Rooms(ctx context.Context) ([]string, error) {
	return append([]string(nil), s.d.Rooms...), nil
}

// History implements engine.HistoryFetcher: the last n posts accepted in room,
// oldest first, as HistoryEdit changes them. Operation "history" for the knobs.
func (s *fakeSession) History(ctx context.Context, room string, n int) ([]engine.Delivery, error) {
	if err := s.d.record(ctx, "history", s.user, room); err != nil {
		return nil, err
	}
	d := s.d
	d.mu.Lock()
	if !d.roomExists(room) {
		d.mu.Unlock()
		return nil, report.Errorf(report.NotFound, "history", 404, "room %s not found", room)
	}
	h := d.history[room]
	h = append([]engine.Delivery(nil), h[max(0, len(h)-n):]...)
	d.mu.Unlock()
	if d.HistoryEdit != nil {
		h = d.HistoryEdit(room, h)
	}
	return h, nil
}
