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
	// pchatAnnounceMax is the embedded server's --announce-max for the profile: imc
	// tells every #join and #exit to every member, so filling a room of n members
	// costs n(n+1)/2 notices (2 million for 2,000 members, 128 million for 16,000),
	// which Persistent Chat does not do (XCCOS has no such broadcast) and which
	// measures nothing of the model. Rooms of up to the small size keep imc's
	// behaviour; in larger ones only the member who joined or left is told.
	pchatAnnounceMax = pchatSmallSize
	// pchatTargetParallel paces the setup against a real server (--target, unless
	// --logon-parallel says otherwise): log-ons, each with its joins, in flight. A
	// real imc tells every join to every member (n(n+1)/2 notices per room of n),
	// and 64 users joining at once into rooms of 30 to 200 made a Kamailio's notice
	// bursts overflow the UDP buffers: joins timed out after retransmissions (0.5,
	// 1.5, 3.5, 7.5 s). 8 at once held without a failure at 200 users.
	pchatTargetParallel = 8
)

// roundSig rounds x to n significant digits, so that a scaled rate reads as
// 0.3/s and not 0.30000000000000004/s.
func roundSig(x float64, n int) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}

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
// The three room-size workloads share the population's users users (one account
// and one session per person, a member of rooms of every size; engine.RunMix);
// join and sign-in have 10 users each of their own (they log on and off, or join
// and leave, as operations): the run takes users + 20 accounts. Scaled rates are
// rounded to 4 significant digits; they keep the model's proportions at every
// scale. The embedded server is given --announce-max 30 (pchatAnnounceMax).
// base.LogonParallel 0 (not set) is 8 against a target (pchatTargetParallel:
// the setup paced for imc's join notices), the scenario's default otherwise.
func Profile(name string, users int, base Config) (Mix, error) {
	if name != "lync-pchat" {
		return Mix{}, fmt.Errorf("--profile %q: unknown profile (known: %s)", name, strings.Join(Profiles(), ", "))
	}
	if users < 2 || users > 1_000_000 {
		return Mix{}, fmt.Errorf("--users %d: the lync-pchat profile needs 2 to 1000000 users", users)
	}
	f := float64(users) / pchatPool
	rate := func(r float64) Rate { return Rate(math.Max(roundSig(r*f, 4), pchatMinRate)) }
	count := func(n int) int { return max(1, int(math.Round(float64(n)*f))) }
	mix := Mix{UsersFile: base.UsersFile, AnnounceMax: pchatAnnounceMax}
	nextUser, nextRoom := 0, 0
	add := func(name, scenario string, shared bool, edit func(c *Config)) error {
		c, err := Default(scenario)
		if err != nil {
			return err
		}
		c.Target, c.Protocol, c.Transport, c.Domain = base.Target, base.Protocol, base.Transport, base.Domain
		c.Duration, c.Timeout, c.DeliveryTimeout, c.MessageSize = base.Duration, base.Timeout, base.DeliveryTimeout, base.MessageSize
		c.Seed, c.TransportSharing = base.Seed, base.TransportSharing
		switch {
		case base.LogonParallel > 0:
			c.LogonParallel = base.LogonParallel
		case base.Target != "":
			c.LogonParallel = pchatTargetParallel
		}
		c.Iterations, c.Concurrency = 0, 0
		edit(&c)
		place(&c, &nextRoom)
		w := Workload{Name: name, Config: c, First: nextUser, Count: c.UserCount()}
		if shared {
			w.First = 0 // the population: every person is in rooms of each size
			nextUser = max(nextUser, w.Count)
		} else {
			nextUser += w.Count
		}
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
		if err := add(s.name, Rooms, true, func(c *Config) {
			c.Rooms, c.RoomSize, c.Users, c.Rate = count(s.rooms), min(s.size, users), users, rate(s.rate)
		}); err != nil {
			return Mix{}, err
		}
	}
	if err := add("join", Churn, false, func(c *Config) {
		c.Rooms, c.Users, c.Rate = 1, pchatChurners, rate(pchatJoinRate)
	}); err != nil {
		return Mix{}, err
	}
	if err := add("sign-in", Login, false, func(c *Config) {
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
