package scenarios

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLoadMix: a mixed file's workloads get the top level's settings under their
// own, rooms and users of their own, and the thresholds of both levels.
func TestLoadMix(t *testing.T) {
	data, err := os.ReadFile("testdata/mix/two.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !IsMix("two.yaml", data) {
		t.Fatal("IsMix = false; want true")
	}
	m, err := LoadMix("two.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Workloads) != 2 {
		t.Fatalf("%d workloads; want 2", len(m.Workloads))
	}
	p, i := m.Workloads[0], m.Workloads[1]
	if p.Name != "posts" || p.Config.Scenario != Steady || p.Config.Duration != 20*time.Second || p.Config.Rate != 20 || p.Start != 0 {
		t.Errorf("posts = %+v; want steady at 20/s for the top level's 20s", p)
	}
	if i.Name != "idle" || i.Config.Scenario != Lurker || i.Config.RoomSize != 5 || i.Start != 5*time.Second {
		t.Errorf("idle = %+v; want lurker rooms of 5 starting at 5s", i)
	}
	// posts: 3 pairs, a room each (room001-003); idle: 2 rooms after them.
	if got, want := RoomURIs(i.Config), []string{"sip:room004@conf.example.test", "sip:room005@conf.example.test"}; !reflect.DeepEqual(got, want) {
		t.Errorf("idle rooms %v; want %v", got, want)
	}
	if p.First != 0 || p.Count != 6 || i.First != 6 || i.Count != 10 || m.Users() != 16 || m.Rooms() != 5 {
		t.Errorf("users %d+%d, %d+%d (%d), rooms %d; want 0+6, 6+10 (16), 5", p.First, p.Count, i.First, i.Count, m.Users(), m.Rooms())
	}
	if want := []string{"messages.lost == 0", "posts:delivery.p99 < 250ms"}; !reflect.DeepEqual(m.Thresholds, want) {
		t.Errorf("thresholds %q; want %q", m.Thresholds, want)
	}
	if p.Config.Transport != "" {
		t.Errorf("transport %q; want it left to the protocol's default", p.Config.Transport)
	}
}

// TestLoadMixErrors: bad mixed files are refused naming file:line and the workload.
func TestLoadMixErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"workloads: []", "m.yaml:1: workloads: want a list"},
		{"workloads:\n  - {scenario: steady}", "m.yaml:2: workload without a name"},
		{"workloads:\n  - {name: a}\n  - {name: a}", "m.yaml:3: name \"a\": a workload of that name is on line 2"},
		{"workloads:\n  - {name: Bad Name}", "m.yaml:2: name \"Bad Name\""},
		{"workloads:\n  - {name: a, start: soon}", "start \"soon\""},
		{"workloads:\n  - {name: a, scenario: nope}", "workload a: --scenario \"nope\": unknown scenario"},
		{"workloads:\n  - {name: a, pairs: -1}", "m.yaml:2: pairs"},
		{"workloads:\n  - {name: a, scenario: fanout, room-size: 1}", "workload a: --room-size 1"},
		{"workloads:\n  - {name: a}\n  - {name: b, protocol: xccos}", "workload b: protocol xccos differs"},
		{"rate: fast\nworkloads:\n  - {name: a}", "m.yaml:1: rate"},
	}
	for _, c := range cases {
		_, err := LoadMix("m.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v; want containing %q", c.yaml, err, c.want)
		}
	}
}

// TestLoadMixUsersFile: a users file is the mix's population, not a workload's: a
// workload may still say how many users it takes, and a relative path is the file's.
func TestLoadMixUsersFile(t *testing.T) {
	m, err := LoadMix("dir/m.yaml", []byte("users-file: users.csv\nworkloads:\n  - {name: a, scenario: rooms, rooms: 4, room-size: 5, users: 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.UsersFile != "dir/users.csv" || m.Workloads[0].Config.UsersFile != "" || m.Workloads[0].Count != 10 {
		t.Errorf("users file %q (workload's %q), count %d; want dir/users.csv on the mix, 10 users", m.UsersFile, m.Workloads[0].Config.UsersFile, m.Workloads[0].Count)
	}
}

// TestLoadMixSharedUsers: "first-user" gives workloads overlapping users (shared
// by scenarios that keep their users logged on, refused for one that logs them on
// and off), and a top-level "announce-max" is the embedded server's.
func TestLoadMixSharedUsers(t *testing.T) {
	m, err := LoadMix("s.yaml", []byte(`duration: 5s
announce-max: 30
workloads:
  - {name: a, scenario: rooms, rooms: 4, room-size: 5, users: 10, rate: 1/s}
  - {name: b, scenario: rooms, rooms: 1, room-size: 10, users: 10, first-user: 1, rate: 1/s}
  - {name: c, scenario: login, users: 2, rate: 1/s}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := m.Workloads[0], m.Workloads[1], m.Workloads[2]
	if a.First != 0 || b.First != 0 || b.Count != 10 || c.First != 10 || m.Users() != 12 || m.AnnounceMax != 30 {
		t.Errorf("firsts %d/%d/%d, users %d, announce-max %d; want 0/0/10, 12, 30", a.First, b.First, c.First, m.Users(), m.AnnounceMax)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"workloads:\n  - {name: a, scenario: rooms, users: 10, room-size: 5}\n  - {name: b, scenario: login, users: 2, first-user: 3}\n", "cannot share users"},
		{"workloads:\n  - {name: a, scenario: rooms, first-user: 0}\n", "s.yaml:2: first-user"},
		{"announce-max: -1\nworkloads:\n  - {name: a, scenario: rooms}\n", "s.yaml:1: announce-max"},
	} {
		if _, err := LoadMix("s.yaml", []byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v; want %q", bad.yaml, err, bad.want)
		}
	}
}
