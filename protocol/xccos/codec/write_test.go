package codec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

// TestMarshalEscaping: what each kind of value looks like on the wire, and that it
// comes back unchanged.
func TestMarshalEscaping(t *testing.T) {
	for _, c := range []struct {
		name string
		chat Chat
		want string // a substring of the output
	}{
		// The five XML specials in text: & < > escaped, quotes left alone.
		{"text specials", Chat{Text: `a & b <c> "d" 'e'`}, `<chat>a &amp; b &lt;c&gt; "d" 'e'</chat>`},
		// CR is escaped so that a CRLF (SIPE joins lines with CRLF) is not folded to LF
		// by the reader; LF and tab stay as they are.
		{"text CRLF", Chat{Text: "l1\r\nl2\tx"}, "<chat>l1&#xD;\nl2\tx</chat>"},
		// Empty text is an empty element.
		{"empty text", Chat{}, "<chat/>"},
		// Attributes escape & < > " and the white space that attribute normalization
		// would turn into spaces.
		{"attribute specials", Chat{Author: "sip:\"a\"&<b>@x\t\n\r"}, `author="sip:&quot;a&quot;&amp;&lt;b&gt;@x&#x9;&#xA;&#xD;"`},
		// Non-ASCII passes through as UTF-8.
		{"unicode", Chat{Text: "ü ✓ 𝄞"}, "<chat>ü ✓ 𝄞</chat>"},
		// Whole seconds as SIPE writes them, in UTC with Z whatever the zone.
		{"ts seconds", Chat{TS: time.Date(2024, 5, 1, 14, 0, 0, 0, time.FixedZone("", 7200))}, `ts="2024-05-01T12:00:00Z"`},
		// Up to 7 fractional digits, trailing zeros dropped, finer digits truncated.
		{"ts fraction", Chat{TS: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)}, `ts="2024-05-01T12:00:00.1234567Z"`},
		{"ts trailing zeros", Chat{TS: time.Date(2024, 5, 1, 12, 0, 0, 500000000, time.UTC)}, `ts="2024-05-01T12:00:00.5Z"`},
		// No ts at all for the zero time (a server refuses such a message).
		{"ts zero", Chat{Text: "x"}, `author=""><chat>x</chat>`},
	} {
		env := Envelope{EnvID: 1, Items: []Item{c.chat}}
		out, err := Marshal(env)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %s\ndoes not contain %s", c.name, out, c.want)
		}
		back, err := Parse(out)
		if err != nil {
			t.Errorf("%s: Parse(%s): %v", c.name, out, err)
			continue
		}
		got := back.Items[0].(Chat)
		if got.Text != c.chat.Text || !got.TS.Equal(c.chat.TS.Truncate(tick)) {
			t.Errorf("%s: read back %#v; want %#v", c.name, got, c.chat)
		}
	}
}

// TestMarshalDefaults: zero seqid fields are written as the "1" everyone sends; an
// ntc without seqid or resp has neither, as in the note.
func TestMarshalDefaults(t *testing.T) {
	out, err := Marshal(Envelope{Items: []Item{
		Command{Name: "requri"},
		Reply{Name: "part", Code: 200},
		Notice{Name: "part"},
		Notice{Name: "join", Code: 500},
		Chat{},
	}})
	want := `<xccos ver="1" envid="0" xmlns="urn:parlano:xml:ns:xccos">` +
		`<cmd id="cmd:requri" seqid="1"><data/></cmd>` +
		`<rpl id="rpl:part" seqid="1"><commandid seqid="1" envid="0"/><resp code="200"/><data/></rpl>` +
		`<ntc id="ntc:part"><data/></ntc>` +
		`<ntc id="ntc:join"><resp code="500"/><data/></ntc>` +
		`<grpchat id="grpchat" seqid="1" chanUri="" author=""><chat/></grpchat></xccos>`
	if err != nil || string(out) != want {
		t.Errorf("Marshal =\n%s, %v\nwant\n%s", out, err, want)
	}
}

