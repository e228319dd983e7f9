package server

// members is a room's membership in join order (oldest first; imc lists them
// newest first). Small rooms are a plain slice scanned on every lookup; from
// indexFrom members on, a map finds a member in O(1), and a leave marks its
// slot empty instead of moving the rest (the list is compacted when half of it
// is empty), so that the joins and leaves of a 16,000-member room cost O(1)
// each instead of a scan and a copy of the list: 16,000 leaves at the end of a
// run were 16,000 x 16,000 steps under the room's lock. Not safe for
// concurrent use: the room's mutex guards it.
type members struct {
	list []member       // join order; an empty key marks the slot of a member who left
	pos  map[string]int // key -> index in list; nil below indexFrom
	n    int            // members (list less the empty slots)
}

// indexFrom is the size from which members keeps its map.
const indexFrom = 64

// Len returns the number of members.
func (ms *members) Len() int { return ms.n }

// find returns the index in list of the member keyed k, or -1.
func (ms *members) find(k string) int {
	if ms.pos != nil {
		if i, ok := ms.pos[k]; ok {
			return i
		}
		return -1
	}
	for i := range ms.list {
		if ms.list[i].key == k {
			return i
		}
	}
	return -1
}

// Has reports whether the member keyed k is in the room.
func (ms *members) Has(k string) bool { return ms.find(k) >= 0 }

// Add appends m as the newest member; false when it is a member already.
func (ms *members) Add(m member) bool {
	if ms.find(m.key) >= 0 {
		return false
	}
	ms.list = append(ms.list, m)
	ms.n++
	if ms.pos != nil {
		ms.pos[m.key] = len(ms.list) - 1
	} else if ms.n >= indexFrom {
		ms.reindex()
	}
	return true
}

// Remove takes the member keyed k out; false when it is not a member.
func (ms *members) Remove(k string) bool {
	i := ms.find(k)
	if i < 0 {
		return false
	}
	ms.n--
	if ms.pos == nil {
		ms.list = append(ms.list[:i:i], ms.list[i+1:]...)
		return true
	}
	delete(ms.pos, k)
	ms.list[i] = member{}
	if empty := len(ms.list) - ms.n; empty > len(ms.list)/2 {
		ms.compact()
	}
	return true
}

// compact drops the empty slots, keeping the order, and rebuilds the map (or
// drops it when the room became small).
func (ms *members) compact() {
	live := ms.list[:0]
	for _, m := range ms.list {
		if m.key != "" {
			live = append(live, m)
		}
	}
	clear(ms.list[len(live):]) // no stale strings kept alive
	ms.list = live
	ms.pos = nil
	if ms.n >= indexFrom {
		ms.reindex()
	}
}

func (ms *members) reindex() {
	ms.pos = make(map[string]int, len(ms.list))
	for i, m := range ms.list {
		if m.key != "" {
			ms.pos[m.key] = i
		}
	}
}

// NewestFirst returns a copy of the members newest first (imc's order),
// without the one keyed skip ("": none).
func (ms *members) NewestFirst(skip string) []member {
	out := make([]member, 0, ms.n)
	for i := len(ms.list) - 1; i >= 0; i-- {
		if m := ms.list[i]; m.key != "" && m.key != skip {
			out = append(out, m)
		}
	}
	return out
}
