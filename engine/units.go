package engine

import (
	"context"
	"time"

	"github.com/chatload/chatload/report"
)

// Pager is an optional Session capability: page-mode messages (SIP MESSAGE to a URI,
// outside any room), used by the message scenario. Like Session's methods, SendTo is
// safe for concurrent use and returns on the final response. A copy received by a
// user of the run arrives through that user's Delivery callback, like a room's.
type Pager interface {
	SendTo(ctx context.Context, uri string, m Message) error
}

// poster is one sender of steady, fanout or message: a user posting to a room (or,
// with pager, sending page-mode messages to --to) as its own stream.
type poster struct {
	user  int32
	room  string
	st    *stream
	pager Pager
	async AsyncSender // the session's, when it has the capability
}

// cyclePair is one pair of pair-cycle with its two streams (sender -> receiver and
// back). A pair runs one cycle at a time (it is a slot).
type cyclePair struct {
	sender, receiver int32
	room             string
	fwd, back        *stream
}

// churnSlot is a logged-on user and the room it joins and leaves in churn.
type churnSlot struct {
	user int32
	room string
}

// opPost is the unit of steady, fanout and message: one post by the next poster
// (round-robin). send latency runs from the intended start to the final response,
// service from the actual send; each expected copy's delivery latency runs from the
// intended start to its receipt (the tracker records it). In steady the poster is a
// pair's sender and every other member of the room is expected to receive, the pair's
// receiver among them: a room shared by several pairs delivers to all of them.
func (r *runner) opPost(ctx context.Context, l *lane, j job) {
	p := &r.posters[uint64(j.i)%uint64(len(r.posters))]
	msg, seq, _ := r.tr.post(p.st, j.intended, false)
	octx, cancel := context.WithTimeout(ctx, r.c.Timeout)
	t0 := time.Now()
	var err error
	if p.pager != nil {
		err = p.pager.SendTo(octx, p.room, msg)
	} else {
		err = r.sess[p.user].Send(octx, p.room, msg)
	}
	done := time.Now()
	cancel()
	err = classify(err, "send")
	r.record(l, report.OpSend, done.Sub(j.intended), done.Sub(t0), err)
	r.settle(p.st, seq, err)
}

// startPost is opPost for sessions that are AsyncSenders, run by the pacer itself
// (see dispatch): it records the schedule lag, starts the post and returns; the
// post's outcome is recorded by its done callback, which also ends the op (in
// flight, wait group). Latencies are measured as opPost measures them.
func (r *runner) startPost(ctx context.Context, j job) {
	l := r.lane(j.i)
	p := &r.posters[uint64(j.i)%uint64(len(r.posters))]
	msg, seq, _ := r.tr.post(p.st, j.intended, false)
	t0 := time.Now()
	l.mu.Lock()
	l.rec.Lag(t0.Sub(j.intended))
	l.mu.Unlock()
	p.async.SendAsync(ctx, p.room, p.pager != nil, msg, func(err error) {
		done := time.Now()
		err = classify(err, "send")
		r.record(l, report.OpSend, done.Sub(j.intended), done.Sub(t0), err)
		r.settle(p.st, seq, err)
		r.inflight.Add(-1)
		r.wg.Done()
	})
}

// settle accounts for a post's outcome. A failed post's copies are withdrawn (not
// expected, so not lost) unless it timed out: a post without an answer may still have
// been delivered, so its copies stay expected and count as delivered or lost.
func (r *runner) settle(st *stream, seq uint64, err error) {
	if err == nil {
		r.accepted.Add(1)
		return
	}
	if c, _ := report.ClassOf(err); c != report.Timeout {
		r.tr.withdraw(st, seq)
	}
}

// opCycle is the unit of pair-cycle: the synthetic transaction of engine.Probe as one
// op (log both on, join both, exchange a message each way, each awaited as received,
// leave both, log both off), recorded as cycle (latency from the intended start,
// service from the actual one) and as its steps (register, join, send, delivery,
// leave, unregister), each timed from its own start.
func (r *runner) opCycle(ctx context.Context, l *lane, j job) {
	t0 := time.Now()
	err := r.cycle(ctx, l, &r.cycles[j.slot])
	done := time.Now()
	r.record(l, report.OpCycle, done.Sub(j.intended), done.Sub(t0), err)
}

