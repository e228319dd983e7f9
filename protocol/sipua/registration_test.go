package sipua

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestRefreshPeriod(t *testing.T) {
	for _, c := range []struct{ g, timeout, want time.Duration }{
		{300 * time.Second, 5 * time.Second, 270 * time.Second},    // a tenth of g ahead
		{3600 * time.Second, 5 * time.Second, 3240 * time.Second},  // the same at 1 h
		{60 * time.Second, 5 * time.Second, 40 * time.Second},      // four timeouts ahead
		{10 * time.Second, 2 * time.Second, 5 * time.Second},       // never past g/2
		{2 * time.Second, 5 * time.Second, 1 * time.Second},        // the same
		{300 * time.Second, 30 * time.Second, 180 * time.Second},   // long timeouts: more lead
		{7200 * time.Second, 32 * time.Second, 6480 * time.Second}, // a Lync-sized grant
	} {
		if got := refreshPeriod(c.g, c.timeout); got != c.want {
			t.Errorf("refreshPeriod(%s, %s) = %s; want %s", c.g, c.timeout, got, c.want)
		}
	}
}

func TestFirstRefreshBounds(t *testing.T) {
	for _, c := range []struct{ p, lo time.Duration }{
		{270 * time.Second, 30 * time.Second},                                                // the floor
		{3240 * time.Second, time.Duration(float64(3240*time.Second) * (1 - refreshSpread))}, // the spread
		{5 * time.Second, 5 * time.Second},                                                   // p under the floor
	} {
		for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
			d := firstRefresh(c.p, u)
			if d < c.lo || d > c.p || (d == c.p && c.lo != c.p) {
				t.Errorf("firstRefresh(%s, %v) = %s; want in [%s, %s)", c.p, u, d, c.lo, c.p)
			}
		}
	}
	if a, b := firstRefresh(270*time.Second, 0.1), firstRefresh(270*time.Second, 0.9); a >= b {
		t.Errorf("firstRefresh does not grow with u: %s at 0.1, %s at 0.9", a, b)
	}
}

// signInWave signs in n sessions at once (the worst sign-in wave) and arms their
// refreshes as Registration does: the first after first(p), then every period p.
// It returns the refreshes per second of virtual time over three periods, and
// the longest time any session went without a refresh (or sign-in).
func signInWave(t *testing.T, n int, p time.Duration, first func(time.Duration) time.Duration) (perSec map[int64]int, maxGap time.Duration) {
	perSec = map[int64]int{}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		end := start.Add(3 * p)
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
					arm(p)
				}))
			}
			arm(first(p))
		}
		time.Sleep(3*p + time.Second)
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
// more than twice the flat rate (n per refresh period) in any second, and every one
// refreshes within a period. The schedule without spreading (every refresh a
// period after sign-in) is the control: it puts them all in one second.
func TestRefreshesSpread(t *testing.T) {
	const n = 10000
	p := refreshPeriod(300*time.Second, 5*time.Second)
	flat := float64(n) / p.Seconds()
	rng := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	spread := func(g time.Duration) time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		return firstRefresh(g, rng.Float64())
	}
	check := func(name string, first func(time.Duration) time.Duration) (peak int, ok bool) {
		perSec, gap := signInWave(t, n, p, first)
		total := 0
		for _, c := range perSec {
			peak = max(peak, c)
			total += c
		}
		if total < 2*n {
			t.Errorf("%s: %d refreshes in 3 periods of %d users; want at least %d", name, total, n, 2*n)
		}
		if gap >= p+time.Second {
			t.Errorf("%s: a user went %s without refreshing; want less than a period, %s", name, gap, p)
		}
		return peak, float64(peak) <= 2*flat
	}
	if peak, ok := check("spread", spread); !ok {
		t.Errorf("spread: %d refreshes in the busiest second; want at most %.0f (twice the flat %.1f/s)", peak, 2*flat, flat)
	}
	if peak, ok := check("control", func(p time.Duration) time.Duration { return p }); ok {
		t.Errorf("control (no spreading): busiest second has %d refreshes; the check cannot tell a herd from a spread", peak)
	}
}

// fakeRegistrar is a Registrar whose REGISTERs are answered by answer (nil:
// granted g) and counted per second of virtual time since start, with the
// longest time any account went without a REGISTER.
type fakeRegistrar struct {
	Registrar
	start  time.Time
	g      time.Duration
	answer func(ctx context.Context, op string) error

	mu     sync.Mutex
	perSec map[int64]int
	ops    map[string]int
	last   map[*Account]time.Time
	maxGap time.Duration
}

