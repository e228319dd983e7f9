package scenarios

import (
	"context"
	"errors"
	"fmt"
)

// Rooms fills Rooms rooms of RoomSize members from Users users, each user a member
// of several rooms when Users is less than rooms*room-size (Users 0: one room each):
// room r's members are the users r*size, r*size+1, ... taken round the list, so each
// user is in about rooms*size/Users rooms. Up to maxSpeakers members of a room speak;
// the rest only receive. Unit: one post by the next speaker of the next room
// (round-robin), expected by every other member of the room.
const Rooms = "rooms"

// maxSpeakers bounds a room's speakers: each is a stream tracked per receiver, so a
// room of 16,000 costs 30 streams, not 16,000.
const maxSpeakers = 30

// rooms is the Rooms scenario (default 1 room of 10).
type rooms struct{}

func (rooms) Name() string { return Rooms }

func (rooms) Uses() Uses {
	return Uses{Rooms: true, RoomSize: true, Posts: true, Deliveries: true, Segment: ByRoom, Shared: true, Recover: true, Idle: true}
}

func (rooms) Defaults(c *Config) { c.Rooms, c.RoomSize = 1, 10 }

func (rooms) Check(c Config) error {
	if !c.Segment.Whole() {
		return errors.New("--segment: the rooms scenario shares users between rooms: it does not slice into segments")
	}
	return nil
}

// Plan makes room r's members the users at r*size .. r*size+size-1 of take, round
// the list: distinct within a room (size <= len(take)), spread evenly over rooms.
func (rooms) Plan(c Config, take []int) Plan {
	p := Plan{Users: take}
	for r, uri := range RoomURIs(c) {
		m := make([]int, c.RoomSize)
		for j := range m {
			m[j] = take[(r*c.RoomSize+j)%len(take)]
		}
		p.Rooms = append(p.Rooms, RoomPlan{URI: uri, Members: m})
	}
	return p
}

func (rooms) Head(Config, []User) string { return "delivery" }

// Setup logs every user on into all of its rooms; the first maxSpeakers joined
// members of each room speak there, taken round-robin across the rooms.
func (rooms) Setup(ctx context.Context, _ Config, p Plan, s Setup) error {
	first, done, err := logonAll(ctx, s, p, Membership(p))
	if done {
		return err
	}
	members := make([][]int, len(p.Rooms))
	for i, rp := range p.Rooms {
		members[i] = s.Members(rp.URI)
	}
	n := 0
	for k := 0; k < maxSpeakers; k++ {
		for i, rp := range p.Rooms {
			if k < len(members[i]) {
				s.Post(members[i][k], rp.URI)
				n++
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("nobody could join a room (first error: %v)", first)
	}
	return nil
}
