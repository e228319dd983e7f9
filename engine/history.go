package engine

import "context"

// HistoryFetcher is an optional Session capability: the last n messages of a
// room as the server stored them (Persistent Chat's backchat), oldest first.
// Delivery.At is the server's timestamp of each message. Safe for concurrent use.
type HistoryFetcher interface {
	History(ctx context.Context, room string, n int) ([]Delivery, error)
}