func newFakeRegistrar(g, timeout time.Duration) *fakeRegistrar {
	f := &fakeRegistrar{start: time.Now(), g: g, perSec: map[int64]int{}, ops: map[string]int{}, last: map[*Account]time.Time{}}
	f.Expires, f.Timeout = g, timeout
	f.send = func(ctx context.Context, a *Account, op string, expires time.Duration) (time.Duration, error) {
		now := time.Now()
		f.mu.Lock()
		f.ops[op]++
		if op == "reregister" {
			f.perSec[int64(now.Sub(f.start)/time.Second)]++
		}
		if last, ok := f.last[a]; ok {
			f.maxGap = max(f.maxGap, now.Sub(last))
		}
		f.last[a] = now
		f.mu.Unlock()
		if f.answer != nil {
			if err := f.answer(ctx, op); err != nil {
				return 0, err
			}
		}
		if expires == 0 {
			return 0, nil
		}
		return f.g, nil
	}
	return f
}

// TestRegistrationRefreshesSpread is TestRefreshesSpread through the
// Registration every driver's sessions use (imc and xccos alike): 10,000
// sessions signed in at the same instant refresh at no more than twice the
// flat rate in any second, and none goes longer than a refresh period without
// one.
func TestRegistrationRefreshesSpread(t *testing.T) {
	const n = 10000
	g := 300 * time.Second
	p := refreshPeriod(g, 5*time.Second)
	flat := float64(n) / p.Seconds()
	synctest.Test(t, func(t *testing.T) {
		f := newFakeRegistrar(g, 5*time.Second)
		regs := make([]*Registration, n)
		for i := range regs {
			regs[i] = f.NewRegistration(&Account{})
			if granted, err := regs[i].Register(context.Background()); err != nil || granted != g {
				t.Fatalf("Register = %s, %v; want %s, nil", granted, err, g)
			}
		}
		time.Sleep(3 * p)
		for _, r := range regs {
			r.Stop()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		peak := 0
		for _, c := range f.perSec {
			peak = max(peak, c)
		}
		if f.ops["register"] != n || f.ops["reregister"] < 2*n {
			t.Errorf("%d sign-ins and %d refreshes in 3 periods of %d users; want %d and at least %d",
				f.ops["register"], f.ops["reregister"], n, n, 2*n)
		}
		if float64(peak) > 2*flat {
			t.Errorf("%d refreshes in the busiest second; want at most %.0f (twice the flat %.1f/s)", peak, 2*flat, flat)
		}
		if f.maxGap >= p+time.Second {
			t.Errorf("a user went %s without refreshing; want less than a period, %s", f.maxGap, p)
		}
	})
}

// TestRegistrationRetriesAndStops: a failed refresh is tried again after the
// timeout (not a refresh period later), later ones come every period again, and
// Stop cancels a refresh in flight, waits for it and ends the refreshes.
func TestRegistrationRetriesAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, timeout := 10*time.Second, 2*time.Second
		f := newFakeRegistrar(g, timeout)
		var fail, block atomic.Bool
		blocked := make(chan struct{}, 1)
		f.answer = func(ctx context.Context, op string) error {
			if op != "reregister" {
				return nil
			}
			if block.Load() {
				blocked <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}
			if fail.CompareAndSwap(true, false) {
				return errors.New("503")
			}
			return nil
		}
		r := f.NewRegistration(&Account{})
		start := time.Now()
		if _, err := r.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		refreshes := func() int {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.ops["reregister"]
		}
		// after lets d pass, then wants n refreshes so far.
		after := func(d time.Duration, n int, when string) {
			t.Helper()
			time.Sleep(d)
			synctest.Wait()
			if c := refreshes(); c != n {
				t.Fatalf("%d refreshes %s; want %d", c, when, n)
			}
		}
		// The period is g/2 = 5s (four timeouts ahead would be past it), under the
		// floor: the first refresh comes at 5s.
		after(g/2-time.Millisecond, 0, "before g/2")
		fail.Store(true)
		after(time.Millisecond, 1, "at g/2")
		after(timeout, 2, fmt.Sprintf("%s after a failed one (the retry)", timeout))
		after(g/2-time.Millisecond, 2, "before g/2 after the retry")
		block.Store(true)
		time.Sleep(time.Millisecond)
		<-blocked
		stopped := make(chan struct{})
		go func() { r.Stop(); close(stopped) }()
		<-stopped // Stop cancelled the blocked refresh and waited for it
		at := time.Now().Sub(start)
		time.Sleep(10 * g)
		synctest.Wait()
		if c := refreshes(); c != 3 {
			t.Errorf("%d refreshes after Stop at %s; want 3", c, at)
		}
	})
}

