package scenarios

import (
	"context"
	"fmt"
	"strings"
)

// A Unit is one scenario, whole: its settings (Uses, Defaults) and the rules only it
// has (Check), its plan (Plan: who takes part, in which pairs and rooms; Uses.Segment:
// how --segment slices that plan), its setup (Setup: who logs on and joins what, and
// which operations the steady phase runs) and the operation its progress line shows
// (Head). Each lives in a file of its own and is chosen by name from the table
// (table); nothing else in chatload switches on a scenario's name. A Unit is a
// stateless value: its methods are safe for concurrent use, and the run's state is
// what Setup builds through its Setup.
type Unit interface {
	// Name is the scenario's name (--scenario, YAML scenario:).
	Name() string
	// Uses says which settings the scenario takes and how its plan is sliced.
	Uses() Uses
	// Defaults sets the scenario's own defaults on c, which holds the common ones.
	Defaults(c *Config)
	// Check reports the first setting that breaks a rule only this scenario has,
	// naming its flag; Validate checks the rest (Uses) first.
	Check(c Config) error
	// Plan assigns the users in take (shuffled indexes into the user list, as many as
	// the settings need) to the scenario's pairs and rooms; Plan.Users is take.
	Plan(c Config, take []int) Plan
	// Head is the report operation ("delivery", "join", ...) whose p99 the progress
	// line shows for a run of c over users.
	Head(c Config, users []User) string
	// Setup logs the plan's users on through s, joins their rooms and adds the steady
	// phase's units (posters, pairs, slots). It returns an error saying why nothing
	// is left to run (the engine wraps it as a setup failure); an interrupt (ctx done)
	// is not an error.
	Setup(ctx context.Context, c Config, p Plan, s Setup) error
}

// table is the built-in scenarios, in the order help texts list them. Adding a
// scenario is a file with its Unit and a line here.
func table() []Unit {
	return []Unit{
		pairCycle{},
		steady{},
		fanout{},
		churn{},
		login{},
		message{},
		history{},
		lurker{},
		rooms{},
	}
}

// Names returns the built-in scenario names, in the order help texts list them.
func Names() []string {
	t := table()
	names := make([]string, len(t))
	for i, u := range t {
		names[i] = u.Name()
	}
	return names
}

// Lookup returns the unit of the scenario named name.
func Lookup(name string) (Unit, error) {
	for _, u := range table() {
		if u.Name() == name {
			return u, nil
		}
	}
	return nil, unknownScenario(name)
}

// unitOf is Lookup for a name Validate has checked.
func unitOf(name string) (Unit, bool) {
	u, err := Lookup(name)
	return u, err == nil
}

// Uses says which settings a scenario takes; Validate refuses the others, and the
// generic parts (user count, room count, assignment size, segment slicing) follow
// from it. It is a plain value.
type Uses struct {
	Pairs      bool      // pairs: 2 users each; rooms default to one per pair
	Rooms      bool      // rooms (a count or a list)
	RoomSize   bool      // room-size: rooms*room-size users
	Posts      bool      // message-size: it posts
	Deliveries bool      // delivery-timeout: copies are awaited
	To         bool      // to, no-register: page-mode messages to a URI
	History    bool      // history: messages per room
	Segment    SegmentBy // how --segment slices the plan
	// PerVU: in the closed model each virtual user works with users of its own, so
	// the plan takes at least Concurrency users.
	PerVU bool
	// Recover: the users stay logged on with their sessions held for the run, and
	// only Join, Send, Leave (and SendAsync) are used on them: a user the target
	// forgets (a server restart) logs on again and rejoins (engine/recover.go).
	Recover bool
	// PerOp: users log on and off within each operation (login, pair-cycle), not
	// for the whole run.
	PerOp bool
	// Shared: with RoomSize, users may be members of several rooms: Users, when
	// set, is how many users share the rooms' rooms*room-size places (at least
	// room-size).
	Shared bool
	// Idle: its rooms have idle members (joined, receiving, never posting) beside
	// their speakers, as a population does: their copies are also recorded as
	// delivery-idle. Scenarios whose receivers are pairs' other halves have none.
	Idle bool
}

// SegmentBy is what a scenario's plan is sliced by for --segment.
type SegmentBy uint8

const (
	// ByUser: users, by plan order.
	ByUser SegmentBy = iota
	// ByPair: pairs.
	ByPair
	// ByPairRoom: the rooms of pairs, each with all of its pairs, so that every
	// receiver of a post is in the same process as its sender.
	ByPairRoom
	// ByRoom: rooms with their members.
	ByRoom
)

