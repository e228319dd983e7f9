package engine_test

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/engine/enginetest"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// TestRunMix: two workloads at once over one driver, with their own scenario,
// rate, users and rooms, the second starting later: the report gives each its own
// operations and messages, and the total is their sum.
func TestRunMix(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		posts := config(t, scenarios.Steady, 20, time.Second)
		posts.Pairs, posts.RoomList = 2, []string{"room001", "room002"}
		idle := config(t, scenarios.Lurker, 10, time.Second)
		idle.Rooms, idle.RoomSize = 0, 5
		idle.RoomList = []string{"room003"}
		us := population(9)
		d := &enginetest.FakeDriver{Passwords: map[string]string{}, Latency: 10 * time.Millisecond,
			Rooms: append(scenarios.RoomURIs(posts), scenarios.RoomURIs(idle)...)}
		for _, u := range us {
			d.Passwords[u.URI] = u.Password
		}
		start := time.Now()
		rep, err := engine.RunMix(t.Context(), d, engine.MixConfig{RunID: "mix", Workloads: []engine.Workload{
			{Name: "posts", Run: engine.RunConfig{Scenario: posts, Users: us[:4]}},
			{Name: "idle", Start: 500 * time.Millisecond, Run: engine.RunConfig{Scenario: idle, Users: us[4:]}},
		}})
		if err != nil {
			t.Fatalf("RunMix: %v", err)
		}
		if len(rep.Workloads) != 2 || rep.Workloads[0].Name != "posts" || rep.Workloads[1].Name != "idle" {
			t.Fatalf("workloads = %v; want posts, idle", rep.Workloads)
		}
		p, i := rep.WorkloadNamed("posts"), rep.WorkloadNamed("idle")
		// posts: 20 posts, one receiver each; idle: 10 posts, 4 lurkers each.
		if m := p.Messages; m.Sent != 20 || m.Delivered != 20 || m.Lost != 0 {
			t.Errorf("posts messages = %+v; want 20 sent and delivered", m)
		}
		if m := i.Messages; m.Sent != 10 || m.Delivered != 40 || m.Lost != 0 {
			t.Errorf("idle messages = %+v; want 10 sent, 40 delivered", m)
		}
		if m := rep.Messages; m.Sent != 30 || m.Delivered != 60 {
			t.Errorf("total messages = %+v; want 30 sent, 60 delivered", m)
		}
		if n, _ := count(rep, "join"); n != 9 {
			t.Errorf("total joins %d; want 9 (4 + 5)", n)
		}
		if got := i.StartedAt.Sub(start); got != 500*time.Millisecond {
			t.Errorf("idle started %v after the mix; want 500ms", got)
		}
		if rep.RunID != "mix" || p.RunID != "mix-posts" {
			t.Errorf("run ids %q, %q; want mix, mix-posts", rep.RunID, p.RunID)
		}
		for _, c := range []struct {
			expr string
			pass bool
		}{
			{"idle:messages.delivered == 40", true},
			{"posts:messages.delivered == 40", false},
			{"messages.delivered == 60", true},
			{"nobody:messages.lost == 0", false},
		} {
			th, err := report.ParseThreshold(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			if v := th.Check(rep); v.Pass != c.pass {
				t.Errorf("%s: %+v; want pass %v", c.expr, v, c.pass)
			}
		}
	})
}

