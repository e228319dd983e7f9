package scenarios

import (
	"context"
	"errors"
	"fmt"
)

// PairCycle is the synthetic transaction as a loop; unit: one cycle of a pair (log
// both on, join, exchange a message each way, leave, log off). Pairs are idle
// between their cycles; pair p uses room p mod rooms.
const PairCycle = "pair-cycle"

// pairCycle is the PairCycle scenario. It is closed by default (Concurrency 1, Pairs
// 1) with neither Duration nor Iterations: the user must say. Each virtual user
// cycles pairs of its own.
type pairCycle struct{}

func (pairCycle) Name() string { return PairCycle }

func (pairCycle) Uses() Uses {
	return Uses{Pairs: true, Rooms: true, Posts: true, Deliveries: true, Segment: ByPair, PerOp: true}
}

func (pairCycle) Defaults(c *Config) { c.Rate, c.Concurrency, c.Pairs, c.Duration = 0, 1, 1, 0 }

func (pairCycle) Check(c Config) error {
	if c.Model() == "closed" && c.Concurrency > c.Pairs {
		return fmt.Errorf("--concurrency %d is more than --pairs %d: in pair-cycle each virtual user cycles its own pairs (give --pairs %d or more)",
			c.Concurrency, c.Pairs, c.Concurrency)
	}
	return nil
}

func (pairCycle) Plan(c Config, take []int) Plan { return planPairs(c, take) }

func (pairCycle) Head(Config, []User) string { return "cycle" }

// Setup logs nobody on: each cycle logs its pair on and off.
func (pairCycle) Setup(_ context.Context, _ Config, p Plan, s Setup) error {
	for _, pr := range p.Pairs {
		s.Cycle(pr.Sender, pr.Receiver, pr.Room)
	}
	if len(p.Pairs) == 0 {
		return errors.New("the plan has no pairs")
	}
	return nil
}
