package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// TestRecoverAfterRestart: the users of a steady run log on and join again after
// the service restarted (reconnect ops: failed while it is down, one success per
// user after), the receivers with their senders, and the posts succeed again.
func TestRecoverAfterRestart(t *testing.T) {
	modes(t, func(t *testing.T, async time.Duration) {
		c := config(t, scenarios.Steady, 10, 10*time.Second)
		c.Pairs = 2
		us := population(4)
		d := fakeFor(c, us)
		d.AsyncTimeout = async

		start := time.Now() // synctest: setup takes no time
		var mu sync.Mutex
		epoch := 0
		conn := map[string]int{}
		d.Fail = func(op, user string) error {
			mu.Lock()
			defer mu.Unlock()
			at := time.Since(start)
			if at >= 3*time.Second && at < 5*time.Second {
				return report.Errorf(report.Transport, op, 0, "connection refused (down)")
			}
			if at >= 5*time.Second && epoch == 0 {
				epoch = 1 // restarted: everyone forgotten
			}
			switch op {
			case "connect":
				conn[user] = epoch
			case "send", "join", "leave":
				if conn[user] != epoch {
					return report.Errorf(report.Rejected, op, 403, "403 Not A Member Of This Room")
				}
			}
			return nil
		}
		rep, err := engine.Run(t.Context(), d, engine.RunConfig{Scenario: c, Users: us, RunID: "rc", Interval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rc := rep.Operations["reconnect"]
		if rc.Count-rc.Errors != 4 {
			t.Errorf("reconnect %d, %d failed: want exactly one success per user (4): receivers recovered with their senders, once", rc.Count, rc.Errors)
		}
		if rc.Errors == 0 {
			t.Errorf("no reconnect failed while the service was down")
		}
		mu.Lock()
		for _, u := range us {
			if conn[u.URI] != 1 {
				t.Errorf("%s not connected again after the restart", u.URI)
			}
		}
		mu.Unlock()
		// Down from 3 s to 5 s; the sender's attempts back off 200, 400, 800,
		// 1600 ms from 3 s: it is back at 6 s, its receiver 200 ms later.
		if n, errs := count(rep, "send"); n != 100 || errs < 20 || errs > 35 {
			t.Errorf("send %d, %d failed; want 100, the ~30 of the outage and the backoff failed", n, errs)
		}
		for _, iv := range rep.Intervals {
			if iv.Phase == engine.PhaseSteady && iv.End.Sub(start) > 7*time.Second+500*time.Millisecond {
				if o := iv.Operations["send"]; o.Count == 0 || o.Errors != 0 {
					t.Errorf("interval ending %v after the start: send %+v; want all posts accepted", iv.End.Sub(start), o)
				}
			}
		}
	})
}
