package codec

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Marshal writes e in the canonical form of the note's samples (§3–§5): no XML
// declaration, no white space between elements, the root as
// <xccos ver="1" envid="E" xmlns="urn:parlano:xml:ns:xccos">, attributes in the
// samples' order, empty elements self-closed (<data/>), timestamps in UTC with "Z"
// and at most 7 fractional digits. Attribute values escape & < > " and tab, LF, CR;
// text escapes & < > and CR (so a CRLF in chat text survives). The output is
// deterministic. Values Parse returned come back from Parse(Marshal(v)) unchanged;
// other values come back as Parse normalizes them (identifiers and URIs trimmed,
// ids of info and prop lower-cased, times in UTC to 100 ns).
//
// It fails when e has no items, a cmd, rpl or ntc has no name or one that is not
// canonical (lower case, no surrounding space, "getserverinfo"), a string is not
// valid UTF-8 or holds a character XML forbids (NUL, most C0 controls, U+FFFE), or
// a time falls outside years 0000..9999. It is a pure function, safe for
// concurrent use.
func Marshal(e Envelope) ([]byte, error) {
	if len(e.Items) == 0 {
		return nil, errors.New("xccos: marshal: envelope without items")
	}
	w := writer{b: make([]byte, 0, 256)}
	w.open("xccos")
	w.attr("ver", "1")
	w.attr("envid", strconv.FormatUint(e.EnvID, 10))
	w.attr("xmlns", Namespace)
	w.close("xccos", func() {
		for i, it := range e.Items {
			switch v := it.(type) {
			case Command:
				w.command(v)
			case Reply:
				w.reply(v)
			case Notice:
				w.notice(v)
			case Chat:
				w.chat("grpchat", v)
			default:
				w.fail(fmt.Errorf("item %d is %T, want Command, Reply, Notice or Chat", i, it))
			}
		}
	})
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

// writer appends canonical XML to b; the first error sticks.
type writer struct {
	b   []byte
	cur string // the element being written, for errors
	err error
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = fmt.Errorf("xccos: marshal: %w", err)
	}
}

func (w *writer) open(name string) {
	w.cur = name
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
}

// close ends the start tag of name, writes fill's output and the end tag, or makes
// the start tag an empty-element tag when fill wrote nothing.
func (w *writer) close(name string, fill func()) {
	w.b = append(w.b, '>')
	mark := len(w.b)
	fill()
	if len(w.b) == mark {
		w.b = append(w.b[:mark-1], "/>"...)
		return
	}
	w.b = append(w.b, "</"...)
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// empty writes an element that has attributes only.
func (w *writer) empty(name string, attrs func()) {
	w.open(name)
	attrs()
	w.b = append(w.b, "/>"...)
}

func (w *writer) check(what, s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				w.fail(fmt.Errorf("<%s> %s: invalid UTF-8 at byte %d", w.cur, what, i))
				return false
			}
		}
		if !xmlChar(r) {
			w.fail(fmt.Errorf("<%s> %s: character %U at byte %d is not allowed in XML", w.cur, what, r, i))
			return false
		}
	}
	return true
}

// xmlChar reports whether XML 1.0 allows r (production Char).
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func (w *writer) attr(name, v string) {
	if !w.check(name, v) {
		return
	}
	w.b = append(w.b, ' ')
	w.b = append(w.b, name...)
	w.b = append(w.b, '=', '"')
	w.escape(v, true)
	w.b = append(w.b, '"')
}

// attrIf writes the attribute when v is not empty.
func (w *writer) attrIf(name, v string) {
	if v != "" {
		w.attr(name, v)
	}
}

func (w *writer) intIf(name string, v int) {
	if v != 0 {
		w.attr(name, strconv.Itoa(v))
	}
}

func (w *writer) timeIf(name string, t time.Time) {
	if t.IsZero() {
		return
	}
	s, err := formatTime(t)
	if err != nil {
		w.fail(fmt.Errorf("<%s> %s: %w", w.cur, name, err))
		return
	}
	w.attr(name, s)
}

func (w *writer) text(s string) {
	if !w.check("text", s) {
		return
	}
	w.escape(s, false)
}

// escape appends s with the XML specials escaped. Attribute values also escape
// '"' and the whitespace that attribute normalisation would fold (tab, LF); CR is
// always written as &#xD; so that CRLF in chat text survives parsing.
func (w *writer) escape(s string, attr bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '&':
			w.b = append(w.b, "&amp;"...)
		case c == '<':
			w.b = append(w.b, "&lt;"...)
		case c == '>':
			w.b = append(w.b, "&gt;"...)
		case c == '\r':
			w.b = append(w.b, "&#xD;"...)
		case attr && c == '"':
			w.b = append(w.b, "&quot;"...)
		case attr && c == '\t':
			w.b = append(w.b, "&#x9;"...)
		case attr && c == '\n':
			w.b = append(w.b, "&#xA;"...)
		default:
			w.b = append(w.b, c)
		}
	}
}

// textElem writes <name attrs>text</name>, or <name attrs/> for empty text.
func (w *writer) textElem(name string, attrs func(), text string) {
	w.open(name)
	if attrs != nil {
		attrs()
	}
	w.close(name, func() { w.text(text) })
}

