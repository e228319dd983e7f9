package engine_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/scenarios"
)

// TestRoomsShared: in the rooms scenario fewer users than places fill the rooms,
// each user joining several of them, and every post is expected by, and delivered
// to, the other members of its room.
func TestRoomsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config(t, scenarios.Rooms, 30, time.Second)
		c.Rooms, c.RoomSize, c.Users = 3, 4, 6 // 12 places for 6 users: 2 rooms each
		if n := c.UserCount(); n != 6 {
			t.Fatalf("UserCount = %d; want 6", n)
		}
		us := population(6)
		d := fakeFor(c, us)
		rep := run(t, t.Context(), d, c, us)
		if n, errs := count(rep, "register"); n != 6 || errs != 0 {
			t.Errorf("register %d/%d; want 6/0", n, errs)
		}
		if n, errs := count(rep, "join"); n != 12 || errs != 0 {
			t.Errorf("join %d/%d; want 12/0 (each user in 2 rooms)", n, errs)
		}
		m := rep.Messages
		if m.Sent != 30 || m.ExpectedDeliveries != 90 || m.Delivered != 90 {
			t.Errorf("messages = %+v; want 30 sent, each to the 3 other members", m)
		}
		checkExact(t, rep)
	})
}
