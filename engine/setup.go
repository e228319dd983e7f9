package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// setup logs on the plan's users (for the scenarios that keep them logged on), joins
// their rooms, and turns what succeeded into the steady phase's units: a user whose
// log-on failed, or a (user, room) whose join failed, is left out (the failure is
// recorded as a register or join op). It returns an error wrapping ErrSetup when
// nothing is left to run; an interrupt (ctx) is not an error.
func (r *runner) setup(ctx context.Context) error {
	c := r.c
	users := r.cfg.Users
	r.sess = make([]Session, len(users))
	r.joined = make([][]string, len(users))
	plan, err := scenarios.Assign(c, users)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	for _, u := range plan.Users {
		if u < 0 || u >= len(users) {
			return fmt.Errorf("%w: the plan names user %d of %d", ErrSetup, u, len(users))
		}
	}

	var first error
	switch c.Scenario {
	case scenarios.Steady, scenarios.Fanout:
		first = r.logon(ctx, plan.Users, membership(plan))
	case scenarios.Churn, scenarios.Message:
		first = r.logon(ctx, plan.Users, nil)
	case scenarios.History:
		first = r.logon(ctx, plan.Users, membership(plan))
	}
	if ctx.Err() != nil {
		return nil // interrupted: teardown logs off whoever is on
	}
	switch c.Scenario {
	case scenarios.Steady, scenarios.Fanout, scenarios.Churn, scenarios.Message, scenarios.History:
		if r.loggedOn() == 0 {
			return fmt.Errorf("%w: none of the %d users could log on (first error: %v)", ErrSetup, len(plan.Users), first)
		}
	}
	if recoverable(c.Scenario) {
		r.wrapSessions(ctx) // a user the target forgets logs on again (recover.go)
	}

	switch c.Scenario {
	case scenarios.Steady:
		r.op = r.opPost
		rosters := r.rosters()
		for _, p := range plan.Pairs {
			if !r.isJoined(p.Sender, p.Room) || !r.isJoined(p.Receiver, p.Room) {
				continue
			}
			st := r.tr.addStream(int32(p.Sender), p.Room, rosters[p.Room])
			r.posters = append(r.posters, poster{user: int32(p.Sender), room: p.Room, st: st})
		}
		if len(r.posters) == 0 {
			return fmt.Errorf("%w: no pair has both users logged on and in its room (first error: %v)", ErrSetup, first)
		}
	case scenarios.Fanout:
		r.op = r.opPost
		rosters := r.rosters()
		// Round-robin across rooms first, so consecutive posts go to different rooms.
		for k := 0; ; k++ {
			more := false
			for _, rp := range plan.Rooms {
				rs := rosters[rp.URI]
				if rs == nil || k >= len(rs.members) {
					continue
				}
				more = true
				u := rs.members[k]
				r.posters = append(r.posters, poster{user: u, room: rp.URI, st: r.tr.addStream(u, rp.URI, rs)})
			}
			if !more {
				break
			}
		}
		if len(r.posters) == 0 {
			return fmt.Errorf("%w: nobody could join a room (first error: %v)", ErrSetup, first)
		}
	case scenarios.Message:
		r.op = r.opPost
		var rs *roster
		for u := range users {
			if r.sess[u] != nil && sameURI(users[u].URI, c.To) {
				rs = newRoster([]int32{int32(u)})
				break
			}
		}
		for _, u := range plan.Users {
			if r.sess[u] == nil {
				continue
			}
			pg, ok := r.sess[u].(Pager)
			if !ok {
				return fmt.Errorf("%w: the protocol driver cannot send page-mode messages (its sessions are no engine.Pager)", ErrSetup)
			}
			r.posters = append(r.posters, poster{user: int32(u), room: c.To, st: r.tr.addStream(int32(u), c.To, rs), pager: pg})
		}
	case scenarios.Churn:
		r.op = r.opChurn
		for _, rp := range plan.Rooms {
			for _, u := range rp.Members {
				if r.sess[u] != nil {
					r.churns = append(r.churns, churnSlot{user: int32(u), room: rp.URI})
				}
			}
		}
		if len(r.churns) == 0 {
			return fmt.Errorf("%w: no logged-on user has a room to join", ErrSetup)
		}
		r.slots = freeSlots(len(r.churns))
	case scenarios.History:
		r.op = r.opHistory
		if err := r.historyUnits(plan, first); err != nil {
			return err
		}
	case scenarios.Login:
		r.op = r.opLogin
		for _, u := range plan.Users {
			r.logins = append(r.logins, int32(u))
		}
		if len(r.logins) == 0 {
			return fmt.Errorf("%w: the plan has no users", ErrSetup)
		}
		r.slots = freeSlots(len(r.logins))
	case scenarios.PairCycle:
		r.op = r.opCycle
		for _, p := range plan.Pairs {
			s, rc := int32(p.Sender), int32(p.Receiver)
			r.cycles = append(r.cycles, cyclePair{sender: s, receiver: rc, room: p.Room,
				fwd:  r.tr.addStream(s, p.Room, newRoster([]int32{rc})),
				back: r.tr.addStream(rc, p.Room, newRoster([]int32{s}))})
		}
		if len(r.cycles) == 0 {
			return fmt.Errorf("%w: the plan has no pairs", ErrSetup)
		}
		r.slots = freeSlots(len(r.cycles))
	default:
		return fmt.Errorf("%w: scenario %q has no engine unit", ErrSetup, c.Scenario)
	}
	if len(r.posters) > 0 {
		all := true
		for i := range r.posters {
			p := &r.posters[i]
			p.async, _ = r.sess[p.user].(AsyncSender)
			all = all && p.async != nil
		}
		if all {
			r.inline = r.startPost
			r.batcher, _ = r.d.(Batcher)
		}
	}
	r.tr.publish()
	if c.Scenario == scenarios.History {
		return r.seedRooms(ctx)
	}
	return nil
}

