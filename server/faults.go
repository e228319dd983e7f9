package server

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Faults makes the server misbehave on purpose, so that a load tool's delivery
// tracker can be checked against the server's own counters exactly. Drop, Dup,
// Delay and Jitter apply only to the fan-out copies of chat lines: never to
// notices (joined, left, lists, ...), answers to requests, registrations or
// user-to-user relays. Stall holds chat lines (their 200 and their copies), never
// commands. The zero value injects nothing. A Faults is a plain value.
//
// Decisions (drop or dup, then the jitter of each copy sent) are drawn from one PCG
// stream per room, seeded by Seed and the room's name, for each copy to a member
// registered at fan-out time, in the order the room fans its copies out (line by
// line, members newest first). So the same Seed and the same sequence of copies in
// a room give the same decisions, however the rooms interleave.
type Faults struct {
	// Drop is the probability (0..1) that a copy to a registered member is not sent.
	Drop float64
	// Dup is the probability (0..1) that a copy is sent twice, the second time with
	// a new Call-ID (same body and In-Reply-To), as a retransmitting relay would. A
	// copy is dropped, duplicated or neither: one uniform draw u per copy drops it
	// when u < Drop and duplicates it when Drop <= u < Drop+Dup, so Drop+Dup <= 1.
	Dup float64
	// Delay holds every copy (an extra one too) for Delay plus a uniform draw from
	// [0, Jitter), counted from its fan-out, before it is sent. Without Jitter a
	// room's copies keep their order; with it they may be reordered, which is its
	// purpose. Copies are held apart from notices, so a notice may overtake a
	// delayed copy. Each lane holds at most Config.MaxPendingCopies delayed
	// copies; beyond that its rooms' fan-out waits, as it does when the lane is
	// full. The registration is looked up at fan-out, before the delay.
	Delay, Jitter time.Duration
	// StallFor and StallEvery hold room-line handling: windows of StallFor start
	// every StallEvery after the server started (the first one at StallEvery). A
	// line arriving in a window gets neither its 200 nor its copies until the window
	// ends; held lines then proceed in arrival order (lines arriving while they
	// drain queue behind them), like a server in a GC pause. Both zero: no stalls;
	// otherwise 0 < StallFor < StallEvery.
	StallFor, StallEvery time.Duration
	// Seed seeds the per-room random streams.
	Seed int64
}

// Enabled reports whether f injects any fault. It reads f only.
func (f Faults) Enabled() bool {
	return f.Drop > 0 || f.Dup > 0 || f.delays() || f.stalls()
}

func (f Faults) delays() bool { return f.Delay > 0 || f.Jitter > 0 }
func (f Faults) stalls() bool { return f.StallEvery > 0 }
func (f Faults) random() bool { return f.Drop > 0 || f.Dup > 0 || f.Jitter > 0 }

// Validate reports the first problem with f, naming the field. It reads f only.
func (f Faults) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"drop", f.Drop}, {"dup", f.Dup}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("%s: probability %v is out of range 0..1", p.name, p.v)
		}
	}
	if f.Drop+f.Dup > 1 {
		return fmt.Errorf("drop %v + dup %v: a copy is dropped or duplicated, so they must not exceed 1", f.Drop, f.Dup)
	}
	if f.Delay < 0 {
		return fmt.Errorf("delay: %v is negative", f.Delay)
	}
	if f.Jitter < 0 {
		return fmt.Errorf("jitter: %v is negative", f.Jitter)
	}
	if f.StallFor < 0 || f.StallEvery < 0 {
		return fmt.Errorf("stall: %v every %v: durations must not be negative", f.StallFor, f.StallEvery)
	}
	if (f.StallFor > 0 || f.StallEvery > 0) && (f.StallFor <= 0 || f.StallFor >= f.StallEvery) {
		return fmt.Errorf("stall: %v every %v: want 0 < duration < period", f.StallFor, f.StallEvery)
	}
	return nil
}

// String describes the faults for a start-up line: "drop 2% of copies, dup 1% of
// copies, delay 20ms (+ jitter up to 5ms, may reorder), stall 1s every 10s, seed 1",
// or "none". It reads f only.
func (f Faults) String() string {
	if !f.Enabled() {
		return "none"
	}
	var parts []string
	if f.Drop > 0 {
		parts = append(parts, "drop "+percent(f.Drop)+" of copies")
	}
	if f.Dup > 0 {
		parts = append(parts, "dup "+percent(f.Dup)+" of copies")
	}
	if f.delays() {
		d := "delay " + f.Delay.String()
		if f.Jitter > 0 {
			d += " (+ jitter up to " + f.Jitter.String() + ", may reorder)"
		}
		parts = append(parts, d)
	}
	if f.stalls() {
		parts = append(parts, "stall "+f.StallFor.String()+" every "+f.StallEvery.String())
	}
	if f.random() {
		parts = append(parts, "seed "+strconv.FormatInt(f.Seed, 10))
	}
	return strings.Join(parts, ", ")
}

