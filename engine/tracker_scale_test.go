package engine

import (
	"runtime"
	"testing"
	"time"
)

// TestTrackerRoomOfPosters: a room of 4,000 members that all may post costs
// memory for the streams that post, not members² (every stream's per-member
// state is made by its first post); copies of those posts are still tracked and
// ordered.
func TestTrackerRoomOfPosters(t *testing.T) {
	const n = 4000
	us := testUsers(n)
	members := make([]int32, n)
	for i := range members {
		members[i] = int32(i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr := newTracker("r", us, 64, time.Second)
	rs := newRoster(members)
	sts := make([]*stream, n)
	for i := range sts {
		sts[i] = tr.addStream(int32(i), "sip:room@conf.example.test", rs)
	}
	tr.publish()
	runtime.GC()
	runtime.ReadMemStats(&after)
	// n² words would be 128 MB; n streams of their own size are well under 4 MB.
	if grew := after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc); grew > 8<<20 {
		t.Errorf("%d streams of a %d-member room: heap grew %d MiB; want under 8 (no per-member state before a post)", n, n, grew>>20)
	}
	t0 := time.Unix(1000, 0)
	m1, _, _ := tr.post(sts[7], t0, false)
	m2, _, _ := tr.post(sts[7], t0.Add(time.Millisecond), false)
	tr.deliver(1, Delivery{Body: m2.Body, At: t0.Add(5 * time.Millisecond)})
	tr.deliver(1, Delivery{Body: m1.Body, At: t0.Add(6 * time.Millisecond)}) // after m2
	c := tr.totals()
	if c.delivered != 2 || c.outOfOrder != 1 || c.pending != int64(2*(n-1)-2) {
		t.Errorf("delivered %d, out of order %d, pending %d; want 2, 1, %d", c.delivered, c.outOfOrder, c.pending, 2*(n-1)-2)
	}
	runtime.KeepAlive(sts)
}
