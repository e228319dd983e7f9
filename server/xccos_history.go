package server

import (
	"sync"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// historyStore keeps each room's messages. append returns once the message is
// stored (durably, for a store on disk): the INFO's 200 waits for it. Safe for
// concurrent use.
type historyStore interface {
	append(room string, c codec.Chat) error
	// last returns the room's last n messages, oldest first.
	last(room string, n int) ([]codec.Chat, error)
	close() error
}

// memHistory keeps the last keep messages of each room in memory.
type memHistory struct {
	keep  int
	mu    sync.Mutex
	rooms map[string][]codec.Chat
}

func newMemHistory(keep int) *memHistory {
	return &memHistory{keep: keep, rooms: map[string][]codec.Chat{}}
}

func (h *memHistory) append(room string, c codec.Chat) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := append(h.rooms[room], c)
	if len(l) > 2*h.keep { // trim in batches: amortized O(1)
		l = append([]codec.Chat(nil), l[len(l)-h.keep:]...)
	}
	h.rooms[room] = l
	return nil
}

func (h *memHistory) last(room string, n int) ([]codec.Chat, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.rooms[room]
	n = min(n, len(l), h.keep)
	return append([]codec.Chat(nil), l[len(l)-n:]...), nil
}

func (h *memHistory) close() error { return nil }
