package engine_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

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
