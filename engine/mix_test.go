package engine_test

import (
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
		rep, err := engine.RunMix(t.Context(), d, "mix", []engine.Workload{
			{Name: "posts", Run: engine.RunConfig{Scenario: posts, Users: us[:4]}},
			{Name: "idle", Start: 500 * time.Millisecond, Run: engine.RunConfig{Scenario: idle, Users: us[4:]}},
		})
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
