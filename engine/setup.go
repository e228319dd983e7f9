package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// setup asks the scenario's unit (scenarios.Lookup) to log on the plan's users,
// join their rooms and add the steady phase's units through the runner's
// scenarios.Setup side (unitSetup), then picks the operation those units run. A user
// whose log-on failed, or a (user, room) whose join failed, is left out (the failure
// is recorded as a register or join op). It returns an error wrapping ErrSetup when
// nothing is left to run; an interrupt (ctx) is not an error.
func (r *runner) setup(ctx context.Context) error {
	c := r.c
	users := r.cfg.Users
	r.sess = make([]Session, len(users))
	r.joined = make([][]string, len(users))
	unit, err := scenarios.Lookup(c.Scenario)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	plan, err := scenarios.Assign(c, users)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	for _, u := range plan.Users {
		if u < 0 || u >= len(users) {
			return fmt.Errorf("%w: the plan names user %d of %d", ErrSetup, u, len(users))
		}
	}
	if err := unit.Setup(ctx, c, plan, (*unitSetup)(r)); err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if ctx.Err() != nil {
		return nil // interrupted: teardown logs off whoever is on
	}
	if unit.Uses().Recover {
		r.wrapSessions(ctx) // a user the target forgets logs on again (recover.go)
	}
	if err := r.pickOp(); err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	r.tr.publish()
	if len(r.histRooms) > 0 {
		return r.seedRooms(ctx)
	}
	return nil
}

