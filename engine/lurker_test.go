package engine_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// TestLurker: the lurker scenario (scenarios/lurker.go and its table line, nothing
// else) runs end to end: in each room only its speaker posts, and every post is
// expected by, and delivered to, each of the room's lurkers.
func TestLurker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Lurker, 20, time.Second)
		c.Rooms, c.RoomSize = 3, 4
		us := population(12)
		d := fakeFor(c, us)
		rep := run(t, t.Context(), d, c, us)
		m := rep.Messages
		// 20 posts, each expected by the 3 lurkers of its room.
		if m.Sent != 20 || m.ExpectedDeliveries != 60 || m.Delivered != 60 || m.Lost != 0 {
			t.Fatalf("messages = %+v; want 20 sent, 60 expected and delivered", m)
		}
		checkExact(t, rep)
		if n, errs := count(rep, "join"); n != 12 || errs != 0 {
			t.Errorf("join %d/%d; want every member joined: 12/0", n, errs)
		}
		speakers := map[string]bool{}
		for _, call := range d.Calls() {
			if f := strings.Fields(call); len(f) >= 2 && f[0] == "send" {
				speakers[f[1]] = true
			}
		}
		if len(speakers) != 3 {
			t.Errorf("%d users posted (%v); want one speaker per room: 3", len(speakers), speakers)
		}
		// Every receiver is a lurker: the idle members' row is the whole delivery row.
		if n, errs := count(rep, "delivery-idle"); n != 60 || errs != 0 {
			t.Errorf("delivery-idle %d/%d; want the 60 copies of the lurkers, 0 errors", n, errs)
		}
	})
}

// TestIdleDeliveries: delivery-idle is the part of delivery received by members
// who never post in the room; its lost copies are its errors, while the lost
// class is counted once (under delivery). Where every member speaks there is no
// idle row.
func TestIdleDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Lurker, 20, time.Second)
		c.Rooms, c.RoomSize = 2, 5
		us := population(10)
		d := fakeFor(c, us)
		// user004 is the last member of the first room (users 000-004): a lurker there.
		d.Drop = func(_ engine.Message, receiver string) bool { return strings.Contains(receiver, "user004@") }
		rep := run(t, t.Context(), d, c, us)
		m := rep.Messages
		// 20 posts, 10 per room, each to the room's 4 lurkers; user004 misses its 10.
		if m.Sent != 20 || m.ExpectedDeliveries != 80 || m.Delivered != 70 || m.Lost != 10 {
			t.Fatalf("messages = %+v; want 20 sent, 80 expected, 70 delivered, 10 lost", m)
		}
		if n, errs := count(rep, "delivery-idle"); n != 80 || errs != 10 {
			t.Errorf("delivery-idle %d/%d; want 80/10", n, errs)
		}
		if n, errs := count(rep, "delivery"); n != 80 || errs != 10 {
			t.Errorf("delivery %d/%d; want 80/10", n, errs)
		}
		if got := failures(rep, report.Lost); got != 10 {
			t.Errorf("lost failures %d; want 10, counted once", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Rooms, 20, time.Second)
		c.Rooms, c.RoomSize = 2, 5 // every member speaks (up to 30 do)
		us := population(10)
		rep := run(t, t.Context(), fakeFor(c, us), c, us)
		if rep.Messages.Delivered != 80 {
			t.Fatalf("delivered %d; want 80", rep.Messages.Delivered)
		}
		if n, _ := count(rep, "delivery-idle"); n != 0 {
			t.Errorf("delivery-idle %d; want none: every member speaks", n)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// Pairs: a receiver is its sender's other half, not an idle member.
		c := config(t, scenarios.Steady, 20, time.Second)
		us := population(c.UserCount())
		rep := run(t, t.Context(), fakeFor(c, us), c, us)
		if rep.Messages.Delivered == 0 {
			t.Fatal("steady delivered nothing")
		}
		if n, _ := count(rep, "delivery-idle"); n != 0 {
			t.Errorf("steady: delivery-idle %d; want none (no idle members in a pair's room)", n)
		}
	})
}

// TestLurkerValidate: the lurker's settings come from its unit: it takes a room
// size, no pairs, and a segment is a room.
func TestLurkerValidate(t *testing.T) {
	c, err := scenarios.Default(scenarios.Lurker)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserCount() != 10 {
		t.Errorf("UserCount = %d; want 1 room of 10", c.UserCount())
	}
	c.Pairs = 2
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--pairs 2: only pair-cycle and steady have pairs (lurker does not)") {
		t.Errorf("Validate with pairs = %v; want --pairs refused", err)
	}
	c.Pairs, c.Rooms, c.Segment = 0, 1, scenarios.Segment{Index: 0, Count: 2}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "lurker has 1 rooms for 2 segments") {
		t.Errorf("Validate with 2 segments of 1 room = %v; want refused", err)
	}
}
