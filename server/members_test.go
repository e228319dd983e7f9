package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMembersAgainstList: random joins and leaves, in rooms that grow past the
// size where members keeps a map and shrink back, give the same answers as a
// plain ordered list: membership, count, and the newest-first order.
func TestMembersAgainstList(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ms members
	var ref []member // join order
	key := func(i int) member { return newMember(fmt.Sprintf("user%04d", i), "Example.test") }
	refIndex := func(k string) int {
		return slices.IndexFunc(ref, func(m member) bool { return m.key == k })
	}
	for step := range 20000 {
		// Grow towards 300 members for the first half, then shrink to a few.
		join := rng.IntN(100) < 60
		if step >= 10000 {
			join = rng.IntN(100) < 35
		}
		m := key(rng.IntN(400))
		if join {
			added := ms.Add(m)
			if want := refIndex(m.key) < 0; added != want {
				t.Fatalf("step %d: Add(%s) = %t; want %t", step, m.key, added, want)
			}
			if added {
				ref = append(ref, m)
			}
		} else {
			removed := ms.Remove(m.key)
			i := refIndex(m.key)
			if removed != (i >= 0) {
				t.Fatalf("step %d: Remove(%s) = %t; want %t", step, m.key, removed, i >= 0)
			}
			if i >= 0 {
				ref = slices.Delete(ref, i, i+1)
			}
		}
		if ms.Len() != len(ref) {
			t.Fatalf("step %d: Len %d; want %d", step, ms.Len(), len(ref))
		}
		if probe := key(rng.IntN(400)); ms.Has(probe.key) != (refIndex(probe.key) >= 0) {
			t.Fatalf("step %d: Has(%s) = %t", step, probe.key, ms.Has(probe.key))
		}
		if step%97 == 0 {
			want := slices.Clone(ref)
			slices.Reverse(want)
			if got := ms.NewestFirst(""); !slices.Equal(got, want) {
				t.Fatalf("step %d: NewestFirst differs from the list (%d vs %d members)", step, len(got), len(want))
			}
			if len(ref) > 0 {
				skip := ref[rng.IntN(len(ref))].key
				got := ms.NewestFirst(skip)
				if len(got) != len(ref)-1 || slices.ContainsFunc(got, func(m member) bool { return m.key == skip }) {
					t.Fatalf("step %d: NewestFirst(%s) has %d members or the skipped one", step, skip, len(got))
				}
			}
		}
	}
	if ms.pos != nil && ms.Len() < indexFrom {
		t.Errorf("%d members: the map is kept below %d", ms.Len(), indexFrom)
	}
}

// BenchmarkMembersLeaveAll: every member of a 16,000-member room leaves, as
// at the end of a run (was a scan and a copy of the list per leave).
func BenchmarkMembersLeaveAll(b *testing.B) {
	const n = 16000
	all := make([]member, n)
	for i := range all {
		all[i] = newMember(fmt.Sprintf("user%05d", i), "example.test")
	}
	for b.Loop() {
		var ms members
		for _, m := range all {
			ms.Add(m)
		}
		for _, m := range all {
			ms.Remove(m.key)
		}
	}
}
