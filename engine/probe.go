package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chatload/chatload/report"
)

// ProbeConfig is one synthetic transaction: the Test-CsPersistentChatMessage of chatload.
type ProbeConfig struct {
	Sender   User
	Receiver User
	// Room to use; empty means the first room the sender can see (RoomLister).
	Room string
	// Timeout bounds the whole transaction (log on to log off).
	Timeout time.Duration
	// Teardown bounds leaving and logging off after a failure or a cancel.
	Teardown time.Duration
}

// Validate reports a configuration that cannot run.
func (c ProbeConfig) Validate() error {
	switch {
	case c.Sender.URI == "":
		return errors.New("no sender")
	case c.Receiver.URI == "":
		return errors.New("no receiver")
	case strings.EqualFold(c.Sender.URI, c.Receiver.URI):
		return fmt.Errorf("sender and receiver are the same user (%s): the message exchange needs two", c.Sender.URI)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %v: must be positive", c.Timeout)
	}
	return nil
}

// String describes the probe without passwords.
func (c ProbeConfig) String() string {
	room := c.Room
	if room == "" {
		room = "(first visible)"
	}
	return fmt.Sprintf("sender=%s receiver=%s room=%s timeout=%v", c.Sender, c.Receiver, room, c.Timeout)
}

// The steps of a probe, in order. Their names are part of the JSON output contract.
const (
	StepLogonSender    = "logon-sender"
	StepLogonReceiver  = "logon-receiver"
	StepFindRoom       = "find-room"
	StepJoinSender     = "join-sender"
	StepJoinReceiver   = "join-receiver"
	StepSendSender     = "send-sender"     // sender posts; the receiver must get it
	StepDeliverySender = "delivery-sender" // sender's message arrives at the receiver
	StepSendReceiver   = "send-receiver"
	StepDeliveryRecv   = "delivery-receiver" // receiver's reply arrives at the sender
	StepLeaveSender    = "leave-sender"
	StepLeaveReceiver  = "leave-receiver"
	StepLogoffSender   = "logoff-sender"
	StepLogoffReceiver = "logoff-receiver"
)

// Step is one timed step of a probe.
type Step struct {
	Name     string
	OK       bool
	Duration time.Duration
	Err      error
}

// ProbeResult is what a probe found. Err is the first failure (nil on success) and
// FailedStep names its step; failures while tearing down after it are in Steps only.
type ProbeResult struct {
	Success    bool
	Latency    time.Duration // the whole transaction, log on to log off
	Room       string
	Steps      []Step
	FailedStep string
	Err        error
}

// Probe runs the synthetic transaction: log sender and receiver on, join both to the
// room, exchange a pair of messages (each verified as received by the other), leave,
// log off. It always tears down what it set up, within cfg.Teardown after a failure.
// The clock is read with time.Now (synctest-friendly).
func Probe(ctx context.Context, d Driver, cfg ProbeConfig) ProbeResult {
	if cfg.Teardown <= 0 {
		cfg.Teardown = 5 * time.Second
	}
	p := &prober{d: d, cfg: cfg, inbox: map[string]chan Delivery{}}
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	p.run(tctx)
	p.res.Latency = time.Since(start)
	p.res.Success = p.res.Err == nil
	return p.res
}

type prober struct {
	d     Driver
	cfg   ProbeConfig
	res   ProbeResult
	inbox map[string]chan Delivery // by receiving user URI; written before sessions exist

	// What is set up and not yet torn down.
	snd, rcv                     Session
	joinedSender, joinedReceiver bool
}

// step runs fn as the named step and records it. It returns false when fn failed.
func (p *prober) step(name string, fn func() error) bool {
	t0 := time.Now()
	err := fn()
	return p.record(name, time.Since(t0), err)
}

// record adds a finished step; the first failure becomes the result's error.
func (p *prober) record(name string, d time.Duration, err error) bool {
	p.res.Steps = append(p.res.Steps, Step{Name: name, OK: err == nil, Duration: d, Err: err})
	if err != nil && p.res.Err == nil {
		p.res.Err = err
		p.res.FailedStep = name
	}
	return err == nil
}

