package scenarios

import (
	"math"
	"os"
	"testing"
)

// TestProfileScaling: lync-pchat keeps the model's counts at 80,000 users and scales
// them (at least one room of each size) and the rates by users/80,000.
func TestProfileScaling(t *testing.T) {
	base, _ := Default(Steady)
	cases := []struct {
		users               int
		small, medium, lrg  int // rooms
		largeSize           int
		smallRate, joinRate float64
	}{
		{80000, 32000, 1067, 10, 16000, 22.22, 10},
		{2000, 800, 27, 1, 2000, 0.5555, 0.25},
		{100, 40, 1, 1, 100, 0.027775, 0.0166666},
	}
	for _, c := range cases {
		m, err := Profile("lync-pchat", c.users, base)
		if err != nil {
			t.Fatal(err)
		}
		by := map[string]Workload{}
		for _, w := range m.Workloads {
			by[w.Name] = w
		}
		s, md, l, j := by["small"].Config, by["medium"].Config, by["large"].Config, by["join"].Config
		if len(RoomURIs(s)) != c.small || len(RoomURIs(md)) != c.medium || len(RoomURIs(l)) != c.lrg || l.RoomSize != c.largeSize {
			t.Errorf("%d users: rooms %d/%d/%d, large of %d; want %d/%d/%d of %d", c.users,
				len(RoomURIs(s)), len(RoomURIs(md)), len(RoomURIs(l)), l.RoomSize, c.small, c.medium, c.lrg, c.largeSize)
		}
		if math.Abs(float64(s.Rate)-c.smallRate) > 1e-3*c.smallRate || math.Abs(float64(j.Rate)-c.joinRate) > 1e-3*c.joinRate {
			t.Errorf("%d users: small rate %v, join rate %v; want %v, %v", c.users, s.Rate, j.Rate, c.smallRate, c.joinRate)
		}
		// One account per person: the room sizes share the population's users.
		if s.Users != c.users || m.Users() != c.users+2*pchatChurners || by["large"].First != 0 || by["medium"].First != 0 || by["join"].First != c.users {
			t.Errorf("%d users: small takes %d, the mix %d accounts, firsts %d/%d/%d; want %d, %d, 0/0/%d", c.users, s.Users, m.Users(),
				by["medium"].First, by["large"].First, by["join"].First, c.users, c.users+20, c.users)
		}
		if m.AnnounceMax != pchatSmallSize {
			t.Errorf("%d users: announce-max %d; want %d", c.users, m.AnnounceMax, pchatSmallSize)
		}
		// Rates read as people write them (4 significant digits).
		if got := by["sign-in"].Config.Rate.String(); c.users == 2000 && got != "0.3/s" {
			t.Errorf("2000 users: sign-in rate %s; want 0.3/s", got)
		}
		// About 12 small rooms per user, as in the model.
		if per := float64(len(RoomURIs(s))*s.RoomSize) / float64(s.Users); math.Abs(per-12) > 0.5 {
			t.Errorf("%d users: %.1f small rooms per user; want 12", c.users, per)
		}
		if err := m.Validate(); err != nil {
			t.Errorf("%d users: %v", c.users, err)
		}
	}
	if _, err := Profile("nope", 10, base); err == nil {
		t.Error("an unknown profile was accepted")
	}
	if _, err := Profile("lync-pchat", 1, base); err == nil {
		t.Error("1 user was accepted")
	}
}

// TestProfileExample: examples/lync-pchat.yaml is the profile for 2,000 users as a
// scenario file: the same workloads, rooms, users and rates.
func TestProfileExample(t *testing.T) {
	data, err := os.ReadFile("../examples/lync-pchat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file, err := LoadMix("lync-pchat.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := Default(Steady)
	base.Transport, base.Duration = "", file.Workloads[0].Config.Duration
	prof, err := Profile("lync-pchat", 2000, base)
	if err != nil {
		t.Fatal(err)
	}
	if file.AnnounceMax != prof.AnnounceMax {
		t.Errorf("announce-max %d in the file, %d in the profile", file.AnnounceMax, prof.AnnounceMax)
	}
	if len(file.Workloads) != len(prof.Workloads) {
		t.Fatalf("%d workloads in the file, %d in the profile", len(file.Workloads), len(prof.Workloads))
	}
	for i, fw := range file.Workloads {
		pw := prof.Workloads[i]
		fc, pc := fw.Config, pw.Config
		if fw.Name != pw.Name || fc.Scenario != pc.Scenario || fw.First != pw.First || fw.Count != pw.Count ||
			len(RoomURIs(fc)) != len(RoomURIs(pc)) || fc.RoomSize != pc.RoomSize || fc.Users != pc.Users ||
			math.Abs(float64(fc.Rate-pc.Rate)) > 1e-3*float64(pc.Rate) {
			t.Errorf("workload %d: file %s %s users %d+%d rooms %d of %d at %v; profile %s %s users %d+%d rooms %d of %d at %v", i,
				fw.Name, fc.Scenario, fw.First, fw.Count, len(RoomURIs(fc)), fc.RoomSize, fc.Rate,
				pw.Name, pc.Scenario, pw.First, pw.Count, len(RoomURIs(pc)), pc.RoomSize, pc.Rate)
		}
	}
}
