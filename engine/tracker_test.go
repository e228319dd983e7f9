package engine

import (
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

func testUsers(n int) []User {
	us := make([]User, n)
	for i := range us {
		us[i] = User{URI: fmt.Sprintf("sip:u%d@example.test", i)}
	}
	return us
}

func TestBodyRoundTrip(t *testing.T) {
	for _, size := range []int{1, 20, 64, 65, 100, 1000} {
		tr := newTracker("run-7", nil, size, time.Second)
		for _, k := range []msgKey{{0, 1}, {63, 2}, {64, 99999}, {1<<32 - 1, 1<<64 - 1}} {
			b := tr.body(k.stream, k.seq)
			if b[0] == '#' || !strings.HasPrefix(b, "cl1 run-7 ") {
				t.Fatalf("body %q: want it to start with cl1 and the run id", b)
			}
			head := len(fmt.Sprintf("cl1 run-7 %d %d 00000000", k.stream, k.seq))
			if want := max(size, head); len(b) != want {
				t.Errorf("size %d, key %v: body is %d bytes; want %d (the header when it does not fit)", size, k, len(b), want)
			}
			if got, st := tr.parse(b); st != bodyOK || got != k {
				t.Errorf("parse(%q) = %v, %v; want %v, ok", b, got, st, k)
			}
			if b != tr.body(k.stream, k.seq) {
				t.Errorf("body of %v differs between calls: copies must be identical", k)
			}
		}
	}
}

func TestBodyDetectsChanges(t *testing.T) {
	tr := newTracker("r1", nil, 64, time.Second)
	b := tr.body(5, 42)
	for i := range b {
		for _, c := range []byte{'0', 'a', 'z', ' ', '#'} {
			if c == b[i] {
				continue
			}
			mod := b[:i] + string(c) + b[i+1:]
			k, st := tr.parse(mod)
			// A change in "cl1 r1 " makes it someone else's text; anywhere else the
			// check catches it. Never is it taken for a valid message.
			if st == bodyOK {
				t.Fatalf("changed byte %d to %q: %q parsed as valid %v", i, c, mod, k)
			}
			if i >= len("cl1 r1 ") && st != bodyCorrupt {
				t.Errorf("changed byte %d to %q: status %v; want corrupted", i, c, st)
			}
		}
	}
	for _, s := range []string{b[:len(b)-1], b + "x", b[:20], "", "#cl1", "hello", strings.Replace(b, "r1", "r2", 1)} {
		if _, st := tr.parse(s); st == bodyOK {
			t.Errorf("parse(%q) is valid; want not", s)
		}
	}
	if _, st := tr.parse(strings.Replace(b, "r1", "r2", 1)); st != bodyStray {
		t.Errorf("another run's body: status %v; want stray", st)
	}
}

func TestCRCString(t *testing.T) {
	for _, s := range []string{"", "a", "cl1 run 1 2", strings.Repeat("xyz", 100)} {
		if got, want := crcUpdateString(0, s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crcUpdateString(%q) = %08x; want %08x", s, got, want)
		}
		if got, want := crcUpdateString(crcUpdateString(0, s), s), crc32.Update(crc32.ChecksumIEEE([]byte(s)), crc32.IEEETable, []byte(s)); got != want {
			t.Errorf("chained crcUpdateString(%q) = %08x; want %08x", s, got, want)
		}
	}
}

func TestRingKeepsOrder(t *testing.T) {
	var r ring[int]
	next, want := 0, 0
	for round := range 50 {
		for range round % 7 * 3 {
			*r.push() = next
			next++
		}
		for range round % 5 {
			if r.len() == 0 {
				break
			}
			if got := *r.front(); got != want {
				t.Fatalf("front = %d; want %d", got, want)
			}
			r.pop()
			want++
		}
		for i := range r.len() {
			if got := *r.at(i); got != want+i {
				t.Fatalf("at(%d) = %d; want %d", i, got, want+i)
			}
		}
	}
}

// TestTrackerBigRoom checks every outcome of a copy in a room wider than one bitset
// word, receiver by receiver.
func TestTrackerBigRoom(t *testing.T) {
	const n = 130
	us := testUsers(n + 1)
	members := make([]int32, n)
	for i := range members {
		members[i] = int32(i)
	}
	tr := newTracker("r", us, 64, time.Second)
	rs := newRoster(members)
	st := tr.addStream(5, "sip:room@conf.example.test", rs)  // user 5 posts and is a member
	out := tr.addStream(n, "sip:room@conf.example.test", rs) // user n posts without being a member
	tr.publish()
	t0 := time.Unix(1000, 0)
	m1, _, _ := tr.post(st, t0, false)
	m2, _, _ := tr.post(st, t0.Add(10*time.Millisecond), false)
	m3, _, _ := tr.post(out, t0, false)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	for u := range int32(n) {
		tr.deliver(u, Delivery{Body: m2.Body, At: at(20 * time.Millisecond)})
		if u%2 == 0 {
			tr.deliver(u, Delivery{Body: m1.Body, At: at(30 * time.Millisecond)}) // after m2: out of order
		}
		if u%10 == 0 {
			tr.deliver(u, Delivery{Body: m2.Body, At: at(40 * time.Millisecond)}) // again: duplicate
		}
		tr.deliver(u, Delivery{Body: m3.Body, At: at(50 * time.Millisecond)})
	}
	tr.deliver(n, Delivery{Body: m1.Body, At: at(time.Millisecond)})                  // not a member: stray
	tr.deliver(3, Delivery{Body: "cl1 other 0 1 00000000", At: at(time.Millisecond)}) // another run: stray
	tr.deliver(3, Delivery{Body: m1.Body[:len(m1.Body)-1] + "!", At: at(time.Millisecond)})

	c := tr.totals()
	// m1 and m2 expect n-1 receivers (not the sender 5), m3 all n.
	if c.pending != int64(n-1-65) || c.delivered != uint64(n-1+65+n) {
		t.Errorf("pending %d, delivered %d; want %d, %d", c.pending, c.delivered, n-1-65, n-1+65+n)
	}
	if c.outOfOrder != 65 || c.duplicated != 13 || c.corrupted != 1 {
		t.Errorf("out of order %d, duplicated %d, corrupted %d; want 65 (even users, the sender 5 is odd), 13, 1", c.outOfOrder, c.duplicated, c.corrupted)
	}
	// The sender's own copies of m1 (even? 5 is odd: no), m2 and (as a member) m2's
	// duplicate (5%10 != 0: no): one echo of m2, expected (not stray); the non-member
	// and the other run's are stray.
	if c.stray != 2 || c.echoes != 1 {
		t.Errorf("stray %d, echoes %d; want 2 (non-member, other run) and 1 (the sender's own m2)", c.stray, c.echoes)
	}

	// Nothing expires before the deadline; at it, the odd receivers of m1 are lost.
	tr.sweep(t0.Add(time.Second))
	if c := tr.totals(); c.lost != 0 {
		t.Fatalf("lost %d before the deadline", c.lost)
	}
	tr.sweep(t0.Add(time.Second + time.Millisecond))
	c = tr.totals()
	if c.lost != uint64(n-1-65) || c.pending != 0 {
		t.Errorf("lost %d, pending %d; want %d, 0", c.lost, c.pending, n-1-65)
	}
	// A copy after its deadline is late, not delivered.
	tr.deliver(1, Delivery{Body: m1.Body, At: at(2 * time.Second)})
	if c := tr.totals(); c.late != 1 || c.delivered != uint64(n-1+65+n) {
		t.Errorf("late %d, delivered %d; want 1 and unchanged", c.late, c.delivered)
	}
	rec := report.NewRecorder()
	tr.mergeInto(rec)
	if cnt, errs := rec.Count(report.OpDelivery); cnt != c.delivered+c.lost || errs != c.lost {
		t.Errorf("delivery op %d/%d; want %d/%d", cnt, errs, c.delivered+c.lost, c.lost)
	}
	for _, f := range rec.Failures() {
		if f.Class == report.Lost && (len(f.Examples) == 0 || !strings.Contains(f.Examples[0], "sip:u1@example.test")) {
			t.Errorf("lost examples %q; want the first missing receiver named", f.Examples)
		}
	}
}

func TestTrackerWithdrawAndFinish(t *testing.T) {
	us := testUsers(3)
	tr := newTracker("r", us, 64, time.Second)
	st := tr.addStream(0, "room", newRoster([]int32{1, 2}))
	tr.publish()
	t0 := time.Unix(1000, 0)
	m1, s1, w1 := tr.post(st, t0, true)
	tr.deliver(1, Delivery{Body: m1.Body, At: t0.Add(time.Millisecond)})
	tr.withdraw(st, s1) // the send failed after user 1 got it
	select {
	case <-w1.done:
		if !w1.lost {
			t.Errorf("withdrawn message's waiter says delivered")
		}
	default:
		t.Fatal("waiter not woken by withdraw")
	}
	tr.deliver(2, Delivery{Body: m1.Body, At: t0.Add(2 * time.Millisecond)}) // nobody expects it now
	_, _, _ = tr.post(st, t0.Add(10*time.Millisecond), false)
	_, _, _ = tr.post(st, t0.Add(900*time.Millisecond), false)
	// Interrupted at 1.05s: the second message's deadline (1.01s) has passed, the
	// third's (1.9s) has not.
	tr.finish(t0.Add(1050*time.Millisecond), true)
	c := tr.totals()
	if c.delivered != 1 || c.withdrawn != 1 || c.stray != 1 || c.lost != 2 || c.abandoned != 2 || c.pending != 0 {
		t.Errorf("counts %+v; want 1 delivered, 1 withdrawn, 1 stray, 2 lost, 2 abandoned", c)
	}
}

// BenchmarkTrackerPostDeliver is the hot path of a steady run: number and register a
// message, build its body, and account for its copy.
func BenchmarkTrackerPostDeliver(b *testing.B) {
	for _, receivers := range []int{1, 10} {
		b.Run(fmt.Sprintf("receivers=%d", receivers), func(b *testing.B) {
			members := make([]int32, receivers+1)
			for i := range members {
				members[i] = int32(i)
			}
			tr := newTracker("bench", testUsers(receivers+1), 64, time.Minute)
			rs := newRoster(members)
			var sts []*stream
			for range nShards * 4 {
				sts = append(sts, tr.addStream(0, "room", rs))
			}
			tr.publish()
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				st := sts[i%len(sts)]
				m, _, _ := tr.post(st, now, false)
				for u := 1; u <= receivers; u++ {
					tr.deliver(int32(u), Delivery{Body: m.Body, At: now})
				}
				if i%4096 == 0 {
					tr.sweep(now.Add(2 * time.Minute))
				}
			}
		})
	}
}

// BenchmarkDeliverParallel is deliveries from many driver goroutines at once.
func BenchmarkDeliverParallel(b *testing.B) {
	tr := newTracker("bench", testUsers(2), 64, time.Hour)
	rs := newRoster([]int32{0, 1})
	var sts []*stream
	for range nShards * 4 {
		sts = append(sts, tr.addStream(0, "room", rs))
	}
	tr.publish()
	now := time.Now()
	var bodies []string
	for i := range 1 << 16 {
		m, _, _ := tr.post(sts[i%len(sts)], now, false)
		bodies = append(bodies, m.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			// Mostly duplicates after the first pass: the same lock and lookups.
			tr.deliver(1, Delivery{Body: bodies[i%len(bodies)], At: now})
			i++
		}
	})
}