// pickOp sets the steady phase's operation from the units setup added: posts,
// pair cycles, churns, logins or history fetches (one kind per run).
func (r *runner) pickOp() error {
	kinds := 0
	for _, n := range []int{len(r.posters), len(r.cycles), len(r.churns), len(r.logins), len(r.histSlots)} {
		if n > 0 {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return fmt.Errorf("scenario %s set up nothing to run", r.c.Scenario)
	case kinds > 1:
		return fmt.Errorf("scenario %s set up more than one kind of operation", r.c.Scenario)
	case len(r.posters) > 0:
		r.op = r.opPost
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
	case len(r.cycles) > 0:
		r.op = r.opCycle
		r.slots = freeSlots(len(r.cycles))
	case len(r.churns) > 0:
		r.op = r.opChurn
		r.slots = freeSlots(len(r.churns))
	case len(r.logins) > 0:
		r.op = r.opLogin
		r.slots = freeSlots(len(r.logins))
	default:
		r.op = r.opHistory
	}
	return nil
}

// unitSetup is the runner as a scenario unit's scenarios.Setup. Its methods run on
// the goroutine of setup (Logon runs its log-ons in parallel itself).
type unitSetup runner

func (s *unitSetup) Users() []User { return s.cfg.Users }

func (s *unitSetup) Logon(ctx context.Context, users []int, rooms map[int][]string) error {
	r := (*runner)(s)
	r.rost = nil // joins change the rosters
	return r.logon(ctx, users, rooms)
}

func (s *unitSetup) LoggedOn(u int) bool { return u >= 0 && u < len(s.sess) && s.sess[u] != nil }

func (s *unitSetup) Joined(u int, room string) bool { return (*runner)(s).isJoined(u, room) }

func (s *unitSetup) Members(room string) []int {
	rs := (*runner)(s).roster(room)
	if rs == nil {
		return nil
	}
	m := make([]int, len(rs.members))
	for i, u := range rs.members {
		m[i] = int(u)
	}
	return m
}

func (s *unitSetup) Post(u int, room string) {
	r := (*runner)(s)
	r.posters = append(r.posters, poster{user: int32(u), room: room, st: r.tr.addStream(int32(u), room, r.roster(room))})
}

func (s *unitSetup) Page(u int, to string, receiver int) error {
	r := (*runner)(s)
	pg, ok := r.sess[u].(Pager)
	if !ok {
		return errors.New("the protocol driver cannot send page-mode messages (its sessions are no engine.Pager)")
	}
	var rs *roster
	if receiver >= 0 {
		rs = newRoster([]int32{int32(receiver)})
	}
	r.posters = append(r.posters, poster{user: int32(u), room: to, st: r.tr.addStream(int32(u), to, rs), pager: pg})
	return nil
}

func (s *unitSetup) Cycle(sender, receiver int, room string) {
	r := (*runner)(s)
	sn, rc := int32(sender), int32(receiver)
	r.cycles = append(r.cycles, cyclePair{sender: sn, receiver: rc, room: room,
		fwd:  r.tr.addStream(sn, room, newRoster([]int32{rc})),
		back: r.tr.addStream(rc, room, newRoster([]int32{sn}))})
}

func (s *unitSetup) Churn(u int, room string) {
	s.churns = append(s.churns, churnSlot{user: int32(u), room: room})
}

func (s *unitSetup) Login(u int) { s.logins = append(s.logins, int32(u)) }

// History makes room a history room (its seeder: its first joined member) and every
// joined member a fetching slot.
func (s *unitSetup) History(room string) error {
	r := (*runner)(s)
	rs := r.roster(room)
	if rs == nil || len(rs.members) == 0 {
		return nil
	}
	h := &historyRoom{uri: room, seeder: rs.members[0]}
	h.st = r.tr.addStream(h.seeder, room, rs)
	var slots []historySlot
	for _, u := range rs.members {
		hf, ok := r.sess[u].(HistoryFetcher)
		if !ok {
			return fmt.Errorf("the %s protocol has no history; use --protocol xccos (its sessions are no engine.HistoryFetcher)", r.c.Protocol)
		}
		slots = append(slots, historySlot{hf: hf, room: h})
	}
	r.histRooms = append(r.histRooms, h)
	r.histSlots = append(r.histSlots, slots...)
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

// headOp is the operation whose p99 the progress line shows: the unit's Head
// (delivery where copies are tracked: what a chat user feels).
func headOp(c scenarios.Config, users []User) report.Op {
	if u, err := scenarios.Lookup(c.Scenario); err == nil {
		if op, err := report.ParseOp(u.Head(c, users)); err == nil {
			return op
		}
	}
	return report.OpDelivery
}

// logon logs users on with at most LogonParallel in flight and LogonRate per second,
// each then joining its rooms in order. It returns the first failure, for the error
// when nobody could log on.
//
// With a LogonRate the sign-ins are paced on a schedule, as the steady phase's pacer
// paces ops: the i-th is due at start + i/LogonRate whatever happened before, and a
// late wake-up starts every sign-in due by then. A limiter waiting for one token
// per sign-in loses the slots a late timer skips (on these VMs timers fire with ~1 ms
// granularity: at 5,000/s that is 5 sign-ins per wake-up), and the wave would fall
// short of its rate. Only the in-flight bound (LogonParallel) can hold it back; the
// report's sign-in figures (Load.SignIn) then show the shortfall.
func (r *runner) logon(ctx context.Context, users []int, rooms map[int][]string) error {
	var every time.Duration // between two sign-ins' due times; 0 = unpaced
	if r.c.LogonRate > 0 {
		every = time.Duration(float64(time.Second) / float64(r.c.LogonRate))
	}
	sem := make(chan struct{}, max(1, r.c.LogonParallel))
	r.setupTotal.Add(int64(len(users))) // progress: users signed in of those to sign in
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for i, u := range users {
		if every > 0 {
			// The due time from the start, not from the last sign-in: no drift.
			if d := time.Until(start.Add(time.Duration(float64(i) * float64(every)))); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		r.signIn.started(time.Now())
		wg.Go(func() {
			defer func() { <-sem; r.setupDone.Add(1) }()
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

// signInWave records when sign-ins started, for the report's achieved sign-in rate.
// Only the setup goroutine writes it, before the report reads it.
type signInWave struct {
	n           int64
	first, last time.Time
}

func (w *signInWave) started(t time.Time) {
	if w.n == 0 {
		w.first = t
	}
	w.n++
	w.last = t
}

// figures returns the report's sign-in figures: the rate achieved is over the span
// from the first start to the last, (n-1) intervals, the same measure as the target
// (a schedule of n sign-ins at rate R spans (n-1)/R). Nil when nobody signed in.
func (w *signInWave) figures(target float64) *report.SignIn {
	if w.n == 0 {
		return nil
	}
	s := &report.SignIn{Users: w.n, TargetRate: target, Seconds: w.last.Sub(w.first).Seconds()}
	if w.n > 1 && s.Seconds > 0 {
		s.AchievedRate = float64(w.n-1) / s.Seconds
	}
	return s
}

// logonOne logs user u on and joins rooms, recording each as an op. Each goroutine
// writes only u's entries of r.sess and r.joined.
func (r *runner) logonOne(ctx context.Context, u int, rooms []string) error {
	l := r.lane(int64(u))
	octx, cancel := context.WithTimeout(ctx, r.c.Timeout)
	t0 := time.Now()
	s, err := r.d.Connect(octx, r.cfg.Users[u], r.deliverTo(int32(u)))
	el := time.Since(t0)
	cancel()
	err = classify(err, "register")
	// Not on the wire, so no register operation to report: --no-register, or a
	// user another workload of a mixed run logged on (share.go; its failure is
	// that workload's).
	if !(err == nil && (r.c.NoRegister || isReused(s))) && !isSharedFailure(err) {
		r.record(l, report.OpRegister, el, 0, err)
	}
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

// roster returns room's joined members, in user order (everyone who receives a
// post there), or nil when nobody joined it. The rosters are made once after the
// log-ons, and shared by the room's streams.
func (r *runner) roster(room string) *roster {
	if r.rost == nil {
		members := map[string][]int32{}
		for u, rooms := range r.joined {
			for _, room := range rooms {
				members[room] = append(members[room], int32(u))
			}
		}
		r.rost = make(map[string]*roster, len(members))
		idle := false // the scenario's rooms have idle members (delivery-idle)
		if u, err := scenarios.Lookup(r.c.Scenario); err == nil {
			idle = u.Uses().Idle
		}
		for room, m := range members {
			if idle {
				r.rost[room] = newRoomRoster(m)
			} else {
				r.rost[room] = newRoster(m)
			}
		}
	}
	return r.rost[room]
}

func freeSlots(n int) chan int32 {
	ch := make(chan int32, n)
	for i := range n {
		ch <- int32(i)
	}
	return ch
}

// teardown leaves the rooms joined in setup and logs everyone off, with a fresh
// context: an interrupted or failed run still cleans up, within teardownBound.
func (r *runner) teardown(ctx context.Context) {
	ops := 0
	for u, s := range r.sess {
		if s != nil {
			ops += 1 + len(r.joined[u])
		}
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownBound(ops))
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
			// A shared user's session is logged off by the last workload to close it
			// (share.go): the others' closes are not on the wire, not operations.
			note := &closeNote{}
			cctx := context.WithValue(tctx, closeNoteKey{}, note)
			octx, cancel := context.WithTimeout(cctx, r.c.Timeout)
			t0 := time.Now()
			err := classify(s.Close(octx), "unregister")
			el := time.Since(t0)
			cancel()
			if !(err == nil && (note.kept || r.c.NoRegister)) {
				r.record(l, report.OpUnregister, el, 0, err)
			}
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

// teardownBound bounds a teardown of ops leaves and log-offs: teardownTimeout, and
// teardownPerOp more for each (a population of thousands in rooms of hundreds
// leaves tens of thousands of memberships, each announced to the room by imc).
func teardownBound(ops int) time.Duration {
	return teardownTimeout + time.Duration(ops)*teardownPerOp
}