// name writes the id of a cmd, rpl or ntc. A name Parse would not give back as it
// is (empty, padded, upper case, SIPE's getservinfo) is refused: we write canonical
// names only.
func (w *writer) name(kind, name string) {
	id := kind + ":" + name
	switch {
	case name == "":
		w.fail(fmt.Errorf("<%s> without a name", kind))
	case normName(id) != name:
		w.fail(fmt.Errorf("<%s> name %q is not canonical (%q): lower case, no surrounding space", kind, name, normName(id)))
	default:
		w.attr("id", id)
	}
}

func seqOr1(s string) string {
	if s == "" {
		return "1"
	}
	return s
}

func (w *writer) command(c Command) {
	w.open("cmd")
	w.name("cmd", c.Name)
	w.attr("seqid", seqOr1(c.SeqID))
	w.close("cmd", func() { w.data(c.Data) })
}

func (w *writer) reply(r Reply) {
	w.open("rpl")
	w.name("rpl", r.Name)
	w.attr("seqid", seqOr1(r.SeqID))
	w.close("rpl", func() {
		w.empty("commandid", func() {
			w.attr("seqid", seqOr1(r.CommandSeqID))
			w.attr("envid", strconv.FormatUint(r.CommandEnvID, 10))
		})
		w.resp(r.Code, r.Text)
		w.data(r.Data)
	})
}

func (w *writer) notice(n Notice) {
	w.open("ntc")
	w.name("ntc", n.Name)
	w.attrIf("seqid", n.SeqID)
	w.close("ntc", func() {
		if n.Code != 0 || n.Text != "" {
			w.resp(n.Code, n.Text)
		}
		w.data(n.Data)
	})
}

func (w *writer) resp(code int, text string) {
	w.textElem("resp", func() { w.attr("code", strconv.Itoa(code)) }, text)
}

// chat writes a grpchat, or with elem "msg" a history entry (no seqid).
func (w *writer) chat(elem string, c Chat) {
	w.open(elem)
	w.attr("id", "grpchat")
	if elem == "grpchat" {
		w.attr("seqid", seqOr1(c.SeqID))
	}
	w.attr("chanUri", c.ChanURI)
	w.attr("author", c.Author)
	w.timeIf("ts", c.TS)
	w.close(elem, func() { w.textElem("chat", nil, c.Text) })
}

func (w *writer) data(d Data) {
	w.open("data")
	w.close("data", func() {
		for _, u := range d.Users {
			w.user(u)
		}
		for _, s := range d.Servers {
			w.empty("sib", func() {
				w.attrIf("domain", s.Domain)
				w.attrIf("infoType", s.InfoType)
				w.timeIf("serverTime", s.ServerTime)
				w.intIf("searchLimit", s.SearchLimit)
				w.intIf("messageSizeLimit", s.MessageSizeLimit)
				w.intIf("storySizeLimit", s.StorySizeLimit)
				w.attrIf("rootUri", s.RootURI)
				w.attrIf("dbVersion", s.DBVersion)
			})
		}
		for _, q := range d.Queries {
			w.empty("qib", func() {
				w.attrIf("qtype", q.Type)
				w.attr("criteria", q.Criteria)
				w.attr("extended", strconv.FormatBool(q.Extended))
			})
		}
		for _, c := range d.ChanIDs {
			w.empty("chanid", func() {
				w.attr("key", strconv.Itoa(c.Key))
				w.attr("domain", c.Domain)
				w.attr("value", c.Value)
			})
		}
		for _, c := range d.Channels {
			w.channel(c)
		}
		for _, f := range d.Failures {
			w.empty("fib", func() {
				w.attr("key", f.Key)
				w.attr("value", f.Value)
				w.attr("domain", f.Domain)
			})
		}
		for _, h := range d.History {
			w.open("bcq")
			w.close("bcq", func() { w.empty("last", func() { w.attr("cnt", strconv.Itoa(h.Last)) }) })
		}
	})
}

func (w *writer) user(u User) {
	w.open("uib")
	w.attrIf("id", u.ID)
	w.attr("uri", u.URI)
	w.close("uib", func() {
		for _, r := range u.Roles {
			w.role(r)
		}
	})
}

func (w *writer) role(r Role) {
	w.empty("aib", func() {
		w.attr("key", r.Key)
		w.attrIf("domain", r.Domain)
		w.attr("value", r.Value)
	})
}

func (w *writer) channel(c Channel) {
	w.open("chanib")
	w.attrIf("name", c.Name)
	w.attrIf("description", c.Description)
	w.attrIf("uri", c.URI)
	w.attrIf("topic", c.Topic)
	w.close("chanib", func() {
		for _, p := range c.Info {
			w.textElem("info", func() { w.attr("id", p.ID) }, p.Value)
		}
		for _, p := range c.Props {
			w.textElem("prop", func() { w.attr("id", p.ID) }, p.Value)
		}
		for _, r := range c.Roles {
			w.role(r)
		}
		for _, u := range c.Users {
			w.user(u)
		}
		for _, m := range c.Messages {
			w.chat("msg", m)
		}
	})
}
