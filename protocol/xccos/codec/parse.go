package codec

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Parse reads the body of an INFO: one <xccos> document. It returns every cmd, rpl,
// ntc and grpchat child in document order. It is a pure function, safe for
// concurrent use.
//
// It is tolerant where real traffic varies (note §4–§6):
//   - a UTF-8 byte order mark, an XML declaration, comments and white space around
//     and between elements are ignored;
//   - the root may lack its namespace; extra namespace declarations (the server's
//     xsd/xsi), attributes and elements in other namespaces, and unknown elements
//     and attributes are ignored;
//   - id values are matched case-insensitively, as SIPE does [C]; so are element and
//     attribute names (ours [R]: the vocabulary has no names that differ only in
//     case); rpl:getservinfo is read as rpl:getserverinfo;
//   - a rpl without resp, or a resp without code, has code 500, as SIPE assumes [C];
//   - envid is a uint64 over its full range;
//   - timestamps have 0 to 9 fractional digits (the server sends 7) and a "Z", an
//     offset or no zone at all, which means UTC; they are returned in UTC, truncated
//     to 100 ns;
//   - identifiers, URIs, numbers and resp text are trimmed; names, topics, search
//     criteria and chat text are kept verbatim.
//
// It fails, with the line and element at fault, on malformed XML, a DOCTYPE, a root
// other than <xccos> in its namespace, ver other than "1", a missing or malformed
// envid, no cmd/rpl/ntc/grpchat child, content after the root, a cmd, rpl or ntc
// without id, and a number, boolean or timestamp that does not parse.
func Parse(body []byte) (Envelope, error) {
	body = bytes.TrimPrefix(body, []byte("\uFEFF"))
	root, err := readRoot(xml.NewDecoder(bytes.NewReader(body)))
	if err != nil {
		return Envelope{}, err
	}
	return envelope(root)
}

// maxDepth bounds the tree kept: xccos(0) > rpl(1) > data(2) > chanib(3) > msg(4) >
// chat(5) is the deepest path the note shows. Deeper elements are skipped, so the
// recursion in build is bounded whatever the input.
const maxDepth = 5

// A node is a known element in the xccos (or no) namespace, with its no-namespace
// attributes and its own character data; its name is lower case.
type node struct {
	name  string
	line  int
	attrs []xml.Attr
	text  []byte
	kids  []*node
}

func readRoot(d *xml.Decoder) (*node, error) {
	var root *node
	for {
		line, _ := d.InputPos() // where the next token starts
		tok, err := d.Token()
		if err == io.EOF {
			if root == nil {
				return nil, errors.New("xccos: no <xccos> element")
			}
			return root, nil
		}
		if err != nil {
			return nil, fmt.Errorf("xccos: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil {
				return nil, fmt.Errorf("xccos: line %d: <%s> after </xccos>: one document per body", line, t.Name.Local)
			}
			if !foldEqual(t.Name.Local, "xccos") {
				return nil, fmt.Errorf("xccos: line %d: root element <%s>, want <xccos>", line, t.Name.Local)
			}
			if t.Name.Space != Namespace && t.Name.Space != "" {
				return nil, fmt.Errorf("xccos: line %d: <xccos> in namespace %q, want %q", line, t.Name.Space, Namespace)
			}
			if root, err = build(d, t, line, 0); err != nil {
				return nil, err
			}
		case xml.CharData:
			if trimmed := bytes.TrimLeft(t, " \t\r\n"); len(bytes.TrimSpace(trimmed)) != 0 {
				where := "before <xccos>"
				if root != nil {
					where = "after </xccos>"
				}
				line += bytes.Count(t[:len(t)-len(trimmed)], []byte("\n"))
				return nil, fmt.Errorf("xccos: line %d: text %s", line, where)
			}
		case xml.Directive:
			return nil, fmt.Errorf("xccos: line %d: <!%s> not allowed: no DTD in XCCOS", line, firstWord(t))
		}
		// Comments and processing instructions (an XML declaration) are ignored.
	}
}

func firstWord(b []byte) string {
	s, _, _ := strings.Cut(string(b), " ")
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// build reads the element start, which began on line, up to its end.
func build(d *xml.Decoder, start xml.StartElement, line, depth int) (*node, error) {
	n := &node{name: lowerASCII(start.Name.Local), line: line}
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local != "xmlns" {
			n.attrs = append(n.attrs, a)
		}
	}
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("xccos: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := lowerASCII(t.Name.Local)
			if depth >= maxDepth || (t.Name.Space != Namespace && t.Name.Space != "") || !known(name) {
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("xccos: %w", err)
				}
				continue
			}
			k, err := build(d, t, line, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		case xml.EndElement:
			return n, nil
		case xml.CharData:
			n.text = append(n.text, t...)
		case xml.Directive:
			return nil, fmt.Errorf("xccos: line %d: <!%s> not allowed: no DTD in XCCOS", line, firstWord(t))
		}
	}
}

