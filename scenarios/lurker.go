package scenarios

import (
	"context"
	"fmt"
)

// Lurker fills rooms of RoomSize members of whom one speaks and the rest lurk:
// joined, receiving every post, never posting (the idle members of a real
// population). Unit: one post by a room's speaker (its first member), rooms taken
// round-robin, expected to be delivered to the RoomSize-1 lurkers.
const Lurker = "lurker"

// lurker is the Lurker scenario (default 1 room of 10).
type lurker struct{}

func (lurker) Name() string { return Lurker }

func (lurker) Uses() Uses {
	return Uses{Rooms: true, RoomSize: true, Posts: true, Deliveries: true, Segment: ByRoom, Recover: true, Idle: true}
}

func (lurker) Defaults(c *Config) { c.Rooms, c.RoomSize = 1, 10 }

func (lurker) Check(Config) error { return nil }

func (lurker) Plan(c Config, take []int) Plan { return planRoomsOfSize(c, take) }

func (lurker) Head(Config, []User) string { return "delivery" }

// Setup logs the members on into their rooms; in each room someone joined, its
// first joined member speaks.
func (lurker) Setup(ctx context.Context, _ Config, p Plan, s Setup) error {
	first, done, err := logonAll(ctx, s, p, Membership(p))
	if done {
		return err
	}
	n := 0
	for _, rp := range p.Rooms {
		if m := s.Members(rp.URI); len(m) > 0 {
			s.Post(m[0], rp.URI)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("nobody could join a room (first error: %v)", first)
	}
	return nil
}
