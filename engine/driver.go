// Package engine runs chat sessions against a target: the synthetic transaction
// (Probe) and load runs. It talks to protocols only through the Driver boundary in
// this file and never imports a SIP library.
package engine

import (
	"context"
	"time"

	"github.com/chatload/chatload/scenarios"
)

// User is an account to log on (URI, optional auth user, password).
type User = scenarios.User

// A Driver connects simulated users over one chat protocol. Safe for concurrent use.
//
// Errors returned by a Driver or a Session are, or wrap, a *report.Error carrying the
// failure class and the SIP status or protocol reply code.
type Driver interface {
	// Connect logs u on and returns its session. deliver is called from the driver's
	// goroutines for every chat message u receives in a room it joined (not for
	// protocol notifications); it must not block.
	Connect(ctx context.Context, u User, deliver func(Delivery)) (Session, error)
}

// A Session is one logged-on user. Its methods are safe for concurrent use, and each
// returns when the operation is complete: Join when membership is confirmed by the
// server (not merely acknowledged), Send when the server gave its final response.
type Session interface {
	// Join enters room (a room URI, or a bare room name the driver resolves).
	Join(ctx context.Context, room string) error
	// Send posts m to room.
	Send(ctx context.Context, room string, m Message) error
	// Leave exits room.
	Leave(ctx context.Context, room string) error
	// Close leaves what is joined and logs off. It is safe to call more than once.
	Close(ctx context.Context) error
}

// AsyncSender is an optional Session capability that lets the load engine post
// without a goroutine waiting for each answer: the open model then starts posts
// from its pacer and takes their outcomes in done. At thousands of posts per
// second a goroutine per post (and the scheduler's hand-offs to it) is most of the
// generator's CPU.
type AsyncSender interface {
	// SendAsync starts what Send(ctx, room, m) does or, with page set, what
	// Pager.SendTo(ctx, room, m) does (room is then the URI), and returns without
	// waiting for the final response. done is called exactly once with the error
	// that call would have returned, from a driver goroutine or before SendAsync
	// returns; it must not block. The driver's own per-request timeout bounds the
	// wait (a deadline on ctx is not read); canceling ctx ends it with a Canceled
	// error.
	SendAsync(ctx context.Context, room string, page bool, m Message, done func(error))
}

// Batcher is an optional Driver capability that goes with AsyncSender: its
// sessions' SendAsync may hold what it starts until Flush, so that posts started
// together leave together (one system call for many datagrams). The engine calls
// Flush after each batch of SendAsync calls, from the same goroutine. Flush is
// safe for concurrent use.
type Batcher interface {
	Flush()
}

// RoomLister is an optional Session capability: the rooms the user can see, as the
// URIs Join accepts.
type RoomLister interface {
	Rooms(ctx context.Context) ([]string, error)
}

// Message is a chat line to post.
type Message struct {
	// ID is unique per message in a run. Drivers put it where the protocol lets
	// receivers recover it (imc: the Call-ID, echoed as In-Reply-To).
	ID string
	// Body is the text to post. It carries its own correlation token too, so that
	// messages can be matched when the protocol drops ID.
	Body string
}

// Delivery is one received copy of a chat message.
type Delivery struct {
	Room string    // room URI the copy came from
	From string    // the author as the protocol names it (imc: user part)
	ID   string    // Message.ID when the protocol carried it back, else ""
	Body string    // the text as posted (protocol prefixes stripped)
	At   time.Time // when the driver received it
}
