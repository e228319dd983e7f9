package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// seedHistory writes a history database with enough messages for branch pages.
func seedHistory(t *testing.T, dir string) string {
	t.Helper()
	h, err := openBoltHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	// One transaction (appends commit one by one, each with an fsync).
	db := h.(*boltHistory).db
	err = db.Update(func(tx *bolt.Tx) error {
		for i := range 3000 {
			v, _ := json.Marshal(boltRecord{Author: "sip:user0001@example.test", TS: time.Unix(int64(i), 0).UTC(),
				Text: fmt.Sprintf("message %d %s", i, strings.Repeat("x", 60)), URI: "ma-chan://example.test/x"})
			b, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "room%d", i%5))
			if err != nil {
				return err
			}
			seq, _ := b.NextSequence()
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], seq)
			if err := b.Put(k[:], v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := h.last("room1", 3); err != nil || len(msgs) != 3 {
		t.Fatalf("seeded history: %v %v", msgs, err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, HistoryFile)
}

// TestHistoryDamagedRefused: a damaged, truncated or empty history.db is refused
// at open with a message naming the file and the problem, never a crash
// (before: SIGSEGV on a truncated file, "invalid freelist page" panics, a
// panic on every bccontext, a 0-byte file silently started empty).
func TestHistoryDamagedRefused(t *testing.T) {
	pageSize := func(b []byte) int { return int(binary.LittleEndian.Uint32(b[16+8:])) }
	cases := []struct {
		name, want string
		damage     func(t *testing.T, path string)
	}{
		{"empty", "empty (0 bytes)", func(t *testing.T, p string) { must(t, os.Truncate(p, 0)) }},
		{"truncated 8KiB", "truncated", func(t *testing.T, p string) { must(t, os.Truncate(p, 8192)) }},
		{"truncated half", "truncated", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			must(t, os.Truncate(p, fi.Size()/2))
		}},
		{"zeroed meta pages", "no valid meta page", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			ps := pageSize(b)
			clear(b[:2*ps])
			must(t, os.WriteFile(p, b, 0o600))
		}},
		{"zeroed middle pages", "damaged", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			ps := pageSize(b)
			n := len(b) / ps
			clear(b[(n/3)*ps : (2*n/3)*ps])
			must(t, os.WriteFile(p, b, 0o600))
		}},
		{"flipped branch page", "damaged", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			ps := pageSize(b)
			flipped := 0
			for off := 2 * ps; off+ps <= len(b); off += ps {
				if binary.LittleEndian.Uint16(b[off+8:]) == 0x01 { // branch page
					for i := off + 16; i < off+ps; i++ {
						b[i] ^= 0xff
					}
					flipped++
				}
			}
			if flipped == 0 {
				t.Fatal("no branch page to damage")
			}
			must(t, os.WriteFile(p, b, 0o600))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := seedHistory(t, dir)
			c.damage(t, path)
			h, err := openBoltHistory(dir)
			if err == nil {
				h.close()
				t.Fatal("a damaged history was opened")
			}
			if !errors.Is(err, ErrHistoryUnusable) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want ErrHistoryUnusable naming %s and %q", err, path, c.want)
			}
		})
	}
}

// TestHistoryInUse: a second server on the same --data is told plainly.
func TestHistoryInUse(t *testing.T) {
	dir := t.TempDir()
	h, err := openBoltHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	_, err = openBoltHistory(dir)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v, want \"in use by another process\"", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHistoryDamagedWhileServing: pages damaged after the start-up check make
// a read fail with an error (the client gets ERR_DATABASE_CONNECTION), not a
// panic that leaves the client without an answer.
func TestHistoryDamagedWhileServing(t *testing.T) {
	dir := t.TempDir()
	path := seedHistory(t, dir)
	h, err := openBoltHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(b[16+8:]))
	for off := 2 * ps; off+ps <= len(b); off += ps { // the mapping sees the file: damage it in place
		if flags := binary.LittleEndian.Uint16(b[off+8:]); flags == 0x01 || flags == 0x02 {
			junk := bytes.Repeat([]byte{0xff}, ps-16)
			if _, err := f.WriteAt(junk, int64(off+16)); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.Close()
	for i := range 5 {
		msgs, err := h.last(fmt.Sprint("room", i), 1000)
		if err == nil && len(msgs) > 0 {
			continue // a page the read did not need
		}
		if err == nil {
			t.Errorf("room%d: no messages and no error from a damaged database", i)
		}
	}
}
