// Package enginetest provides an in-memory Driver for testing what the engine itself
// decides (pacing, steps, counting), like net/http/httptest does for handlers.
package enginetest

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// FakeDriver is an in-memory chat service implementing engine.Driver. Configure its
// fields before the first Connect; after that it is safe for concurrent use. Timers
// (Latency) use the time package, so tests drive them with testing/synctest.
type FakeDriver struct {
	// Passwords maps user URI to password; a user not in it is unknown (NotFound).
	Passwords map[string]string
	// Rooms lists the rooms that exist.
	Rooms []string
	// Latency delays every delivery (and nothing else).
	Latency time.Duration
	// Drop, when set, decides that the copy of m for receiver is lost.
	Drop func(m engine.Message, receiver string) bool
	// Fail, when set, is called before each operation ("connect", "join", "send",
	// "leave", "close") of user; a non-nil result is returned instead of doing it.
	Fail func(op, user string) error

	mu      sync.Mutex
	members map[string]map[string]*fakeSession // room -> user URI -> session
	calls   []string
}

// Calls returns the operations done so far as "op user [room]", in order.
func (d *FakeDriver) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

func (d *FakeDriver) record(op, user, room string) error {
	d.mu.Lock()
	c := op + " " + user
	if room != "" {
		c += " " + room
	}
	d.calls = append(d.calls, c)
	d.mu.Unlock()
	if d.Fail != nil {
		return d.Fail(op, user)
	}
	return nil
}

// Connect implements engine.Driver.
func (d *FakeDriver) Connect(ctx context.Context, u engine.User, deliver func(engine.Delivery)) (engine.Session, error) {
	if err := d.record("connect", u.URI, ""); err != nil {
		return nil, err
	}
	pw, ok := d.Passwords[u.URI]
	switch {
	case !ok:
		return nil, report.Errorf(report.NotFound, "register", 404, "404 User Not Found")
	case pw != u.Password:
		return nil, report.Errorf(report.Auth, "register", 401, "401 Unauthorized (challenged again)")
	}
	return &fakeSession{d: d, user: u.URI, deliver: deliver}, nil
}

type fakeSession struct {
	d       *FakeDriver
	user    string
	deliver func(engine.Delivery)
	closed  bool // guarded by d.mu
}

func (s *fakeSession) Join(ctx context.Context, room string) error {
	if err := s.d.record("join", s.user, room); err != nil {
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
	if err := s.d.record("send", s.user, room); err != nil {
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
	d.mu.Unlock()
	for _, r := range to {
		if d.Drop != nil && d.Drop(m, r.user) {
			continue
		}
		dl := engine.Delivery{Room: room, From: scenarios.UserPart(s.user), ID: m.ID, Body: m.Body}
		deliver := r.deliver
		time.AfterFunc(d.Latency, func() {
			dl.At = time.Now()
			deliver(dl)
		})
	}
	return nil
}

func (s *fakeSession) Leave(ctx context.Context, room string) error {
	if err := s.d.record("leave", s.user, room); err != nil {
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
	if err := d.record("close", s.user, ""); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ms := range d.members {
		delete(ms, s.user)
	}
	return nil
}

// Rooms implements engine.RoomLister with the driver's rooms.
func (s *fakeSession) Rooms(ctx context.Context) ([]string, error) {
	return append([]string(nil), s.d.Rooms...), nil
}