// TestMarshalErrors: Marshal refuses what it cannot write so that it parses back.
func TestMarshalErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		env  Envelope
		want string
	}{
		{"no items", Envelope{}, "envelope without items"},
		{"nil item", Envelope{Items: []Item{nil}}, "item 0 is <nil>"},
		{"cmd without name", Envelope{Items: []Item{Command{}}}, "<cmd> without a name"},
		{"rpl without name", Envelope{Items: []Item{Reply{Code: 200}}}, "<rpl> without a name"},
		// Names must come back from Parse unchanged.
		{"blank name", Envelope{Items: []Item{Command{Name: " "}}}, `<cmd> name " " is not canonical ("")`},
		{"upper-case name", Envelope{Items: []Item{NewNotice("Join", Data{})}}, `<ntc> name "Join" is not canonical ("join")`},
		{"alias name", Envelope{Items: []Item{Reply{Name: "getservinfo"}}}, `<rpl> name "getservinfo" is not canonical ("getserverinfo")`},
		{"NUL in text", Envelope{Items: []Item{Chat{Text: "a\x00b"}}}, "<chat> text: character U+0000 at byte 1 is not allowed in XML"},
		{"escape char in attribute", Envelope{Items: []Item{Chat{Author: "\x1b[31m"}}}, "<grpchat> author: character U+001B"},
		{"U+FFFE", Envelope{Items: []Item{NewNotice("join", Data{Users: []User{{URI: "sip:\uFFFE"}}})}}, "<uib> uri: character U+FFFE"},
		{"invalid UTF-8", Envelope{Items: []Item{NewPart(Room{"contoso.com", "\xff"})}}, "<chanib> uri: invalid UTF-8 at byte 22"},
		{"year 10000", Envelope{Items: []Item{Chat{TS: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}, "<grpchat> ts: year 10000 outside 0000..9999"},
		{"negative year in UTC", Envelope{Items: []Item{Reply{Name: "getserverinfo", Data: Data{Servers: []ServerInfo{{
			ServerTime: time.Date(0, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600))}}}}}}, "<sib> serverTime: year -1"},
	} {
		out, err := Marshal(c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "xccos: marshal: ") {
			t.Errorf("%s: Marshal = %s, %v; want error containing %q", c.name, out, err, c.want)
		}
	}
}

// TestTimestamps: parseTime and formatTime against the note's forms (§6).
func TestTimestamps(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"},                 // SIPE
		{"2010-09-14T14:26:17.6206356Z", "2010-09-14T14:26:17.6206356Z"}, // the server sample
		{"2010-09-14T14:26:17.6206356", "2010-09-14T14:26:17.6206356Z"},  // no Z: UTC
		{"2024-05-01T12:00:00.1", "2024-05-01T12:00:00.1Z"},              // 1 digit
		{"2024-05-01T12:00:00.100Z", "2024-05-01T12:00:00.1Z"},           // trailing zeros
		{"2024-05-01T12:00:00.000000001Z", "2024-05-01T12:00:00Z"},       // under a tick
		{"2024-02-29T23:59:59.9999999-00:30", "2024-03-01T00:29:59.9999999Z"},
		{"0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"}, // the first writable instant
		{"9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.9999999Z"},
	} {
		ts, err := parseTime(c.in)
		if err != nil {
			t.Errorf("parseTime(%q): %v", c.in, err)
			continue
		}
		got, err := formatTime(ts)
		if err != nil || got != c.want {
			t.Errorf("formatTime(parseTime(%q)) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if ts.Location() != time.UTC {
			t.Errorf("parseTime(%q) in %v; want UTC", c.in, ts.Location())
		}
	}
	for _, in := range []string{"", "2024-05-01", "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:00:60Z",
		"2024-00-01T12:00:00Z", "2024-04-31T12:00:00Z", "2024-05-01T12:00:00ZZ", "2024-05-01T12:00:00+24:00",
		"2024-05-01T12:00:00 Z", "+024-05-01T12:00:00Z", "2024-5-01T12:00:00Z", "0000-01-01T00:00:00+00:01"} {
		if ts, err := parseTime(in); err == nil {
			t.Errorf("parseTime(%q) = %v; want error", in, ts)
		}
	}
}