// TestRunMixSharedUsers: two rooms workloads over the same 6 users (a population
// whose people are in rooms of both sizes) share one session per user: 6 log-ons
// and log-offs on the wire, each user in the rooms of both, every copy counted by
// the workload that posted it (no strays); the steady phases start together; the
// mix's intervals (OnInterval) add up to the total, each workload's come to
// OnWorkloadInterval, and Progress sums the workloads'.
func TestRunMixSharedUsers(t *testing.T) {
	for _, async := range []time.Duration{0, time.Second} {
		synctest.Test(t, func(t *testing.T) {
			small := config(t, scenarios.Rooms, 10, 3*time.Second)
			small.Rooms, small.RoomSize, small.Users = 0, 3, 6
			small.RoomList = []string{"room001", "room002"}
			big := config(t, scenarios.Rooms, 5, 3*time.Second)
			big.Rooms, big.RoomSize, big.Users = 0, 6, 6
			big.RoomList = []string{"room003"}
			us := population(6)
			d := &enginetest.FakeDriver{Passwords: map[string]string{}, Latency: 10 * time.Millisecond, AsyncTimeout: async,
				Rooms: append(scenarios.RoomURIs(small), scenarios.RoomURIs(big)...)}
			for _, u := range us {
				d.Passwords[u.URI] = u.Password
			}
			var (
				ivs       []report.Interval
				wivs      = map[string]int{}
				mu        sync.Mutex
				lastP     engine.Progress
				nProg     int
				maxTarget float64 // the sum of both workloads' rates while both are steady
			)
			rep, err := engine.RunMix(t.Context(), d, engine.MixConfig{RunID: "mix", Interval: time.Second,
				Workloads: []engine.Workload{
					{Name: "small", Run: engine.RunConfig{Scenario: small, Users: us}},
					{Name: "big", Run: engine.RunConfig{Scenario: big, Users: us}},
				},
				OnInterval:         func(iv report.Interval) { ivs = append(ivs, iv) },
				OnWorkloadInterval: func(name string, iv report.Interval) { wivs[name]++ },
				Progress: func(p engine.Progress) {
					mu.Lock()
					defer mu.Unlock()
					nProg++
					lastP = p
					maxTarget = max(maxTarget, float64(p.TargetRate))
				},
			})
			if err != nil {
				t.Fatalf("RunMix: %v", err)
			}
			if n, e := count(rep, "register"); n != 6 || e != 0 {
				t.Errorf("registers %d (%d errors); want 6: one log-on per shared user", n, e)
			}
			if n, _ := count(rep, "unregister"); n != 6 {
				t.Errorf("unregisters %d; want 6", n)
			}
			if n, _ := count(rep, "join"); n != 12 {
				t.Errorf("joins %d; want 12 (2 rooms of 3, 1 of 6)", n)
			}
			s, b := rep.WorkloadNamed("small"), rep.WorkloadNamed("big")
			if m := s.Messages; m.Sent != 30 || m.Delivered != 60 || m.Lost != 0 {
				t.Errorf("small messages %+v; want 30 sent, 60 delivered (2 others each)", m)
			}
			if m := b.Messages; m.Sent != 15 || m.Delivered != 75 || m.Lost != 0 {
				t.Errorf("big messages %+v; want 15 sent, 75 delivered (5 others each)", m)
			}
			if rep.Generator.Note != "" {
				t.Errorf("generator note %q; want none (no stray copies)", rep.Generator.Note)
			}
			// The steady phases started together, after both setups.
			if gs, gb := s.Intervals, b.Intervals; len(gs) == 0 || len(gb) == 0 {
				t.Fatalf("no intervals")
			}
			var sum report.Messages
			for _, iv := range ivs {
				sum.Add(iv.Messages)
			}
			if sum != rep.Messages {
				t.Errorf("the mix's intervals add up to %+v; the total is %+v", sum, rep.Messages)
			}
			if wivs["small"] != len(s.Intervals) || wivs["big"] != len(b.Intervals) {
				t.Errorf("workload intervals %v; want %d and %d", wivs, len(s.Intervals), len(b.Intervals))
			}
			// The last call may come when one workload is already past its steady
			// phase (its target then 0), and a call in the same instant as a
			// workload's own progress may read its previous one (setup, no target):
			// the sum is checked at its highest, over 3 s of steady phase, so that
			// one call comes a whole second after both started posting.
			if nProg == 0 || lastP.SetupTotal != 12 || lastP.SetupDone != 12 || lastP.Delivered == 0 || maxTarget != 15 {
				t.Errorf("progress: %d calls, last %+v, highest target %v/s; want 12 of 12 set up (6 users in each workload), target 15/s, deliveries", nProg, lastP, maxTarget)
			}
		})
	}
}

// TestRunMixSharedRefused: a workload that logs its users on and off in each
// operation cannot share them.
func TestRunMixSharedRefused(t *testing.T) {
	rooms := config(t, scenarios.Rooms, 10, time.Second)
	login := config(t, scenarios.Login, 10, time.Second)
	login.Users = 2
	us := population(10)
	_, err := engine.RunMix(t.Context(), &enginetest.FakeDriver{}, engine.MixConfig{Workloads: []engine.Workload{
		{Name: "rooms", Run: engine.RunConfig{Scenario: rooms, Users: us}},
		{Name: "signin", Run: engine.RunConfig{Scenario: login, Users: us[:2]}},
	}})
	if err == nil || !strings.Contains(err.Error(), "signin") || !strings.Contains(err.Error(), "cannot share") {
		t.Errorf("err %v; want workload signin cannot share its users", err)
	}
}
