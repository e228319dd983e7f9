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
	lineLen int   // bytes of the current line (CR not counted)
	cur     []byte
}

// read reads from rd into b, as rd would, with a held CRLF first.
func (h *foldHold) read(rd func([]byte) (int, error), b []byte) (int, error) {
	if len(b) < 8 {
		return rd(b) // a reader that small gets the stream as it comes
	}
	off := 0
	if h.held {
		b[0], b[1] = '\r', '\n'
		off, h.held = 2, false
	}
	n, err := rd(b[off:])
	if n > 0 {
		h.scan(b[off : off+n])
	}
	total := off + n
	if err == nil && h.started && h.inBody == 0 && h.lineLen == 0 && total >= 2 &&
		b[total-2] == '\r' && b[total-1] == '\n' {
		// A header line just ended and the section goes on: whether the
		// next line continues this one is not known yet.
		total -= 2
		h.held = true
	}
	return total, err
}

// scan follows the framing of the stream through p.
func (h *foldHold) scan(p []byte) {
	for len(p) > 0 {
		if h.inBody > 0 {
			k := int64(len(p))
			if k > h.inBody {
				k = h.inBody
			}
			h.inBody -= k
			p = p[k:]
			continue
		}
		c := p[0]
		p = p[1:]
		switch c {
		case '\r':
		case '\n':
			h.endLine()
		default:
			h.lineLen++
			if len(h.cur) < 64 {
				h.cur = append(h.cur, c)
			}
		}
	}
}

// endLine ends the current line: a blank one ends a header section (a blank
// line outside one is a keep-alive), a header named Content-Length (or l)
// gives the body's length.
func (h *foldHold) endLine() {
	line := h.cur
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
