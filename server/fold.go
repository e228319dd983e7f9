package server

import (
	"bytes"
	"strconv"
)

// foldHold keeps a stream's folded header lines whole for sipgo's parser.
//
// A header may continue on the next line when that line starts with a space
// or a tab (RFC 3261 7.3.1: header folding; pidgin-sipe folds its long
// Authorization). sipgo v1.7.3's stream parser decides whether a header is
// folded from the bytes it holds: when a read ends just after a header's CRLF,
// it takes the header as complete, and the continuation, in the next read,
// fails to parse as a header of its own; the connection is then closed as
// unparsable. It happened on a loaded machine (the client's write split by the
// time the server read it). foldHold therefore holds back a CRLF that ends a
// read in the middle of a message's header section and hands it over at the
// start of the next read, when it is known what follows. It follows the
// stream's framing (header section, then Content-Length bytes of body) so
// that a message's last CRLF, or a body's, is never held: holding is only
// ever done while more of the same header section must still come. Not safe
// for concurrent use: one reader per connection.
type foldHold struct {
	held    bool  // a CRLF held back from the last read
	started bool  // a message's start line was seen: in its header section
	inBody  int64 // body bytes still to come
	contLen int64 // the Content-Length of the message being read
	lineLen int   // bytes of the current line so far (0: a line just ended)
	cur     []byte
}

// read reads from rd into b, as rd would, with a held CRLF first.
func (h *foldHold) read(rd func([]byte) (int, error), b []byte) (int, error) {
	off := 0
	if h.held { // held only for a reader's buffer of 8 bytes or more (below)
		b[0], b[1] = '\r', '\n'
		off, h.held = 2, false
	}
	n, err := rd(b[off:])
	if n > 0 {
		h.scan(b[off : off+n])
	}
	total := off + n
	if err == nil && len(b) >= 8 && h.started && h.inBody == 0 && h.lineLen == 0 && total >= 2 &&
		b[total-2] == '\r' && b[total-1] == '\n' {
		// A header line just ended and the section goes on: whether the
		// next line continues this one is not known yet.
		total -= 2
		h.held = true
	}
	return total, err
}

// scan follows the framing of the stream through p: a body is skipped by its
// length, a header section a line at a time (bytes.IndexByte, not a byte loop:
// this runs on every read of every connection).
func (h *foldHold) scan(p []byte) {
	for len(p) > 0 {
		if h.inBody > 0 {
			k := min(int64(len(p)), h.inBody)
			h.inBody -= k
			p = p[k:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		h.take(seg)
		if i < 0 {
			return
		}
		p = p[i+1:]
		h.endLine()
	}
}

// take adds seg to the current line: its length, and its first 64 bytes (all
// a Content-Length line needs).
func (h *foldHold) take(seg []byte) {
	h.lineLen += len(seg)
	if room := 64 - len(h.cur); room > 0 {
		h.cur = append(h.cur, seg[:min(room, len(seg))]...)
	}
}

// endLine ends the current line: a blank one ends a header section (a blank
// line outside one is a keep-alive), a header named Content-Length (or l)
// gives the body's length.
func (h *foldHold) endLine() {
	line := bytes.TrimSuffix(h.cur, []byte("\r")) // the CR of the line's CRLF
	h.cur, h.lineLen = h.cur[:0], 0
	if len(line) == 0 {
		if h.started {
			h.inBody, h.contLen, h.started = h.contLen, 0, false
		}
		return
	}
	if !h.started {
		h.started = true // the start line
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		return // a continuation
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return
	}
	name = bytes.TrimSpace(name)
	if bytes.EqualFold(name, []byte("content-length")) || bytes.EqualFold(name, []byte("l")) {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err == nil && n >= 0 {
			h.contLen = n
		}
	}
}