// TestRoom: room URIs as chanib@uri and grpchat@chanUri carry them (note §6).
func TestRoom(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Room
		err  string
	}{
		{"ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c", room, ""},
		{"ma-chan://litwareinc.com/300", Room{"litwareinc.com", "300"}, ""}, // the OCS docs' numeric id
		{" MA-CHAN://contoso.com/300 ", Room{"contoso.com", "300"}, ""},     // scheme case, padding
		{"ma-chan://contoso.com/a/b", Room{"contoso.com", "a/b"}, ""},       // the id is the rest
		{"ma-cat://contoso.com/300", Room{}, "does not start with ma-chan://"},
		{"sip:room@contoso.com", Room{}, "does not start with ma-chan://"},
		{"ma-chan://contoso.com", Room{}, "has no room id"},
		{"ma-chan://contoso.com/", Room{}, "has no room id"},
		{"ma-chan:///300", Room{}, "has no domain"},
		{"ma-chan://contoso com/300", Room{}, "domain: white space"},
		{"ma-chan://contoso.com/3\x000", Room{}, "id: white space or control"},
	} {
		got, err := ParseRoom(c.in)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("ParseRoom(%q) = %v, %v; want %v", c.in, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseRoom(%q) = %v, %v; want error containing %q", c.in, got, err, c.err)
		}
		if err == nil && got.String() != "ma-chan://"+got.Domain+"/"+got.ID {
			t.Errorf("String() = %q", got.String())
		}
	}
	if !room.Equal(Room{"CONTOSO.com", strings.ToUpper(room.ID)}) || room.Equal(roomB) {
		t.Error("Equal ignores case in domain and id, and nothing else")
	}
	if NewJoin(room).Data.ChanIDs[0].Room() != room {
		t.Error("ChanID.Room")
	}
	if (Failure{Key: OperationFailed, Value: "1", Domain: "d"}).Room() != (Room{"d", "1"}) {
		t.Error("Failure.Room")
	}
}

// TestReplyError: failed replies become classified errors that keep code and text.
func TestReplyError(t *testing.T) {
	for _, c := range []struct {
		r     Reply
		want  string
		class report.Class
	}{
		{Reply{Name: "join", Code: 404, Text: "ERR_NO_SUCH_NODE"}, "rpl:join 404 ERR_NO_SUCH_NODE (the room does not exist)", report.NotFound},
		{Reply{Name: "join", Code: 403, Text: "ERR_PERMISSION"}, "rpl:join 403 ERR_PERMISSION (the user is not authorized on the room)", report.Rejected},
		// No resp at all: 500 (SIPE), no text.
		{Reply{Name: "part", Code: 500}, "rpl:part 500 without text (the chat server failed, or sent no resp)", report.Rejected},
		// A real server's unknown code and text are kept as they are.
		{Reply{Name: "chansrch", Code: 4001, Text: "Error retrieving room list"}, "rpl:chansrch 4001 Error retrieving room list", report.Protocol},
	} {
		err := c.r.Err()
		var re *ReplyError
		if !errors.As(err, &re) || re.Code != c.r.Code || re.Text != c.r.Text || re.Name != c.r.Name {
			t.Errorf("%#v.Err() = %#v", c.r, err)
			continue
		}
		if err.Error() != c.want || re.Class() != c.class {
			t.Errorf("%#v.Err() = %q class %v; want %q class %v", c.r, err, re.Class(), c.want, c.class)
		}
	}
	if err := (Reply{Name: "join", Code: 200, Text: "SUCCESS_OK"}).Err(); err != nil {
		t.Errorf("200: Err() = %v; want nil", err)
	}
	for _, code := range []int{CodeOK, CodeInvalidArgument, CodePermission, CodeNoSuchNode, CodeDataCollision,
		CodeNodeDisabled, CodeLimitExceeded, CodeDatabaseConnection, CodeMsgNotSupported} {
		if StatusText(code) == "" || Meaning(code) == "" {
			t.Errorf("code %d has no text or meaning", code)
		}
	}
	if StatusText(999) != "" || Meaning(999) != "" {
		t.Error("unknown code has a text")
	}
}

// TestNewReply: the reply to a command echoes its envelope and seqid.
func TestNewReply(t *testing.T) {
	c := NewJoin(room)
	c.SeqID = "7"
	got := NewReply(42, c, CodeNoSuchNode, Data{})
	want := Reply{Name: NameJoin, SeqID: "1", CommandEnvID: 42, CommandSeqID: "7", Code: 404, Text: "ERR_NO_SUCH_NODE"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewReply = %#v; want %#v", got, want)
	}
	if got := NewReply(1, Command{Name: "part"}, 200, Data{}); got.CommandSeqID != "1" || got.Text != "SUCCESS_OK" {
		t.Errorf("NewReply without seqid = %#v", got)
	}
}
