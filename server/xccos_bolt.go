package server

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatload/chatload/protocol/xccos/codec"
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

// ErrHistoryUnusable is wrapped by the errors of a --data history database that
// cannot be served: damaged, empty, or in use by another process.
var ErrHistoryUnusable = errors.New("history database unusable")

func openBoltHistory(dir string) (historyStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	path := filepath.Join(dir, HistoryFile)
	unusable := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrHistoryUnusable, path, fmt.Sprintf(format, args...))
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.Size() == 0 {
			return nil, unusable("the file is empty (0 bytes), not a database (was it truncated?); " +
				"restore it from a backup, or remove it to start an empty history")
		}
		if err := precheckBolt(path, fi.Size()); err != nil {
			return nil, unusable("damaged: %v; restore it from a backup, or move it away to start an empty history", err)
		}
	}
	db, err := openBoltGuarded(path)
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, unusable("in use by another process (another chatload serve with the same --data %s?)", dir)
	}
	if err != nil {
		return nil, unusable("damaged: %v; restore it from a backup, or move it away to start an empty history", err)
	}
	if err := checkBolt(db); err != nil {
		_ = db.Close()
		return nil, unusable("damaged (consistency check): %v; restore it from a backup, or move it away to start an empty history", err)
	}
	// A Batch waits up to MaxBatchDelay to share its commit: keep the 200 fast.
	db.MaxBatchDelay = 2 * time.Millisecond
	return &boltHistory{db: db}, nil
}

// openBoltGuarded opens the database, turning a panic of bbolt on a damaged
// file (an invalid freelist page, ...) and a memory fault of its mapping into
// an error: a damaged file must never crash the server.
func openBoltGuarded(path string) (db *bolt.DB, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		debug.SetPanicOnFault(true)
		defer func() {
			if r := recover(); r != nil {
				db, err = nil, fmt.Errorf("%v", r)
			}
		}()
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	}()
	<-done
	return db, err
}

// checkBolt runs bbolt's consistency check (every page reachable or free,
// none twice, keys in order) and returns its first errors.
func checkBolt(db *bolt.DB) error {
	var errs []error
	n := 0
	err := db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			n++
			if len(errs) < 3 {
				errs = append(errs, e)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n > len(errs) {
		errs = append(errs, fmt.Errorf("and %d more problems", n-len(errs)))
	}
	return errors.Join(errs...)
}

// precheckBolt reads the two meta pages of a bbolt file and checks the newest
// valid one against the file's size: bbolt maps the file and reads pages up to
// the meta's high-water mark, so a truncated file would fault (SIGBUS/SIGSEGV)
// rather than fail. Layout (bbolt's): a page header of 16 bytes, then the meta:
// magic, version, page size, flags (4 bytes each), root bucket (16), freelist,
// high-water mark, txid (8 each), FNV-64a checksum of what precedes it (8).
func precheckBolt(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const hdr, metaLen = 16, 64
	meta := func(off int64) (pageSize uint32, pgid, txid uint64, ok bool) {
		var b [hdr + metaLen]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			return 0, 0, 0, false
		}
		m := b[hdr:]
		if binary.LittleEndian.Uint32(m[0:]) != 0xED0CDAED || binary.LittleEndian.Uint32(m[4:]) != 2 {
			return 0, 0, 0, false
		}
		h := fnv.New64a()
		h.Write(m[:56])
		if h.Sum64() != binary.LittleEndian.Uint64(m[56:]) {
			return 0, 0, 0, false
		}
		return binary.LittleEndian.Uint32(m[8:]), binary.LittleEndian.Uint64(m[40:]), binary.LittleEndian.Uint64(m[48:]), true
	}
	best := struct {
		ps         uint32
		pgid, txid uint64
		ok         bool
	}{}
	ps0, pg0, tx0, ok0 := meta(0)
	if ok0 {
		best.ps, best.pgid, best.txid, best.ok = ps0, pg0, tx0, true
	}
	sizes := []uint32{4096, 8192, 16384, 32768, 65536}
	if ok0 {
		sizes = []uint32{ps0}
	}
	for _, ps := range sizes {
		if ps1, pg1, tx1, ok1 := meta(int64(ps)); ok1 && ps1 == ps {
			if !best.ok || tx1 > best.txid {
				best.ps, best.pgid, best.txid, best.ok = ps1, pg1, tx1, true
			}
			break
		}
	}
	if !best.ok {
		return errors.New("no valid meta page (not a bbolt database, or its first pages are overwritten)")
	}
	if best.ps < 512 || best.ps > 1<<20 {
		return fmt.Errorf("page size %d is out of range", best.ps)
	}
	if need := int64(best.pgid) * int64(best.ps); need > size {
		return fmt.Errorf("the file is %d bytes but its pages reach %d bytes (truncated)", size, need)
	}
	return nil
}

func (h *boltHistory) append(room string, c codec.Chat) error {
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

func (h *boltHistory) last(room string, n int) (out []codec.Chat, err error) {
	defer func() {
		// A page damaged after the start-up check panics in bbolt: the client
		// still gets an answer (ERR_DATABASE_CONNECTION), the server lives on.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: %v", ErrHistoryUnusable, r)
		}
	}()
	err = h.db.View(func(tx *bolt.Tx) error {
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
			out = append(out, codec.Chat{ChanURI: r.URI, Author: r.Author, TS: r.TS, Text: r.Text})
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

func (h *boltHistory) close() error { return h.db.Close() }
