package scenarios

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
)

// Plan says who takes part in a run and where: users to pairs and rooms. It is made by
// Assign and only read after, so it is safe for concurrent reads.
type Plan struct {
	// Users are indexes into the user list of the users that take part, in the
	// assignment's order. For steady, pair-cycle, fanout, churn and message they log
	// on in setup; for login they are the ones that log on and off.
	Users []int
	// Pairs are the sender/receiver pairs of steady and pair-cycle; pair p is in room
	// p mod the number of rooms.
	Pairs []Pair
	// Rooms are the rooms in use with their members: steady, fanout: joined in setup,
	// and every post in a room is expected by its other members; pair-cycle: the pairs
	// that cycle there; churn: the users that join and leave there.
	Rooms []RoomPlan
}

// Pair is a sender and a receiver (indexes into the user list) and their room's URI.
type Pair struct {
	Sender, Receiver int
	Room             string
}

// RoomPlan is a room's URI and its members (indexes into the user list).
type RoomPlan struct {
	URI     string
	Members []int
}

// assignStream is the PCG's second seed word ("chatload"): Seed picks the plan.
const assignStream = 0x636861746c6f6164

// Assign assigns users to pairs and rooms: the user list is shuffled with a PCG seeded
// from c.Seed (same seed, same plan, on every platform and Go version), then the
// scenario's unit (its Plan) takes users in order: 2*Pairs where it has pairs (pair p:
// the 2p-th and 2p+1-th), rooms*RoomSize where it has a room size (room r: the next
// RoomSize), else Users (all of the list when 0; with PerVU at least Concurrency in
// the closed model). With c.Segment it returns that segment's part of the whole plan
// (see Segment). It fails, naming what is short, when there are too few users. It is
// pure and safe for concurrent use; the caller sets c.Domain to the users' domain
// when they come from a file, so that counted rooms are at conf.<their domain>.
func Assign(c Config, users []User) (Plan, error) {
	u, ok := unitOf(c.Scenario)
	if !ok {
		return Plan{}, unknownScenario(c.Scenario)
	}
	k := u.Uses()
	if err := c.checkPopulation(k); err != nil {
		return Plan{}, err
	}
	n := c.need()
	what := fmt.Sprintf("%s with %s", c.Scenario, c.needs())
	if n == 0 {
		n = c.Users
		if n == 0 {
			n = max(len(users), 1)
			what = c.Scenario
		}
	}
	if c.Model() == "closed" && k.PerVU && c.Concurrency > n {
		// Each virtual user works with users of its own: one user cannot log on twice.
		n = c.Concurrency
		what = fmt.Sprintf("%s with --concurrency %d", c.Scenario, c.Concurrency)
	}
	if len(users) < n {
		from := "there are"
		if c.UsersFile != "" {
			from = "the users file has"
		}
		return Plan{}, fmt.Errorf("%s needs %s; %s %d", what, plural(n, "user"), from, len(users))
	}

	p := u.Plan(c, shuffle(len(users), c.Seed)[:n])
	return c.slice(k, p) // the whole plan, or one segment's part of it (segment.go)
}

// shuffle returns a permutation of 0..n-1 by Fisher-Yates over a PCG seeded from seed.
// It draws from the PCG's 64-bit outputs itself (Lemire's bounded method with
// rejection) rather than through rand.Rand, so that a seed's plan does not change
// when the standard library changes how it derives ints.
func shuffle(n int, seed int64) []int {
	src := rand.NewPCG(uint64(seed), assignStream)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(below(src, uint64(i+1)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

// below returns a uniform integer in [0, bound).
func below(src *rand.PCG, bound uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), bound)
	if lo < bound {
		threshold := -bound % bound
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), bound)
		}
	}
	return hi
}

// RoomURIs returns the rooms c uses: RoomList (a bare name becomes
// sip:NAME@conf.<Domain>, an address without scheme gets "sip:"), else room001,
// room002, ... at conf.<Domain> as the embedded server provisions them: one per pair
// for steady and pair-cycle unless Rooms says. Nil for login and message.
func RoomURIs(c Config) []string {
	n := c.roomCount()
	if n == 0 {
		return nil
	}
	uris := make([]string, n)
	for i := range uris {
		if len(c.RoomList) > 0 {
			uris[i] = roomURI(c.RoomList[i], c.Domain)
		} else {
			uris[i] = roomURI(fmt.Sprintf("room%03d", i+1), c.Domain)
		}
	}
	return uris
}

// roomURI is the imc room address of name: rooms live at conf.<domain>.
func roomURI(name, domain string) string {
	if strings.Contains(name, "@") {
		return NormalizeURI(name)
	}
	return "sip:" + name + "@conf." + domain
}
