package imc

import (
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestFirstRefreshBounds(t *testing.T) {
	for _, c := range []struct{ g, lo time.Duration }{
		{300 * time.Second, 30 * time.Second},                                                // the floor
		{3600 * time.Second, time.Duration(float64(1800*time.Second) * (1 - refreshSpread))}, // the spread
		{10 * time.Second, 5 * time.Second},                                                  // g/2 under the floor
	} {
		for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
			d := firstRefresh(c.g, u)
			if d < c.lo || d > c.g/2 || (d == c.g/2 && c.lo != c.g/2) {
				t.Errorf("firstRefresh(%s, %v) = %s; want in [%s, %s)", c.g, u, d, c.lo, c.g/2)
			}
		}
	}
	if a, b := firstRefresh(300*time.Second, 0.1), firstRefresh(300*time.Second, 0.9); a >= b {
		t.Errorf("firstRefresh does not grow with u: %s at 0.1, %s at 0.9", a, b)
	}
}

// signInWave signs in n sessions at once (the worst sign-in wave) and arms their
// refreshes as Connect and scheduleRefresh do: the first after first(g), then every
// g/2. It returns the refreshes per second of virtual time over three periods, and
// the longest time any session went without a refresh (or sign-in).
func signInWave(t *testing.T, n int, g time.Duration, first func(time.Duration) time.Duration) (perSec map[int64]int, maxGap time.Duration) {
	perSec = map[int64]int{}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		end := start.Add(3 * g / 2)
		var mu sync.Mutex
		var timers []*time.Timer
		for range n {
			last := start
			var arm func(d time.Duration)
			arm = func(d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				timers = append(timers, time.AfterFunc(d, func() {
					now := time.Now()
					if now.After(end) {
						return
					}
					mu.Lock()
					perSec[int64(now.Sub(start)/time.Second)]++
					maxGap = max(maxGap, now.Sub(last))
					last = now
					mu.Unlock()
					arm(g / 2)
				}))
			}
			arm(first(g))
		}
		time.Sleep(3*g/2 + time.Second)
		synctest.Wait()
		mu.Lock()
		for _, tm := range timers {
			tm.Stop()
		}
		mu.Unlock()
	})
	return perSec, maxGap
}

// TestRefreshesSpread: 10,000 users signed in in the same instant refresh at no
// more than twice the flat rate (n per g/2) in any second, and every one refreshes
// before half its registration's lifetime is gone. The schedule without spreading
// (every refresh at g/2 after sign-in) is the control: it puts them all in one second.
func TestRefreshesSpread(t *testing.T) {
	const n = 10000
	g := 300 * time.Second
	flat := float64(n) / (g / 2).Seconds()
	rng := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	spread := func(g time.Duration) time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		return firstRefresh(g, rng.Float64())
	}
	check := func(name string, first func(time.Duration) time.Duration) (peak int, ok bool) {
		perSec, gap := signInWave(t, n, g, first)
		total := 0
		for _, c := range perSec {
			peak = max(peak, c)
			total += c
		}
		if total < 2*n {
			t.Errorf("%s: %d refreshes in 1.5 periods of %d users; want at least %d", name, total, n, 2*n)
		}
		if gap >= g/2+time.Second {
			t.Errorf("%s: a user went %s without refreshing; want less than g/2 = %s", name, gap, g/2)
		}
		return peak, float64(peak) <= 2*flat
	}
	if peak, ok := check("spread", spread); !ok {
		t.Errorf("spread: %d refreshes in the busiest second; want at most %.0f (twice the flat %.1f/s)", peak, 2*flat, flat)
	}
	if peak, ok := check("control", func(g time.Duration) time.Duration { return g / 2 }); ok {
		t.Errorf("control (no spreading): busiest second has %d refreshes; the check cannot tell a herd from a spread", peak)
	}
}