// historyUnits makes the history scenario's rooms (each with its seeder: its first
// joined member) and fetching slots (every joined member). It fails when the
// protocol's sessions cannot fetch history or nobody could join.
func (r *runner) historyUnits(plan scenarios.Plan, first error) error {
	rosters := r.rosters()
	for _, rp := range plan.Rooms {
		rs := rosters[rp.URI]
		if rs == nil || len(rs.members) == 0 {
			continue
		}
		h := &historyRoom{uri: rp.URI, seeder: rs.members[0]}
		h.st = r.tr.addStream(h.seeder, rp.URI, rs)
		r.histRooms = append(r.histRooms, h)
		for _, u := range rs.members {
			hf, ok := r.sess[u].(HistoryFetcher)
			if !ok {
				return fmt.Errorf("%w: the %s protocol has no history (its sessions are no engine.HistoryFetcher); use --protocol xccos", ErrSetup, r.c.Protocol)
			}
			r.histSlots = append(r.histSlots, historySlot{hf: hf, room: h})
		}
	}
	if len(r.histRooms) == 0 {
		return fmt.Errorf("%w: nobody could join a room (first error: %v)", ErrSetup, first)
	}
	return nil
}

// seedRooms posts the history scenario's messages and keeps the fetching slots of
// the rooms seeded in full.
func (r *runner) seedRooms(ctx context.Context) error {
	r.seedHistory(ctx)
	if ctx.Err() != nil {
		return nil // interrupted
	}
	r.histSlots = slices.DeleteFunc(r.histSlots, func(s historySlot) bool { return !s.room.ok })
	if len(r.histSlots) == 0 {
		return fmt.Errorf("%w: no room could be given its %d messages of history (see the send failures)", ErrSetup, r.c.History)
	}
	return nil
}

// headOp is the operation whose p99 the progress line shows: delivery where copies
// are tracked (what a chat user feels), else the scenario unit's own.
func headOp(c scenarios.Config, users []User) report.Op {
	switch c.Scenario {
	case scenarios.PairCycle:
		return report.OpCycle
	case scenarios.Churn:
		return report.OpJoin
	case scenarios.Login:
		return report.OpRegister
	case scenarios.History:
		return report.OpHistory
	case scenarios.Message:
		for _, u := range users {
			if sameURI(u.URI, c.To) {
				return report.OpDelivery
			}
		}
		return report.OpSend
	}
	return report.OpDelivery
}

// membership is who joins which room during setup: the plan's rooms with their
// members, plus each pair's sender and receiver in the pair's room.
func membership(p scenarios.Plan) map[int][]string {
	m := map[int][]string{}
	add := func(u int, room string) {
		for _, x := range m[u] {
			if x == room {
				return
			}
		}
		m[u] = append(m[u], room)
	}
	for _, rp := range p.Rooms {
		for _, u := range rp.Members {
			add(u, rp.URI)
		}
	}
	for _, pr := range p.Pairs {
		add(pr.Sender, pr.Room)
		add(pr.Receiver, pr.Room)
	}
	return m
}