// known reports whether the codec reads elements named name (lower case).
func known(name string) bool {
	switch name {
	case "cmd", "rpl", "ntc", "grpchat", "data", "commandid", "resp", "uib", "aib", "sib",
		"qib", "chanid", "chanib", "info", "prop", "fib", "bcq", "last", "msg", "chat":
		return true
	}
	return false
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// attr returns the first attribute named name, ignoring ASCII case.
func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if foldEqual(a.Name.Local, name) {
			return a.Value, true
		}
	}
	return "", false
}

// foldEqual is strings.EqualFold for ASCII only: the Unicode folds (K to the Kelvin
// sign) have no place in XCCOS names.
func foldEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// trimmed returns the attribute without surrounding white space, "" when missing.
func (n *node) trimmed(name string) string {
	v, _ := n.attr(name)
	return strings.TrimSpace(v)
}

func (n *node) kid(name string) *node {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (n *node) errorf(format string, args ...any) error {
	return fmt.Errorf("xccos: line %d: <%s>: %s", n.line, n.name, fmt.Sprintf(format, args...))
}

func (n *node) uintAttr(name string) (uint64, bool, error) {
	v, ok := n.attr(name)
	if !ok {
		return 0, false, nil
	}
	u, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, true, n.errorf("%s %q is not a uint64", name, v)
	}
	return u, true, nil
}

// intAttr returns the attribute as an int, 0 when missing or empty.
func (n *node) intAttr(name string) (int, error) {
	v := n.trimmed(name)
	if v == "" {
		return 0, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return 0, n.errorf("%s %q is not an integer", name, v)
	}
	return i, nil
}

// timeAttr returns the attribute as a time, zero when missing or empty.
func (n *node) timeAttr(name string) (time.Time, error) {
	v := n.trimmed(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, n.errorf("%s %q is not a timestamp (want 2006-01-02T15:04:05[.fffffff][Z]): %v", name, v, err)
	}
	return t, nil
}

func (n *node) boolAttr(name string) (bool, error) {
	switch v := lowerASCII(n.trimmed(name)); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	v, _ := n.attr(name)
	return false, n.errorf("%s %q is not true or false", name, v)
}

// seqID returns seqid, or def when it is missing or empty.
func (n *node) seqID(def string) string {
	if v := n.trimmed("seqid"); v != "" {
		return v
	}
	return def
}

// itemName returns the normalized id of a cmd, rpl or ntc: lower case, without the
// "cmd:" (or any) prefix, SIPE's "getservinfo" read as "getserverinfo".
func (n *node) itemName() (string, error) {
	v, _ := n.attr("id")
	s := normName(v)
	if s == "" {
		return "", n.errorf("id %q names no %s", v, n.name)
	}
	return s, nil
}

// normName maps an id attribute to a Name: trimmed, lower case, without the prefix
// up to the first colon, SIPE's "getservinfo" read as "getserverinfo".
func normName(id string) string {
	s := lowerASCII(strings.TrimSpace(id))
	if _, after, ok := strings.Cut(s, ":"); ok {
		s = strings.TrimSpace(after)
	}
	if s == "getservinfo" {
		s = NameGetServerInfo
	}
	return s
}

func envelope(root *node) (Envelope, error) {
	if v, ok := root.attr("ver"); ok && strings.TrimSpace(v) != "1" {
		return Envelope{}, root.errorf("ver %q, want \"1\"", v)
	}
	envID, ok, err := root.uintAttr("envid")
	if err != nil {
		return Envelope{}, err
	}
	if !ok {
		return Envelope{}, root.errorf("no envid")
	}
	env := Envelope{EnvID: envID}
	for _, k := range root.kids {
		var it Item
		var err error
		switch k.name {
		case "cmd":
			it, err = command(k)
		case "rpl":
			it, err = reply(k)
		case "ntc":
			it, err = notice(k)
		case "grpchat":
			it, err = chat(k, "1")
		default:
			continue
		}
		if err != nil {
			return Envelope{}, err
		}
		env.Items = append(env.Items, it)
	}
	if len(env.Items) == 0 {
		return Envelope{}, root.errorf("no cmd, rpl, ntc or grpchat inside")
	}
	return env, nil
}

func command(n *node) (Command, error) {
	name, err := n.itemName()
	if err != nil {
		return Command{}, err
	}
	d, err := data(n.kid("data"))
	return Command{Name: name, SeqID: n.seqID("1"), Data: d}, err
}

func reply(n *node) (Reply, error) {
	name, err := n.itemName()
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Name: name, SeqID: n.seqID("1"), CommandSeqID: "1", Code: CodeDatabaseConnection}
	if c := n.kid("commandid"); c != nil {
		if r.CommandEnvID, _, err = c.uintAttr("envid"); err != nil {
			return Reply{}, err
		}
		r.CommandSeqID = c.seqID("1")
	}
	if res := n.kid("resp"); res != nil {
		if r.Code, r.Text, err = resp(res); err != nil {
			return Reply{}, err
		}
	}
	r.Data, err = data(n.kid("data"))
	return r, err
}

