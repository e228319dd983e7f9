package scenarios

import (
	"context"
	"fmt"
)

// Fanout fills rooms of RoomSize members; unit: one post by a member chosen
// round-robin, expected to be delivered to the RoomSize-1 others.
const Fanout = "fanout"

// fanout is the Fanout scenario (default 1 room of 10).
type fanout struct{}

func (fanout) Name() string { return Fanout }

func (fanout) Uses() Uses {
	return Uses{Rooms: true, RoomSize: true, Posts: true, Deliveries: true, Segment: ByRoom, Recover: true}
}

func (fanout) Defaults(c *Config) { c.Rooms, c.RoomSize = 1, 10 }

func (fanout) Check(Config) error { return nil }

func (fanout) Plan(c Config, take []int) Plan { return planRoomsOfSize(c, take) }

func (fanout) Head(Config, []User) string { return "delivery" }

// Setup logs the members on into their rooms; every member that joined posts, the
// posters taken round-robin across the rooms first, so that consecutive posts go to
// different rooms.
func (fanout) Setup(ctx context.Context, _ Config, p Plan, s Setup) error {
	first, done, err := logonAll(ctx, s, p, Membership(p))
	if done {
		return err
	}
	members := make([][]int, len(p.Rooms))
	for i, rp := range p.Rooms {
		members[i] = s.Members(rp.URI)
	}
	n := 0
	for k := 0; ; k++ {
		more := false
		for i, rp := range p.Rooms {
			if k >= len(members[i]) {
				continue
			}
			more = true
			s.Post(members[i][k], rp.URI)
			n++
		}
		if !more {
			break
		}
	}
	if n == 0 {
		return fmt.Errorf("nobody could join a room (first error: %v)", first)
	}
	return nil
}