// TestRegistrationRefreshesBatched: refreshes falling due within refreshBatch of
// each other go out together: 10,000 sessions signed in at the same instant wake
// the refresher at most once per 100 ms (not once per refresh), each at most
// refreshBatch before its due time, and none goes longer than a refresh period
// without one. The wake-ups are the distinct instants of virtual
// time at which refreshes were sent.
func TestRegistrationRefreshesBatched(t *testing.T) {
	const n = 10000
	g := 300 * time.Second
	synctest.Test(t, func(t *testing.T) {
		f := newFakeRegistrar(g, 5*time.Second)
		var mu sync.Mutex
		instants := map[time.Time]int{}
		early := time.Duration(0)
		f.answer = func(ctx context.Context, op string) error {
			if op == "reregister" {
				mu.Lock()
				instants[time.Now()]++
				mu.Unlock()
			}
			return nil
		}
		sent := map[*Account]time.Time{}
		prev := f.send
		f.send = func(ctx context.Context, a *Account, op string, expires time.Duration) (time.Duration, error) {
			mu.Lock()
			if _, ok := sent[a]; !ok && op == "reregister" {
				sent[a] = time.Now()
			}
			mu.Unlock()
			return prev(ctx, a, op, expires)
		}
		regs := make([]*Registration, n)
		for i := range regs {
			regs[i] = f.NewRegistration(&Account{})
			if _, err := regs[i].Register(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		// Each due time as queued, to see how early its refresh went.
		due := make(map[*Registration]time.Time, n)
		f.Registrar.mu.Lock()
		for _, it := range f.Registrar.queue {
			due[it.g] = f.Registrar.epoch.Add(it.due)
		}
		f.Registrar.mu.Unlock()
		period := refreshPeriod(g, 5*time.Second)
		time.Sleep(period) // every first refresh falls in the first period
		synctest.Wait()
		for _, r := range regs {
			r.Stop()
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range regs {
			at, ok := sent[r.a]
			if !ok {
				t.Fatalf("a session did not refresh within a period (%s)", period)
			}
			early = max(early, due[r].Sub(at))
		}
		if early > refreshBatch {
			t.Errorf("a refresh went %s before its due time; want at most refreshBatch (%s)", early, refreshBatch)
		}
		total := 0
		for _, c := range instants {
			total += c
			if c > refreshBatchMax {
				t.Errorf("%d refreshes sent at one instant; want at most refreshBatchMax (%d)", c, refreshBatchMax)
			}
		}
		// The first refreshes are spread over 240 s of the 270 s period: at most one
		// wake-up per 100 ms then, some 1,350, where a timer per session would
		// wake up 10,000 times.
		const grain = 100 * time.Millisecond
		if most := int(period/grain) + 1; len(instants) > most {
			t.Errorf("%d refreshes woke the refresher %d times in %s; want at most %d (one per %s)",
				total, len(instants), period, most, grain)
		}
		if total < n {
			t.Errorf("%d refreshes in a period; want at least %d", total, n)
		}
		if f.maxGap >= period+time.Second {
			t.Errorf("a user went %s without refreshing; want less than a period, %s", f.maxGap, period)
		}
	})
}

// TestRefreshQueueOrder: the queue gives its items back earliest first, however
// pushes and pops interleave.
func TestRefreshQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var q refreshQueue
	var want []time.Duration
	for round := range 50 {
		for range rng.IntN(200) {
			d := time.Duration(rng.IntN(1000))
			q.push(refreshItem{due: d})
			want = append(want, d)
		}
		slices.Sort(want)
		for range rng.IntN(len(want) + 1) {
			if got := q.pop().due; got != want[0] {
				t.Fatalf("round %d: pop = %d; want %d", round, got, want[0])
			}
			want = want[1:]
		}
		if len(q) != len(want) {
			t.Fatalf("round %d: %d items queued; want %d", round, len(q), len(want))
		}
	}
}
