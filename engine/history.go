package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
)

// HistoryFetcher is an optional Session capability: the last n messages of a
// room as the server stored them (Persistent Chat's backchat), oldest first.
// Delivery.At is the server's timestamp of each message. Safe for concurrent use.
type HistoryFetcher interface {
	History(ctx context.Context, room string, n int) ([]Delivery, error)
}

// historyRoom is a room of the history scenario: its seeder's stream and the
// sequence numbers seeded there, in posting order. Set during setup, read-only after.
type historyRoom struct {
	uri    string
	seeder int32
	st     *stream
	seqs   []uint64
	ok     bool // every seed post was accepted: the room is fetched
}

// historySlot is one member of a history room, fetching that room's history.
type historySlot struct {
	hf   HistoryFetcher
	room *historyRoom
}

// maxListed bounds the sequence numbers a history failure lists.
const maxListed = 10

// seedHistory posts History messages into each history room from its seeder, one
// after the other (each awaited: the room's order is the posting order), rooms in
// parallel up to LogonParallel. Each post is a send op and its copies are expected by
// the room's other members like any post. A room with a failed post is left out of
// the fetches (its history is not known for sure). The streams must be published.
func (r *runner) seedHistory(ctx context.Context) {
	sem := make(chan struct{}, max(1, r.c.LogonParallel))
	var wg sync.WaitGroup
	for _, h := range r.histRooms {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			l := r.lane(int64(h.seeder))
			s := r.sess[h.seeder]
			h.ok = true
			for range r.c.History {
				if ctx.Err() != nil { // interrupted: the run ends after setup
					h.ok = false
					return
				}
				msg, seq, _ := r.tr.post(h.st, time.Now(), false)
				err := r.timed(ctx, l, report.OpSend, "send", func(ctx context.Context) error { return s.Send(ctx, h.uri, msg) })
				r.settle(h.st, seq, err)
				if err != nil {
					h.ok = false
					return
				}
				h.seqs = append(h.seqs, seq)
			}
		})
	}
	wg.Wait()
}

// opHistory is the unit of the history scenario: the next member (round-robin over
// the rooms' members) fetches the last History messages of its room and checks they
// are exactly the seeded ones, in order, each body intact. Latency runs from the
// intended start to the answer, service from the actual request. A wrong or corrupted
// entry fails the op as Corrupted, a missing one as Lost.
func (r *runner) opHistory(ctx context.Context, l *lane, j job) {
	hs := &r.histSlots[uint64(j.i)%uint64(len(r.histSlots))]
	octx, cancel := context.WithTimeout(ctx, r.c.Timeout)
	t0 := time.Now()
	got, err := hs.hf.History(octx, hs.room.uri, r.c.History)
	done := time.Now()
	cancel()
	err = classify(err, "history")
	if err == nil {
		err = r.checkHistory(hs.room, got)
	}
	r.record(l, report.OpHistory, done.Sub(j.intended), done.Sub(t0), err)
}

// checkHistory compares a fetched history with the messages seeded in h: it must be
// exactly them, in order, each body intact. Entries that are not this run's bodies
// (another run's, someone else's text) are not ours: they only show as our
// messages missing.
func (r *runner) checkHistory(h *historyRoom, got []Delivery) error {
	want := h.seqs
	index := make(map[uint64]int, len(want))
	for i, s := range want {
		index[s] = i
	}
	var (
		seen             = make([]bool, len(want))
		order            []uint64 // our seqs, as fetched
		corrupt, foreign int
		wrong, dup       int
		firstBad         string
	)
	for i, d := range got {
		k, st := r.tr.parse(d.Body)
		bad := ""
		switch {
		case st == bodyStray:
			foreign++
			continue
		case st == bodyCorrupt:
			corrupt++
			bad = fmt.Sprintf("entry %d fails its checksum: %s", i+1, clip(d.Body, 96))
		case k.stream != h.st.id:
			wrong++
			bad = fmt.Sprintf("entry %d is message %s, posted elsewhere", i+1, r.tr.messageID(k.stream, k.seq))
		default:
			p, ok := index[k.seq]
			switch {
			case !ok:
				wrong++
				bad = fmt.Sprintf("entry %d is seq %d, not among the last %d posted", i+1, k.seq, len(want))
			case seen[p]:
				dup++
				bad = fmt.Sprintf("entry %d repeats seq %d", i+1, k.seq)
			default:
				seen[p] = true
				order = append(order, k.seq)
				continue
			}
		}
		if firstBad == "" {
			firstBad = bad
		}
	}
	var missing []string
	nMissing := 0
	for p, ok := range seen {
		if !ok {
			nMissing++
			if len(missing) < maxListed {
				missing = append(missing, fmt.Sprint(want[p]))
			}
		}
	}
	if nMissing > maxListed {
		missing = append(missing, "...")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "history of %s: got %d of the last %d posted", h.uri, len(want)-nMissing, len(want))
	if nMissing > 0 {
		fmt.Fprintf(&b, "; missing seq %s", strings.Join(missing, ", "))
	}
	if foreign > 0 {
		fmt.Fprintf(&b, "; %d entries not from this run", foreign)
	}
	if corrupt+wrong+dup > 0 {
		fmt.Fprintf(&b, "; %s", firstBad)
		return report.Errorf(report.Corrupted, "history", 0, "%s", b.String())
	}
	if nMissing > 0 {
		return report.Errorf(report.Lost, "history", 0, "%s", b.String())
	}
	for i, s := range order {
		if s != want[i] {
			fmt.Fprintf(&b, "; out of order: entry %d is seq %d, want seq %d", i+1, s, want[i])
			return report.Errorf(report.Corrupted, "history", 0, "%s", b.String())
		}
	}
	if len(got) > len(want) {
		fmt.Fprintf(&b, "; %d entries returned for the last %d", len(got), len(want))
		return report.Errorf(report.Corrupted, "history", 0, "%s", b.String())
	}
	return nil
}