func (p *prober) run(ctx context.Context) {
	// Every Delivery goes to a buffered channel per user; the driver's callback must
	// not block, so a full inbox drops (the probe only needs its own two messages).
	for _, u := range []User{p.cfg.Sender, p.cfg.Receiver} {
		p.inbox[u.URI] = make(chan Delivery, 64)
	}
	defer func() {
		// Tear down with a fresh context: a timed-out or canceled probe still leaves
		// and logs off, so it does not leave stale members in the room.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Teardown)
		defer cancel()
		p.leaveAndLogoff(tctx)
	}()

	connect := func(u User, s *Session) func() error {
		return func() error {
			in := p.inbox[u.URI]
			sess, err := p.d.Connect(ctx, u, func(dl Delivery) {
				select {
				case in <- dl:
				default:
				}
			})
			if err == nil {
				*s = sess
			}
			return err
		}
	}
	if !p.step(StepLogonSender, connect(p.cfg.Sender, &p.snd)) ||
		!p.step(StepLogonReceiver, connect(p.cfg.Receiver, &p.rcv)) {
		return
	}
	p.res.Room = p.cfg.Room
	if p.res.Room == "" && !p.step(StepFindRoom, func() error { return p.findRoom(ctx, p.snd) }) {
		return
	}
	joined := func(s Session) func() error { return func() error { return s.Join(ctx, p.res.Room) } }
	if !p.step(StepJoinSender, joined(p.snd)) {
		return
	}
	p.joinedSender = true
	if !p.step(StepJoinReceiver, joined(p.rcv)) {
		return
	}
	p.joinedReceiver = true

	id := newID()
	if !p.exchange(ctx, p.snd, p.cfg.Receiver, id+"-1", StepSendSender, StepDeliverySender) {
		return
	}
	if !p.exchange(ctx, p.rcv, p.cfg.Sender, id+"-2", StepSendReceiver, StepDeliveryRecv) {
		return
	}
	// Leaving and logging off are part of a successful transaction: do them here, timed.
	p.leaveAndLogoff(ctx)
}

// exchange posts one message from s and waits until the user to receives it. The
// delivery step's duration is post -> received, what a chat user feels, even when the
// copy arrived before the server's answer to the post.
func (p *prober) exchange(ctx context.Context, s Session, to User, id, sendStep, recvStep string) bool {
	m := Message{ID: id, Body: "chatload test message " + id}
	posted := time.Now()
	if !p.step(sendStep, func() error { return s.Send(ctx, p.res.Room, m) }) {
		return false
	}
	in := p.inbox[to.URI]
	for {
		select {
		case dl := <-in:
			if dl.ID == m.ID || strings.Contains(dl.Body, m.ID) {
				at := dl.At
				if at.IsZero() {
					at = time.Now()
				}
				return p.record(recvStep, at.Sub(posted), nil)
			}
		case <-ctx.Done():
			return p.record(recvStep, time.Since(posted), &report.Error{Class: report.Lost, Op: "delivery",
				Detail: fmt.Sprintf("message %s was not delivered to %s in room %s before the timeout", m.ID, to.URI, p.res.Room),
				Err:    ctx.Err()})
		}
	}
}

func (p *prober) findRoom(ctx context.Context, s Session) error {
	rl, ok := s.(RoomLister)
	if !ok {
		return &report.Error{Class: report.Protocol, Op: "find room", Detail: "the protocol cannot list rooms: give --room"}
	}
	rooms, err := rl.Rooms(ctx)
	if err != nil {
		return err
	}
	if len(rooms) == 0 {
		return &report.Error{Class: report.NotFound, Op: "find room", Detail: fmt.Sprintf("%s can see no chat room", p.cfg.Sender.URI)}
	}
	p.res.Room = rooms[0]
	return nil
}

// leaveAndLogoff undoes what is set up, each part once, as timed steps.
func (p *prober) leaveAndLogoff(ctx context.Context) {
	if p.joinedSender {
		p.joinedSender = false
		p.step(StepLeaveSender, func() error { return p.snd.Leave(ctx, p.res.Room) })
	}
	if p.joinedReceiver {
		p.joinedReceiver = false
		p.step(StepLeaveReceiver, func() error { return p.rcv.Leave(ctx, p.res.Room) })
	}
	if s := p.snd; s != nil {
		p.snd = nil
		p.step(StepLogoffSender, func() error { return s.Close(ctx) })
	}
	if s := p.rcv; s != nil {
		p.rcv = nil
		p.step(StepLogoffReceiver, func() error { return s.Close(ctx) })
	}
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