// logon logs users on with at most LogonParallel in flight and LogonRate per second,
// each then joining its rooms in order. It returns the first failure, for the error
// when nobody could log on.
func (r *runner) logon(ctx context.Context, users []int, rooms map[int][]string) error {
	var lim *rate.Limiter
	if r.c.LogonRate > 0 {
		// A coarse limit on a setup ramp: the limiter's slot loss at high rates does not
		// matter here (unlike for traffic, which the pacer drives).
		lim = rate.NewLimiter(rate.Limit(r.c.LogonRate), 1)
	}
	sem := make(chan struct{}, max(1, r.c.LogonParallel))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, u := range users {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if lim != nil && lim.Wait(ctx) != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := r.logonOne(ctx, u, rooms[u]); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// logonOne logs user u on and joins rooms, recording each as an op. Each goroutine
// writes only u's entries of r.sess and r.joined.
func (r *runner) logonOne(ctx context.Context, u int, rooms []string) error {
	l := r.lane(int64(u))
	var s Session
	err := r.timed(ctx, l, report.OpRegister, "register", func(ctx context.Context) error {
		var err error
		s, err = r.d.Connect(ctx, r.cfg.Users[u], r.deliverTo(int32(u)))
		return err
	})
	if err != nil {
		return err
	}
	r.sess[u] = s
	for _, room := range rooms {
		if r.timed(ctx, l, report.OpJoin, "join", func(ctx context.Context) error { return s.Join(ctx, room) }) == nil {
			r.joined[u] = append(r.joined[u], room)
		}
	}
	return nil
}

// timed runs fn with the per-op Timeout and records it as op, latency from its own
// start (setup, teardown and the steps inside a unit have no schedule).
func (r *runner) timed(ctx context.Context, l *lane, op report.Op, name string, fn func(context.Context) error) error {
	octx, cancel := context.WithTimeout(ctx, r.c.Timeout)
	t0 := time.Now()
	err := classify(fn(octx), name)
	el := time.Since(t0)
	cancel()
	if err == nil && r.c.NoRegister && (op == report.OpRegister || op == report.OpUnregister) {
		// Nothing went on the wire: no register operation to report (a failure still is).
		return nil
	}
	r.record(l, op, el, 0, err)
	return err
}

// deliverTo is user u's Delivery callback: straight into the tracker, which never
// blocks on more than a shard mutex.
func (r *runner) deliverTo(u int32) func(Delivery) {
	return func(d Delivery) { r.tr.deliver(u, d) }
}

func (r *runner) loggedOn() int {
	n := 0
	for _, s := range r.sess {
		if s != nil {
			n++
		}
	}
	return n
}

func (r *runner) isJoined(u int, room string) bool {
	if u < 0 || u >= len(r.joined) {
		return false
	}
	for _, x := range r.joined[u] {
		if x == room {
			return true
		}
	}
	return false
}

// rosters returns each room's joined members, in user order: everyone who receives
// a post there.
func (r *runner) rosters() map[string]*roster {
	members := map[string][]int32{}
	for u, rooms := range r.joined {
		for _, room := range rooms {
			members[room] = append(members[room], int32(u))
		}
	}
	rs := make(map[string]*roster, len(members))
	for room, m := range members {
		rs[room] = newRoster(m)
	}
	return rs
}

func freeSlots(n int) chan int32 {
	ch := make(chan int32, n)
	for i := range n {
		ch <- int32(i)
	}
	return ch
}

// sameURI compares SIP URIs loosely (scheme and case), enough to recognize a run's
// own user as --to.
func sameURI(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "<>"))
		s = strings.TrimPrefix(strings.TrimPrefix(s, "sips:"), "sip:")
		return strings.ToLower(s)
	}
	return a != "" && b != "" && norm(a) == norm(b)
}

// teardown leaves the rooms joined in setup and logs everyone off, with a fresh
// context: an interrupted or failed run still cleans up, within teardownTimeout.
func (r *runner) teardown(ctx context.Context) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	sem := make(chan struct{}, max(1, r.c.LogonParallel))
	var wg sync.WaitGroup
	for u, s := range r.sess {
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			l := r.lane(int64(u))
			for _, room := range r.joined[u] {
				_ = r.timed(tctx, l, report.OpLeave, "leave", func(ctx context.Context) error { return s.Leave(ctx, room) })
			}
			_ = r.timed(tctx, l, report.OpUnregister, "unregister", s.Close)
		})
	}
	wg.Wait()
}

// classify makes sure err carries a failure class: the driver's *report.Error, or
// the context's verdict (a timeout, or the end of the run) for a bare context error.
func classify(err error, op string) error {
	if err == nil {
		return nil
	}
	var e *report.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return &report.Error{Class: report.Timeout, Op: op, Detail: "no final answer within the timeout", Err: err}
	case errors.Is(err, context.Canceled):
		return &report.Error{Class: report.Canceled, Op: op, Detail: "stopped at the end of the run", Err: err}
	}
	return &report.Error{Class: report.Other, Op: op, Err: err}
}