func notice(n *node) (Notice, error) {
	name, err := n.itemName()
	if err != nil {
		return Notice{}, err
	}
	t := Notice{Name: name, SeqID: n.seqID("")}
	if res := n.kid("resp"); res != nil {
		if t.Code, t.Text, err = resp(res); err != nil {
			return Notice{}, err
		}
	}
	t.Data, err = data(n.kid("data"))
	return t, err
}

func resp(n *node) (int, string, error) {
	text := strings.TrimSpace(string(n.text))
	if n.trimmed("code") == "" {
		return CodeDatabaseConnection, text, nil
	}
	code, err := n.intAttr("code")
	return code, text, err
}

// chat reads a grpchat, or a history msg with defSeq "".
func chat(n *node, defSeq string) (Chat, error) {
	c := Chat{ChanURI: n.trimmed("chanUri"), Author: n.trimmed("author")}
	if defSeq != "" {
		c.SeqID = n.seqID(defSeq)
	}
	var err error
	if c.TS, err = n.timeAttr("ts"); err != nil {
		return Chat{}, err
	}
	if k := n.kid("chat"); k != nil {
		c.Text = string(k.text)
	}
	return c, nil
}

func data(n *node) (Data, error) {
	var d Data
	if n == nil {
		return d, nil
	}
	for _, k := range n.kids {
		var err error
		switch k.name {
		case "uib":
			var u User
			u, err = user(k)
			d.Users = append(d.Users, u)
		case "sib":
			var s ServerInfo
			s, err = serverInfo(k)
			d.Servers = append(d.Servers, s)
		case "qib":
			q := Query{Type: k.trimmed("qtype")}
			q.Criteria, _ = k.attr("criteria")
			q.Extended, err = k.boolAttr("extended")
			d.Queries = append(d.Queries, q)
		case "chanid":
			c := ChanID{Domain: k.trimmed("domain"), Value: k.trimmed("value")}
			c.Key, err = k.intAttr("key")
			d.ChanIDs = append(d.ChanIDs, c)
		case "chanib":
			var c Channel
			c, err = channel(k)
			d.Channels = append(d.Channels, c)
		case "fib":
			d.Failures = append(d.Failures, Failure{Key: k.trimmed("key"), Value: k.trimmed("value"), Domain: k.trimmed("domain")})
		case "bcq":
			var h HistoryQuery
			if last := k.kid("last"); last != nil {
				h.Last, err = last.intAttr("cnt")
			}
			d.History = append(d.History, h)
		}
		if err != nil {
			return Data{}, err
		}
	}
	return d, nil
}

func user(n *node) (User, error) {
	u := User{ID: n.trimmed("id"), URI: n.trimmed("uri")}
	for _, k := range n.kids {
		if k.name == "aib" {
			u.Roles = append(u.Roles, role(k))
		}
	}
	return u, nil
}

func role(n *node) Role {
	return Role{Key: n.trimmed("key"), Domain: n.trimmed("domain"), Value: n.trimmed("value")}
}

func serverInfo(n *node) (ServerInfo, error) {
	s := ServerInfo{Domain: n.trimmed("domain"), InfoType: n.trimmed("infoType"),
		RootURI: n.trimmed("rootUri"), DBVersion: n.trimmed("dbVersion")}
	var err error
	if s.ServerTime, err = n.timeAttr("serverTime"); err != nil {
		return s, err
	}
	if s.SearchLimit, err = n.intAttr("searchLimit"); err != nil {
		return s, err
	}
	if s.MessageSizeLimit, err = n.intAttr("messageSizeLimit"); err != nil {
		return s, err
	}
	s.StorySizeLimit, err = n.intAttr("storySizeLimit")
	return s, err
}

func channel(n *node) (Channel, error) {
	c := Channel{URI: n.trimmed("uri")}
	c.Name, _ = n.attr("name")
	c.Description, _ = n.attr("description")
	c.Topic, _ = n.attr("topic")
	for _, k := range n.kids {
		switch k.name {
		case "info":
			c.Info = append(c.Info, property(k))
		case "prop":
			c.Props = append(c.Props, property(k))
		case "aib":
			c.Roles = append(c.Roles, role(k))
		case "uib":
			u, err := user(k)
			if err != nil {
				return Channel{}, err
			}
			c.Users = append(c.Users, u)
		case "msg":
			// History entries are msg elements with id="grpchat" [C]; other ids are
			// unknown kinds of entry.
			if id, ok := k.attr("id"); ok && !foldEqual(strings.TrimSpace(id), "grpchat") {
				continue
			}
			m, err := chat(k, "")
			if err != nil {
				return Channel{}, err
			}
			c.Messages = append(c.Messages, m)
		}
	}
	return c, nil
}

func property(n *node) Property {
	return Property{ID: lowerASCII(n.trimmed("id")), Value: strings.TrimSpace(string(n.text))}
}
