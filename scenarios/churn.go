package scenarios

import (
	"context"
	"errors"
)

// Churn keeps users logged on; unit: one join and leave of a user in its room.
const Churn = "churn"

// churn is the Churn scenario (default 1 room; users spread over the rooms
// round-robin).
type churn struct{}

func (churn) Name() string { return Churn }

func (churn) Uses() Uses { return Uses{Rooms: true, Segment: ByUser, PerVU: true, Recover: true} }

func (churn) Defaults(c *Config) { c.Rooms = 1 }

func (churn) Check(Config) error { return nil }

func (churn) Plan(c Config, take []int) Plan { return planRoundRobin(c, take) }

func (churn) Head(Config, []User) string { return "join" }

// Setup logs the users on without joining: joining is the operation.
func (churn) Setup(ctx context.Context, _ Config, p Plan, s Setup) error {
	_, done, err := logonAll(ctx, s, p, nil)
	if done {
		return err
	}
	n := 0
	for _, rp := range p.Rooms {
		for _, u := range rp.Members {
			if s.LoggedOn(u) {
				s.Churn(u, rp.URI)
				n++
			}
		}
	}
	if n == 0 {
		return errors.New("no logged-on user has a room to join")
	}
	return nil
}
