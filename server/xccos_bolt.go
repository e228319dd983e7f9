package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatload/chatload/protocol/xccos"
)

// HistoryFile is the name of the durable history in PChatConfig.DataDir.
const HistoryFile = "history.db"

// boltHistory is the durable history: one bbolt bucket per room id, keys the
// bucket's sequence (big-endian, so in posting order), values a JSON record.
// append commits (fsync) before it returns; concurrent appends share commits
// through bolt's Batch. Safe for concurrent use.
type boltHistory struct {
	db *bolt.DB
}

// boltRecord is one stored message.
type boltRecord struct {
	Author string    `json:"a"`
	TS     time.Time `json:"t"`
	Text   string    `json:"x"`
	URI    string    `json:"u"`
}

func openBoltHistory(dir string) (historyStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, HistoryFile), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", filepath.Join(dir, HistoryFile), err)
	}
	// A Batch waits up to MaxBatchDelay to share its commit: keep the 200 fast.
	db.MaxBatchDelay = 2 * time.Millisecond
	return &boltHistory{db: db}, nil
}

func (h *boltHistory) append(room string, c xccos.Chat) error {
	v, err := json.Marshal(boltRecord{Author: c.Author, TS: c.TS, Text: c.Text, URI: c.ChanURI})
	if err != nil {
		return err
	}
	return h.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(room))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return b.Put(k[:], v)
	})
}

func (h *boltHistory) last(room string, n int) ([]xccos.Chat, error) {
	var out []xccos.Chat
	err := h.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(room))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var r boltRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("history record %x: %w", k, err)
			}
			out = append(out, xccos.Chat{ChanURI: r.URI, Author: r.Author, TS: r.TS, Text: r.Text})
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

func (h *boltHistory) close() error { return h.db.Close() }