func (r *runner) cycle(ctx context.Context, l *lane, p *cyclePair) (err error) {
	users := r.cfg.Users
	var snd, rcv Session
	var sndIn, rcvIn bool
	// On any failure, undo what is set up with a fresh context, so that a failed or
	// canceled cycle leaves no member in the room and nobody logged on.
	undo := func(ctx context.Context) error {
		var first error
		keep := func(err error) {
			if first == nil {
				first = err
			}
		}
		if sndIn {
			sndIn = false
			keep(r.timed(ctx, l, report.OpLeave, "leave", func(ctx context.Context) error { return snd.Leave(ctx, p.room) }))
		}
		if rcvIn {
			rcvIn = false
			keep(r.timed(ctx, l, report.OpLeave, "leave", func(ctx context.Context) error { return rcv.Leave(ctx, p.room) }))
		}
		if snd != nil {
			keep(r.timed(ctx, l, report.OpUnregister, "unregister", snd.Close))
			snd = nil
		}
		if rcv != nil {
			keep(r.timed(ctx, l, report.OpUnregister, "unregister", rcv.Close))
			rcv = nil
		}
		return first
	}
	defer func() {
		if err != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
			defer cancel()
			undo(tctx)
		}
	}()
	connect := func(u int32, s *Session) error {
		return r.timed(ctx, l, report.OpRegister, "register", func(ctx context.Context) error {
			var err error
			*s, err = r.d.Connect(ctx, users[u], r.deliverTo(u))
			return err
		})
	}
	join := func(s Session) error {
		return r.timed(ctx, l, report.OpJoin, "join", func(ctx context.Context) error { return s.Join(ctx, p.room) })
	}
	if err := connect(p.sender, &snd); err != nil {
		return err
	}
	if err := connect(p.receiver, &rcv); err != nil {
		return err
	}
	if err := join(snd); err != nil {
		return err
	}
	sndIn = true
	if err := join(rcv); err != nil {
		return err
	}
	rcvIn = true
	if err := r.exchange(ctx, l, snd, p.room, p.fwd); err != nil {
		return err
	}
	if err := r.exchange(ctx, l, rcv, p.room, p.back); err != nil {
		return err
	}
	return undo(ctx)
}

// exchange posts the next message of st from s and waits until it is resolved: its
// copy received (delivery recorded by the tracker, from the post), or lost at its
// deadline.
func (r *runner) exchange(ctx context.Context, l *lane, s Session, room string, st *stream) error {
	msg, seq, w := r.tr.post(st, time.Now(), true)
	err := r.timed(ctx, l, report.OpSend, "send", func(ctx context.Context) error { return s.Send(ctx, room, msg) })
	r.settle(st, seq, err)
	if err != nil {
		return err
	}
	select {
	case <-w.done:
		if w.lost {
			return report.Errorf(report.Lost, "delivery", 0, "message %s not delivered to %s within %v",
				msg.ID, r.tr.userURI(st.roster.members[0]), r.c.DeliveryTimeout)
		}
		return nil
	case <-ctx.Done():
		return classify(ctx.Err(), "delivery")
	}
}

// opChurn is the unit of churn: a logged-on user joins its room and leaves it. join
// latency runs from the intended start, leave from its own.
func (r *runner) opChurn(ctx context.Context, l *lane, j job) {
	cs := r.churns[j.slot]
	s := r.sess[cs.user]
	octx, cancel := context.WithTimeout(ctx, r.c.Timeout)
	t0 := time.Now()
	err := classify(s.Join(octx, cs.room), "join")
	done := time.Now()
	cancel()
	r.record(l, report.OpJoin, done.Sub(j.intended), done.Sub(t0), err)
	if err != nil {
		return
	}
	_ = r.timed(ctx, l, report.OpLeave, "leave", func(ctx context.Context) error { return s.Leave(ctx, cs.room) })
}

// opLogin is the unit of login: log a user on (latency from the intended start) and
// off again (from its own start).
func (r *runner) opLogin(ctx context.Context, l *lane, j job) {
	u := r.logins[j.slot]
	octx, cancel := context.WithTimeout(ctx, r.c.Timeout)
	t0 := time.Now()
	s, err := r.d.Connect(octx, r.cfg.Users[u], r.deliverTo(u))
	done := time.Now()
	cancel()
	err = classify(err, "register")
	r.record(l, report.OpRegister, done.Sub(j.intended), done.Sub(t0), err)
	if err != nil {
		return
	}
	_ = r.timed(ctx, l, report.OpUnregister, "unregister", s.Close)
}
