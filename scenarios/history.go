package scenarios

import (
	"context"
	"fmt"
)

// History keeps users logged on and joined (spread over the rooms round-robin, as
// churn); before the steady phase one member of each room posts History messages
// there. Unit: one member fetches the last History messages of its room (the
// session's engine.HistoryFetcher) and checks they are exactly the ones posted, in
// order. Only xccos has history: its default protocol is xccos.
const History = "history"

const (
	// defaultHistory is how many messages the history scenario posts and fetches back
	// per room when History does not say.
	defaultHistory = 20
	// maxHistory bounds --history: the embedded server keeps the last 1000 messages of
	// a room in memory.
	maxHistory = 1000
)

// history is the History scenario (default 1 room, History 20, xccos over TLS).
type history struct{}

func (history) Name() string { return History }

func (history) Uses() Uses {
	return Uses{Rooms: true, Posts: true, Deliveries: true, History: true, Segment: ByRoom}
}

func (history) Defaults(c *Config) {
	c.Rooms, c.History = 1, defaultHistory
	c.Protocol, c.Transport = "xccos", "tls"
}

func (history) Check(c Config) error {
	switch {
	case c.History < 1:
		return fmt.Errorf("--history %d: want at least 1 message to post and fetch back", c.History)
	case c.History > maxHistory:
		return fmt.Errorf("--history %d is more than the maximum %d", c.History, maxHistory)
	}
	return nil
}

func (history) Plan(c Config, take []int) Plan { return planRoundRobin(c, take) }

func (history) Head(Config, []User) string { return "history" }

// Setup logs the members on into their rooms; every room someone joined is seeded
// by its first member and fetched by all.
func (history) Setup(ctx context.Context, _ Config, p Plan, s Setup) error {
	first, done, err := logonAll(ctx, s, p, Membership(p))
	if done {
		return err
	}
	n := 0
	for _, rp := range p.Rooms {
		if len(s.Members(rp.URI)) == 0 {
			continue
		}
		if err := s.History(rp.URI); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("nobody could join a room (first error: %v)", first)
	}
	return nil
}