func percent(p float64) string { return strconv.FormatFloat(p*100, 'g', -1, 64) + "%" }

// ParseProbability parses a probability as a fraction ("0.02") or a percentage
// ("2%") into 0..1. It is a pure function.
func ParseProbability(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, pct := strings.CutSuffix(s, "%")
	p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
		return 0, fmt.Errorf("%q is not a probability (want 0..1 or 0%%..100%%)", s)
	}
	if pct {
		p /= 100
	}
	if p < 0 || p > 1 {
		return 0, fmt.Errorf("%q is out of range (want 0..1 or 0%%..100%%)", s)
	}
	return p, nil
}

// ParseDelay parses "D" or "D,JITTER" ("20ms", "20ms,5ms"): durations >= 0. It is a
// pure function.
func ParseDelay(s string) (delay, jitter time.Duration, err error) {
	ds, js, hasJitter := strings.Cut(strings.TrimSpace(s), ",")
	if delay, err = nonNegative(ds); err != nil {
		return 0, 0, fmt.Errorf("delay: %w (want D or D,JITTER, e.g. 20ms,5ms)", err)
	}
	if hasJitter {
		if jitter, err = nonNegative(js); err != nil {
			return 0, 0, fmt.Errorf("jitter: %w (want D or D,JITTER, e.g. 20ms,5ms)", err)
		}
	}
	return delay, jitter, nil
}

// ParseStall parses "D/EVERY" ("1s/10s"): a stall of D every EVERY, 0 < D < EVERY.
// It is a pure function.
func ParseStall(s string) (stallFor, every time.Duration, err error) {
	ds, es, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want D/EVERY, e.g. 1s/10s", s)
	}
	if stallFor, err = nonNegative(ds); err != nil {
		return 0, 0, fmt.Errorf("stall duration: %w (want D/EVERY, e.g. 1s/10s)", err)
	}
	if every, err = nonNegative(es); err != nil {
		return 0, 0, fmt.Errorf("stall period: %w (want D/EVERY, e.g. 1s/10s)", err)
	}
	if stallFor <= 0 || stallFor >= every {
		return 0, 0, fmt.Errorf("%q: want 0 < D < EVERY", s)
	}
	return stallFor, every, nil
}

