package scenarios

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxSegments bounds --segment's count: more processes than that is a typo, and
// Schedule.Due multiplies op numbers by it.
const maxSegments = 10000

// Segment is one slice of a distributed run (--segment i/n): n processes, each given
// its own Index 0..n-1 (0-based, as a Kubernetes Indexed Job's completion index), run
// together exactly the workload one process runs with the same settings. Segment i
// takes:
//   - the plan's units with index ≡ i (mod n): rooms for steady and fanout (steady
//     with all the pairs of a room, so that every member of a room, and so every
//     receiver of a post, is in the same process), pairs for pair-cycle, users (by
//     plan order) for churn, login and message; rooms for history;
//   - the open model's ops k ≡ i (mod n) of the one-process schedule, each at its own
//     intended time (Schedule.Due), so the rates add up to the whole rate;
//   - the closed model's virtual users and iterations k ≡ i (mod n) (Share).
//
// The zero Segment (and any Count of 1) is the whole run. A Segment is a plain value,
// safe for concurrent use.
type Segment struct {
	Index int // 0..Count-1
	Count int // n; 0 or 1 = not segmented
}

// ParseSegment reads "i/n" (0 <= i < n); "" is the whole run.
func ParseSegment(s string) (Segment, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Segment{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Segment{}, fmt.Errorf("%q: want INDEX/COUNT, such as 0/4 (0-based: 0/4 .. 3/4)", s)
	case n < 1 || n > maxSegments:
		return Segment{}, fmt.Errorf("%q: the count must be 1..%d", s, maxSegments)
	case i < 0 || i >= n:
		return Segment{}, fmt.Errorf("%q: the index is 0-based: want 0..%d", s, n-1)
	}
	return Segment{Index: i, Count: n}, nil
}

// Whole reports whether s is the whole run (not segmented).
func (s Segment) Whole() bool { return s.Count <= 1 }

// String returns "i/n", or "" for the whole run.
func (s Segment) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Has reports whether unit k (a plan index or an op number, from 0) is s's.
func (s Segment) Has(k int64) bool {
	if s.Whole() {
		return true
	}
	return k >= 0 && k%int64(s.Count) == int64(s.Index)
}

// Share returns how many of the units 0..total-1 are s's; 0 stays 0 (no limit).
func (s Segment) Share(total int64) int64 {
	if s.Whole() || total <= 0 {
		return total
	}
	n, i := int64(s.Count), int64(s.Index)
	if total <= i {
		return 0
	}
	return (total-1-i)/n + 1
}

// checkSegment refuses a segment that would have nothing to run: each of the n segments
// needs a unit of its own.
func (c Config) checkSegment(k Uses) error {
	s := c.Segment
	if s.Whole() {
		return nil
	}
	if s.Index < 0 || s.Index >= s.Count || s.Count > maxSegments {
		return fmt.Errorf("--segment %d/%d: want INDEX/COUNT with 0 <= INDEX < COUNT <= %d", s.Index, s.Count, maxSegments)
	}
	units, what := 0, ""
	switch k.Segment {
	case ByPairRoom:
		units, what = min(c.Pairs, c.roomCount()), "rooms with pairs"
	case ByPair:
		units, what = c.Pairs, "pairs"
	case ByRoom:
		// By room: a room's posts (and history fetches) are one process's, so that
		// every receiver of a post is there and nobody else posts between them.
		units, what = c.roomCount(), "rooms"
	default:
		units, what = c.Users, "users (--users)"
		if units == 0 && c.UsersFile == "" {
			units = defaultUsers
		}
		if units == 0 {
			return nil // all of a users file: Assign checks once the file is read
		}
	}
	if units < s.Count {
		return fmt.Errorf("--segment %s: %s has %d %s for %d segments: each segment needs one at least", s, c.Scenario, units, what, s.Count)
	}
	if c.Model() == "closed" && c.Concurrency < s.Count {
		return fmt.Errorf("--segment %s: --concurrency %d is fewer virtual users than segments", s, c.Concurrency)
	}
	return nil
}

// slice returns segment c.Segment's part of the whole plan p (see Segment).
func (c Config) slice(k Uses, p Plan) (Plan, error) {
	s := c.Segment
	if s.Whole() {
		return p, nil
	}
	var out Plan
	keep := map[int]bool{} // users kept
	switch k.Segment {
	case ByPair, ByPairRoom:
		rooms := RoomURIs(c)
		for i, pr := range p.Pairs {
			unit := i // by pair
			if k.Segment == ByPairRoom {
				unit = i % len(rooms) // by room: pair i is in room i mod rooms
			}
			if s.Has(int64(unit)) {
				out.Pairs = append(out.Pairs, pr)
				keep[pr.Sender], keep[pr.Receiver] = true, true
			}
		}
		if len(out.Pairs) == 0 {
			return Plan{}, fmt.Errorf("--segment %s: no pair of the %d falls in this segment", s, len(p.Pairs))
		}
	case ByRoom:
		for r, rp := range p.Rooms {
			if s.Has(int64(r)) {
				for _, u := range rp.Members {
					keep[u] = true
				}
			}
		}
	default:
		for j, u := range p.Users {
			if s.Has(int64(j)) {
				keep[u] = true
			}
		}
	}
	for _, u := range p.Users {
		if keep[u] {
			out.Users = append(out.Users, u)
		}
	}
	if len(out.Users) == 0 {
		return Plan{}, fmt.Errorf("--segment %s: no user of the %d falls in this segment", s, len(p.Users))
	}
	for _, rp := range p.Rooms {
		m := slices.DeleteFunc(slices.Clone(rp.Members), func(u int) bool { return !keep[u] })
		if len(m) > 0 {
			out.Rooms = append(out.Rooms, RoomPlan{URI: rp.URI, Members: m})
		}
	}
	return out, nil
}

// global maps a segment's op number to the whole run's; ok is false beyond any op.
func (s Segment) global(i int64) (int64, bool) {
	if s.Whole() {
		return i, true
	}
	n := int64(s.Count)
	if i < 0 || i > (1<<63-1-int64(s.Index))/n {
		return 0, false
	}
	return i*n + int64(s.Index), true
}
