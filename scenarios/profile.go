package scenarios

import (
	"fmt"
	"math"
	"strings"
)

// The Lync Server 2013 Persistent Chat capacity model (Microsoft's published
// planning figures for one pool of 80,000 users): rooms of 30, 150 and 16,000
// active members, 32,000 small, 1,067 medium and 10 large rooms (12 small, 2 medium
// and 2 large rooms per user), a peak join rate of 10/s, 24 chat messages/s in all
// (small rooms 22.22/s, medium 1.67/s, large about 0.15/s), and at most 12
// sign-ins/s per pool.
const (
	pchatPool        = 80000
	pchatSmallRooms  = 32000
	pchatMediumRooms = 1067
	pchatLargeRooms  = 10
	pchatSmallSize   = 30
	pchatMediumSize  = 150
	pchatLargeSize   = 16000
	pchatSmallRate   = 22.22
	pchatMediumRate  = 1.67
	pchatLargeRate   = 0.15
	pchatJoinRate    = 10
	pchatSignInRate  = 12
	// pchatMinRate keeps a scaled rate from vanishing: a workload posts at least once
	// a minute.
	pchatMinRate = 1.0 / 60
	// pchatChurners is how many users sign in and out (sign-in workload) and join and
	// leave (join workload): enough for the scaled rates' operations to overlap.
	pchatChurners = 10
)

// Profiles lists the built-in population profiles (--profile).
func Profiles() []string { return []string{"lync-pchat"} }

// Profile returns the built-in population profile name scaled to users users, as a
// Mix over base (the common settings: target, protocol, transport, duration, ...;
// its scenario, rooms and load are the profile's). lync-pchat is Microsoft's Lync
// Server 2013 Persistent Chat capacity model scaled by f = users/80,000:
//
//   - small, medium, large: rooms scenario workloads, one per room size (30, 150, and
//     16,000 capped at users), max(1, round(count*f)) rooms of each (32,000, 1,067,
//     10), users users each, so that a user is in about 12 small, 2 medium and 2
//     large rooms as in the model; they post at 22.22*f, 1.67*f and 0.15*f
//     messages/s (at least one a minute). Their members that do not speak are the
//     idle members: joined, receiving every post.
//   - join: churn, join and leave at 10*f/s (at least one a minute) in a room of
//     its own.
//   - sign-in: login, sign in and out at 12*f/s (at least one a minute).
//
// Each workload has users of its own (a session belongs to one workload), so a
// person of the model is an account per room size here: the run takes 3*users + 20
// accounts. The rates keep the model's proportions at every scale.
func Profile(name string, users int, base Config) (Mix, error) {
	if name != "lync-pchat" {
		return Mix{}, fmt.Errorf("--profile %q: unknown profile (known: %s)", name, strings.Join(Profiles(), ", "))
	}
	if users < 2 || users > 1_000_000 {
		return Mix{}, fmt.Errorf("--users %d: the lync-pchat profile needs 2 to 1000000 users", users)
	}
	f := float64(users) / pchatPool
	rate := func(r float64) Rate { return Rate(math.Max(r*f, pchatMinRate)) }
	count := func(n int) int { return max(1, int(math.Round(float64(n)*f))) }
	mix := Mix{UsersFile: base.UsersFile}
	nextUser, nextRoom := 0, 0
	add := func(name, scenario string, edit func(c *Config)) error {
		c, err := Default(scenario)
		if err != nil {
			return err
		}
		c.Target, c.Protocol, c.Transport, c.Domain = base.Target, base.Protocol, base.Transport, base.Domain
		c.Duration, c.Timeout, c.DeliveryTimeout, c.MessageSize = base.Duration, base.Timeout, base.DeliveryTimeout, base.MessageSize
		c.LogonParallel, c.Seed = base.LogonParallel, base.Seed
		c.Iterations, c.Concurrency = 0, 0
		edit(&c)
		place(&c, &nextRoom)
		w := Workload{Name: name, Config: c, First: nextUser, Count: c.UserCount()}
		nextUser += w.Count
		mix.Workloads = append(mix.Workloads, w)
		return nil
	}
	sizes := []struct {
		name        string
		rooms, size int
		rate        float64
	}{
		{"small", pchatSmallRooms, pchatSmallSize, pchatSmallRate},
		{"medium", pchatMediumRooms, pchatMediumSize, pchatMediumRate},
		{"large", pchatLargeRooms, pchatLargeSize, pchatLargeRate},
	}
	for _, s := range sizes {
		if err := add(s.name, Rooms, func(c *Config) {
			c.Rooms, c.RoomSize, c.Users, c.Rate = count(s.rooms), min(s.size, users), users, rate(s.rate)
		}); err != nil {
			return Mix{}, err
		}
	}
	if err := add("join", Churn, func(c *Config) {
		c.Rooms, c.Users, c.Rate = 1, pchatChurners, rate(pchatJoinRate)
	}); err != nil {
		return Mix{}, err
	}
	if err := add("sign-in", Login, func(c *Config) {
		c.Users, c.Rate = pchatChurners, rate(pchatSignInRate)
	}); err != nil {
		return Mix{}, err
	}
	mix.Note = fmt.Sprintf("profile lync-pchat for %d users (f = %d/80000 = %.4g): %d small rooms of %d, %d medium of %d, %d large of %d; "+
		"posts %s, %s, %s; joins %s; sign-ins %s; %d accounts",
		users, users, f, count(pchatSmallRooms), min(pchatSmallSize, users), count(pchatMediumRooms), min(pchatMediumSize, users),
		count(pchatLargeRooms), min(pchatLargeSize, users), rate(pchatSmallRate), rate(pchatMediumRate), rate(pchatLargeRate),
		rate(pchatJoinRate), rate(pchatSignInRate), mix.Users())
	return mix, nil
}
