package scenarios

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSegment(t *testing.T) {
	cases := []struct {
		in   string
		want Segment
		err  string // substring of the error; "" = valid
	}{
		{"", Segment{}, ""},                      // the whole run
		{"0/4", Segment{0, 4}, ""},               // first of four (0-based)
		{" 3 / 4 ", Segment{3, 4}, ""},           // blanks are fine
		{"0/1", Segment{0, 1}, ""},               // one segment: the whole run
		{"4/4", Segment{}, "0-based: want 0..3"}, // 1-based by mistake
		{"-1/4", Segment{}, "0-based"},           // negative index
		{"1/0", Segment{}, "count must be"},      // no segments
		{"0/10001", Segment{}, "count must be"},  // too many
		{"2", Segment{}, "want INDEX/COUNT"},     // no count
		{"a/b", Segment{}, "want INDEX/COUNT"},   // not numbers
		{"1/2/3", Segment{}, "want INDEX/COUNT"}, // two slashes
		{"1.5/4", Segment{}, "want INDEX/COUNT"}, // not whole
	}
	for _, tc := range cases {
		got, err := ParseSegment(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseSegment(%q): %v; want %+v", tc.in, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSegment(%q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseSegment(%q) = %+v; want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSegmentShare(t *testing.T) {
	// Share must count exactly the units Has takes.
	for n := 1; n <= 5; n++ {
		for i := range n {
			s := Segment{i, n}
			for total := int64(0); total <= 12; total++ {
				want := int64(0)
				for k := range total {
					if s.Has(k) {
						want++
					}
				}
				if got := s.Share(total); got != want {
					t.Errorf("Segment %s: Share(%d) = %d; want %d", s, total, got, want)
				}
			}
		}
	}
}

// segmentConfigs are configurations worth slicing, one per kind of plan.
func segmentConfigs(t *testing.T) map[string]Config {
	t.Helper()
	def := func(s string, edit func(*Config)) Config {
		c, err := Default(s)
		if err != nil {
			t.Fatal(err)
		}
		edit(&c)
		return c
	}
	return map[string]Config{
		// A room per pair: slicing by room is slicing by pair.
		"steady": def(Steady, func(c *Config) { c.Pairs = 10 }),
		// Shared rooms: a room's pairs stay together.
		"steady shared rooms": def(Steady, func(c *Config) { c.Pairs, c.Rooms = 12, 5 }),
		"pair-cycle":          def(PairCycle, func(c *Config) { c.Pairs, c.Concurrency, c.Iterations = 7, 4, 100 }),
		"fanout":              def(Fanout, func(c *Config) { c.Rooms, c.RoomSize = 6, 4 }),
		"churn":               def(Churn, func(c *Config) { c.Rooms, c.Users = 3, 11 }),
		"login":               def(Login, func(c *Config) { c.Users = 9 }),
		"message":             def(Message, func(c *Config) { c.Users, c.To = 10, "sip:uas@example.test" }),
		"history":             def(History, func(c *Config) { c.Rooms, c.Users = 3, 12 }),
	}
}

// TestSegmentPlansUnion checks that the n segments' plans are a partition of the
// whole plan: every user, pair and room membership in exactly one segment.
func TestSegmentPlansUnion(t *testing.T) {
	users := someUsers(40)
	for name, c := range segmentConfigs(t) {
		whole, err := Assign(c, users)
		if err != nil {
			t.Fatalf("%s: Assign: %v", name, err)
		}
		for _, n := range []int{1, 2, 3} {
			var gotUsers []int
			var gotPairs []Pair
			gotMembers := map[string][]int{}
			for i := range n {
				c := c
				c.Segment = Segment{i, n}
				if err := c.Validate(); err != nil {
					t.Fatalf("%s segment %d/%d: Validate: %v", name, i, n, err)
				}
				p, err := Assign(c, users)
				if err != nil {
					t.Fatalf("%s segment %d/%d: Assign: %v", name, i, n, err)
				}
				checkPlan(t, fmt.Sprintf("%s %d/%d", name, i, n), p, len(users))
				if len(p.Users) == 0 {
					t.Errorf("%s segment %d/%d: no users", name, i, n)
				}
				gotUsers = append(gotUsers, p.Users...)
				gotPairs = append(gotPairs, p.Pairs...)
				for _, r := range p.Rooms {
					gotMembers[r.URI] = append(gotMembers[r.URI], r.Members...)
				}
				if c.Scenario == Steady {
					// Every member of a room is in the room's segment: a post's
					// receivers are all in the sender's process.
					for _, r := range p.Rooms {
						for _, wr := range whole.Rooms {
							if wr.URI == r.URI && len(wr.Members) != len(r.Members) {
								t.Errorf("%s segment %d/%d: room %s has %d of its %d members", name, i, n, r.URI, len(r.Members), len(wr.Members))
							}
						}
					}
				}
			}
			slices.Sort(gotUsers)
			wantUsers := slices.Sorted(slices.Values(whole.Users))
			if !reflect.DeepEqual(gotUsers, wantUsers) {
				t.Errorf("%s in %d segments: users %v; want %v", name, n, gotUsers, wantUsers)
			}
			cmpPair := func(a, b Pair) int { return a.Sender - b.Sender }
			slices.SortFunc(gotPairs, cmpPair)
			wantPairs := slices.SortedFunc(slices.Values(whole.Pairs), cmpPair)
			if !reflect.DeepEqual(gotPairs, wantPairs) {
				t.Errorf("%s in %d segments: pairs %v; want %v", name, n, gotPairs, wantPairs)
			}
			wantMembers := map[string][]int{}
			for _, r := range whole.Rooms {
				wantMembers[r.URI] = slices.Sorted(slices.Values(r.Members))
			}
			for uri := range gotMembers {
				slices.Sort(gotMembers[uri])
			}
			if !reflect.DeepEqual(gotMembers, wantMembers) {
				t.Errorf("%s in %d segments: room members %v; want %v", name, n, gotMembers, wantMembers)
			}
		}
	}
}

// TestSegmentSchedulesUnion checks that the n segments' schedules together are the
// whole schedule: the same ops at the same intended times.
func TestSegmentSchedulesUnion(t *testing.T) {
	cases := []struct {
		name string
		c    Config
	}{
		// A fixed rate that does not divide evenly: 1000/s over 3 segments.
		{"rate", openLoad(t, 1000, "", 2*time.Second, 0)},
		// Iterations not a multiple of n.
		{"iterations", openLoad(t, 250, "", 0, 1001)},
		// A ramp up and down: intended times are the whole run's.
		{"ramp", openLoad(t, 0, "1s:500/s,2s:2000/s,1s:0/s", 0, 0)},
	}
	all := func(s Schedule) []time.Duration {
		var out []time.Duration
		for i := int64(0); i < 1e6; i++ {
			off, ok := s.Due(i)
			if !ok {
				break
			}
			if len(out) > 0 && off < out[len(out)-1] {
				t.Fatalf("Due(%d) = %v goes back in time", i, off)
			}
			out = append(out, off)
		}
		return out
	}
	for _, tc := range cases {
		whole, err := NewSchedule(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		want := all(whole)
		for _, n := range []int{1, 2, 3, 4, 7} {
			var got []time.Duration
			var rate Rate
			for i := range n {
				c := tc.c
				c.Segment = Segment{i, n}
				s, err := NewSchedule(c)
				if err != nil {
					t.Fatal(err)
				}
				ops := all(s)
				// Op j of segment i is op j*n+i of the whole run, at its time.
				for j, off := range ops {
					if k := j*n + i; k >= len(want) || want[k] != off {
						t.Fatalf("%s %d/%d: op %d at %v; want the whole run's op %d", tc.name, i, n, j, off, k)
					}
				}
				got = append(got, ops...)
				rate += s.RateAt(500 * time.Millisecond)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s in %d segments: %d ops; want the whole schedule's %d at the same times", tc.name, n, len(got), len(want))
			}
			if wr := whole.RateAt(500 * time.Millisecond); rate < wr*0.999999 || rate > wr*1.000001 {
				t.Errorf("%s in %d segments: rates add up to %v; want %v", tc.name, n, rate, wr)
			}
		}
	}
}

func TestSegmentValidate(t *testing.T) {
	cases := []struct {
		name string
		c    Config
		seg  string
		err  string
	}{
		{"steady: fewer rooms than segments", segmentConfigs(t)["steady shared rooms"], "0/6", "5 rooms with pairs for 6 segments"},
		{"fanout: fewer rooms than segments", segmentConfigs(t)["fanout"], "0/7", "6 rooms for 7 segments"},
		{"pair-cycle: fewer virtual users than segments", segmentConfigs(t)["pair-cycle"], "0/5", "--concurrency 4"},
		{"login: fewer users than segments", segmentConfigs(t)["login"], "0/10", "9 users"},
		{"steady: as many rooms as segments", segmentConfigs(t)["steady shared rooms"], "4/5", ""},
	}
	for _, tc := range cases {
		c := tc.c
		if err := c.Apply(map[string]string{"segment": tc.seg}); err != nil {
			t.Fatalf("%s: Apply: %v", tc.name, err)
		}
		err := c.Validate()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v; want valid", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.err)
		}
	}
}

func TestSegmentSetting(t *testing.T) {
	c, err := Default(Steady)
	if err != nil {
		t.Fatal(err)
	}
	if err := Load("s.yaml", []byte("segment: 1/5\npairs: 10\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Segment != (Segment{1, 5}) {
		t.Fatalf("segment = %+v; want 1/5", c.Segment)
	}
	if err := Load("s.yaml", []byte("segment: 5/5\n"), &c); err == nil || !strings.Contains(err.Error(), "s.yaml:1: segment:") {
		t.Errorf("segment 5/5: %v; want s.yaml:1: segment: ...", err)
	}
	js, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"segment":"1/5"`) || !strings.Contains(c.String(), "segment=1/5") {
		t.Errorf("JSON %s / String %s; want segment 1/5 in both", js, c.String())
	}
	// The JSON echo is a scenario file that gives the segment back.
	back, _ := Default(Steady)
	if err := Load("echo.json", js, &back); err != nil || back.Segment != c.Segment {
		t.Errorf("reloaded segment %+v, %v; want %+v", back.Segment, err, c.Segment)
	}
}
