package scenarios

import (
	"context"
	"fmt"
)

// Steady keeps pairs logged on and joined; unit: one post by a pair's sender. Pairs
// are spread round-robin over the rooms and every member of a room receives every
// post in it, so a post is expected to be delivered to (members of its room - 1)
// users. By default there is one room per pair: one delivery per post.
const Steady = "steady"

// steady is the Steady scenario (default 10 pairs, a room each).
type steady struct{}

func (steady) Name() string { return Steady }

func (steady) Uses() Uses {
	return Uses{Pairs: true, Rooms: true, Posts: true, Deliveries: true, Segment: ByPairRoom, Recover: true}
}

func (steady) Defaults(c *Config) { c.Pairs = 10 }

func (steady) Check(Config) error { return nil }

func (steady) Plan(c Config, take []int) Plan { return planPairs(c, take) }

func (steady) Head(Config, []User) string { return "delivery" }

// Setup logs every pair on into its room; a pair posts when both of its users are
// in the room (the sender posts, every other member receives).
func (steady) Setup(ctx context.Context, _ Config, p Plan, s Setup) error {
	first, done, err := logonAll(ctx, s, p, Membership(p))
	if done {
		return err
	}
	n := 0
	for _, pr := range p.Pairs {
		if s.Joined(pr.Sender, pr.Room) && s.Joined(pr.Receiver, pr.Room) {
			s.Post(pr.Sender, pr.Room)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no pair has both users logged on and in its room (first error: %v)", first)
	}
	return nil
}