func nonNegative(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// FaultFlags are the command-line spellings of Faults, as `chatload serve` takes
// them (--fault-drop, --fault-dup, --fault-delay, --fault-stall, --fault-seed);
// empty strings mean "not given". A FaultFlags is a plain value.
type FaultFlags struct {
	Drop  string // --fault-drop P: "0.02" or "2%"
	Dup   string // --fault-dup P
	Delay string // --fault-delay D[,JITTER]: "20ms" or "20ms,5ms"
	Stall string // --fault-stall D/EVERY: "1s/10s"
	Seed  int64  // --fault-seed N
}

// Faults parses and validates the flags; an error names the flag at fault
// ("--fault-drop ..."). It is a pure function.
func (ff FaultFlags) Faults() (Faults, error) {
	f := Faults{Seed: ff.Seed}
	var err error
	if ff.Drop != "" {
		if f.Drop, err = ParseProbability(ff.Drop); err != nil {
			return Faults{}, fmt.Errorf("--fault-drop: %w", err)
		}
	}
	if ff.Dup != "" {
		if f.Dup, err = ParseProbability(ff.Dup); err != nil {
			return Faults{}, fmt.Errorf("--fault-dup: %w", err)
		}
	}
	if f.Drop+f.Dup > 1 {
		return Faults{}, fmt.Errorf("--fault-drop %s with --fault-dup %s: they must not add up to more than 1 (100%%)", ff.Drop, ff.Dup)
	}
	if ff.Delay != "" {
		if f.Delay, f.Jitter, err = ParseDelay(ff.Delay); err != nil {
			return Faults{}, fmt.Errorf("--fault-delay: %w", err)
		}
	}
	if ff.Stall != "" {
		if f.StallFor, f.StallEvery, err = ParseStall(ff.Stall); err != nil {
			return Faults{}, fmt.Errorf("--fault-stall: %w", err)
		}
	}
	return f, nil // the checks above are Validate's, flag by flag
}

// faultRand is one room's random stream. Safe for concurrent use; in practice only
// the room's lane draws from it, so the lock is never contended.
type faultRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newFaultRand(seed int64, room string) *faultRand {
	h := fnv.New64a()
	h.Write([]byte(room))
	return &faultRand{r: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

// float64 returns a uniform draw from [0, 1).
func (f *faultRand) float64() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.r.Float64()
}

// duration returns a uniform draw from [0, d); d > 0.
func (f *faultRand) duration(d time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Duration(f.r.Int64N(int64(d)))
}

// delayLine runs functions at their due times, earliest first and, for equal due
// times, in the order they were added: copies added with non-decreasing due times
// (a fixed delay) keep their order. Safe for concurrent use; run drives it.
type delayLine struct {
	now   func() time.Time
	slots chan struct{} // bounds the functions waiting: add blocks when full
	mu    sync.Mutex
	q     delayHeap
	seq   uint64
	wake  chan struct{} // capacity 1: a new item may be due earlier
}

type delayed struct {
	at  time.Time
	seq uint64
	fn  func()
}

type delayHeap []delayed

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return x
}

func newDelayLine(now func() time.Time, capacity int) *delayLine {
	return &delayLine{now: now, slots: make(chan struct{}, capacity), wake: make(chan struct{}, 1)}
}

// add queues fn to run at at. It waits while the line is full and returns false,
// fn dropped, when ctx is done first.
func (l *delayLine) add(ctx context.Context, at time.Time, fn func()) bool {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	l.mu.Lock()
	l.seq++
	heap.Push(&l.q, delayed{at: at, seq: l.seq, fn: fn})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// run calls the functions as they fall due until ctx is done; what is left then is
// abandoned.
func (l *delayLine) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	// floor is the due time of the last timer that fired: the clock has reached it
	// even when an injected clock does not move with the timers.
	var floor time.Time
	for {
		l.mu.Lock()
		now := l.now()
		if now.Before(floor) {
			now = floor
		}
		if len(l.q) > 0 && !l.q[0].at.After(now) {
			it := heap.Pop(&l.q).(delayed)
			l.mu.Unlock()
			<-l.slots
			it.fn()
			continue
		}
		var due time.Time
		if len(l.q) > 0 {
			due = l.q[0].at
		}
		l.mu.Unlock()
		if due.IsZero() {
			select {
			case <-l.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		t.Reset(due.Sub(now))
		select {
		case <-t.C:
			floor = due
		case <-l.wake:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// stallGate holds room lines during the stall windows of Faults. Safe for
// concurrent use.
type stallGate struct {
	start       time.Time
	dur, period time.Duration
	now         func() time.Time
	stalls      *atomic.Uint64

	mu      sync.Mutex
	tail    chan struct{} // closed when the last line queued at the gate is through
	queued  int           // lines queued at the gate and not through yet
	counted int64         // index of the last window counted in stalls
}

// window returns the index and end of the stall window t falls in; ok is false
// outside every window. Window k >= 1 is [start+k*period, start+k*period+dur).
func (g *stallGate) window(t time.Time) (k int64, end time.Time, ok bool) {
	el := t.Sub(g.start)
	if el < g.period {
		return 0, time.Time{}, false
	}
	k = int64(el / g.period)
	if el%g.period >= g.dur {
		return 0, time.Time{}, false
	}
	return k, g.start.Add(time.Duration(k)*g.period + g.dur), true
}

// pass returns at once outside the stall windows when no line is queued at the
// gate. Otherwise it queues the line: it returns once the window has ended (or ctx
// is done) and every line queued before it has called its done. The caller must
// call done once it has handled the line (queued and answered it).
func (g *stallGate) pass(ctx context.Context) (done func()) {
	g.mu.Lock()
	now := g.now()
	k, end, in := g.window(now)
	if !in && g.queued == 0 {
		g.mu.Unlock()
		return func() {}
	}
	if in && k != g.counted {
		g.counted = k
		g.stalls.Add(1)
	}
	prev, mine := g.tail, make(chan struct{})
	g.tail = mine
	g.queued++
	g.mu.Unlock()

	if in {
		t := time.NewTimer(end.Sub(now))
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
		}
	}
	return func() {
		g.mu.Lock()
		g.queued--
		if g.tail == mine {
			g.tail = nil
		}
		g.mu.Unlock()
		close(mine)
	}
}