// A Setup is the engine's side of a run's setup, as a Unit's Setup sees it. Users
// are indexes into the run's user list. Its methods are called from the Unit's Setup
// only (Logon runs its log-ons in parallel itself), in order: Logon, then the
// queries and the steady-phase units.
type Setup interface {
	// Users is the run's user list.
	Users() []User
	// Logon logs users on, at most LogonParallel at once and LogonRate per second,
	// each then joining its rooms (rooms[u], in order; nil: none), recorded as
	// register and join operations. It returns the first failure, nil when none.
	Logon(ctx context.Context, users []int, rooms map[int][]string) error
	// LoggedOn reports whether user u is logged on.
	LoggedOn(u int) bool
	// Joined reports whether user u joined room.
	Joined(u int, room string) bool
	// Members returns the users that joined room, in user order.
	Members(room string) []int
	// Post adds a poster: u posts to room, and every other member of the room
	// (Members) is expected to receive each post.
	Post(u int, room string)
	// Page adds a page-mode sender: u sends to the URI to; receiver (-1: none) is the
	// run's user expected to receive. It fails when the protocol cannot page.
	Page(u int, to string, receiver int) error
	// Cycle adds a pair that cycles in room (log both on, join, exchange, leave, off).
	Cycle(sender, receiver int, room string)
	// Churn adds a logged-on user that joins room and leaves it.
	Churn(u int, room string)
	// Login adds a user that logs on and off.
	Login(u int)
	// History adds a room whose first member seeds History messages before the
	// steady phase, and whose members fetch them back. It fails when the protocol
	// has no history.
	History(room string) error
}

// Membership is who joins which room during setup: the plan's rooms with their
// members, plus each pair's sender and receiver in the pair's room.
func Membership(p Plan) map[int][]string {
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

// logonAll logs the plan's users on (joining rooms) and fails when nobody could
// log on. done is true when setup ends here: ctx was done (an interrupt, not an
// error).
func logonAll(ctx context.Context, s Setup, p Plan, rooms map[int][]string) (first error, done bool, err error) {
	first = s.Logon(ctx, p.Users, rooms)
	if ctx.Err() != nil {
		return first, true, nil
	}
	for _, u := range p.Users {
		if s.LoggedOn(u) {
			return first, false, nil
		}
	}
	return first, true, fmt.Errorf("none of the %d users could log on (first error: %v)", len(p.Users), first)
}

// planPairs is the plan of pairs: pair i is users take[2i] and take[2i+1], in room
// i mod rooms.
func planPairs(c Config, take []int) Plan {
	p := Plan{Users: take}
	rooms := RoomURIs(c)
	members := make([][]int, len(rooms))
	for i := range c.Pairs {
		r := i % len(rooms)
		s, rc := take[2*i], take[2*i+1]
		p.Pairs = append(p.Pairs, Pair{Sender: s, Receiver: rc, Room: rooms[r]})
		members[r] = append(members[r], s, rc)
	}
	for r, m := range members {
		if len(m) > 0 {
			p.Rooms = append(p.Rooms, RoomPlan{URI: rooms[r], Members: m})
		}
	}
	return p
}

// planRoomsOfSize fills each room with the next RoomSize users.
func planRoomsOfSize(c Config, take []int) Plan {
	p := Plan{Users: take}
	for r, uri := range RoomURIs(c) {
		m := append([]int(nil), take[r*c.RoomSize:(r+1)*c.RoomSize]...)
		p.Rooms = append(p.Rooms, RoomPlan{URI: uri, Members: m})
	}
	return p
}

// planRoundRobin spreads the users over the rooms round-robin.
func planRoundRobin(c Config, take []int) Plan {
	p := Plan{Users: take}
	rooms := RoomURIs(c)
	members := make([][]int, len(rooms))
	for j, u := range take {
		members[j%len(rooms)] = append(members[j%len(rooms)], u)
	}
	for r, m := range members {
		if len(m) > 0 {
			p.Rooms = append(p.Rooms, RoomPlan{URI: rooms[r], Members: m})
		}
	}
	return p
}

// namesWhere lists the scenarios whose Uses has what, in table order ("pair-cycle
// and steady"), and how many there are.
func namesWhere(what func(Uses) bool) (string, int) {
	var ns []string
	for _, u := range table() {
		if what(u.Uses()) {
			ns = append(ns, u.Name())
		}
	}
	switch len(ns) {
	case 0:
		return "no scenario", 0
	case 1:
		return ns[0], 1
	}
	return strings.Join(ns[:len(ns)-1], ", ") + " and " + ns[len(ns)-1], len(ns)
}

// verb is one when n is 1, else many.
func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
