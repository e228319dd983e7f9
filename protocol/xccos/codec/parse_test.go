package codec

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestValidFiles: every testdata/valid file parses, and its canonical writing parses
// back to the same values and is a fixed point of Marshal.
func TestValidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.xml")
	if len(files) < 10 {
		t.Fatalf("%d testdata/valid/*.xml", len(files))
	}
	for _, f := range files {
		env := parseFile(t, f)
		roundTrip(t, f, env)
	}
}

// roundTrip checks that env (a Parse result) survives Marshal and Parse, and that
// the canonical form is stable.
func roundTrip(t *testing.T, what string, env Envelope) {
	t.Helper()
	out, err := Marshal(env)
	if err != nil {
		t.Fatalf("%s: Marshal: %v", what, err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("%s: Parse(%s): %v", what, out, err)
	}
	if !reflect.DeepEqual(back, env) {
		t.Fatalf("%s: Parse(Marshal(v)) =\n%#v\nwant\n%#v\n(%s)", what, back, env, out)
	}
	again, err := Marshal(back)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("%s: Marshal not stable:\n%s\n%s (%v)", what, out, again, err)
	}
}

// TestInvalidFiles: every testdata/invalid file fails with the error its first line
// names: <!-- want: TEXT -->.
func TestInvalidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.xml")
	if len(files) < 10 {
		t.Fatalf("%d testdata/invalid/*.xml", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := bufio.NewReader(bytes.NewReader(data)).ReadString('\n')
		want, ok := strings.CutPrefix(strings.TrimSpace(first), "<!-- want: ")
		want, ok2 := strings.CutSuffix(want, " -->")
		if !ok || !ok2 || want == "" {
			t.Errorf("%s: first line %q; want <!-- want: ERROR TEXT -->", f, first)
			continue
		}
		env, err := Parse(data)
		if err == nil {
			t.Errorf("%s: parsed as %#v; want error containing %q", f, env, want)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "xccos: ") {
			t.Errorf("%s: error %q; want \"xccos: ...\" containing %q", f, err, want)
		}
	}
}

const (
	envOpen  = `<xccos ver="1" envid="5" xmlns="urn:parlano:xml:ns:xccos">`
	envClose = `</xccos>`
	chURI    = "ma-chan://contoso.com/1"
)

// TestTolerance: one case per tolerance rule of Parse; want is the whole result.
func TestTolerance(t *testing.T) {
	requri := []Item{NewRequri()}
	for _, c := range []struct {
		name, in string
		want     Envelope
	}{
		// A UTF-8 BOM, an XML declaration and white space around the document.
		{"bom and declaration", "\uFEFF<?xml version=\"1.0\"?>\n " + envOpen + `<cmd id="cmd:requri" seqid="1"><data/></cmd>` + envClose + "\r\n\t",
			Envelope{5, requri}},
		// Indentation and comments between elements.
		{"pretty printed", envOpen + "\n  <!-- c -->\n  <cmd id=\"cmd:requri\" seqid=\"1\">\n    <data/>\n  </cmd>\n" + envClose,
			Envelope{5, requri}},
		// The .NET server's extra namespace declarations (note §4).
		{"xsd and xsi", `<xccos xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ver="1" envid="5" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:requri" seqid="1" xsi:nil="false"><data/></cmd>` + envClose,
			Envelope{5, requri}},
		// A root without its namespace is ours all the same.
		{"no namespace", `<xccos ver="1" envid="5"><cmd id="cmd:requri"/></xccos>`, Envelope{5, requri}},
		// A prefixed root: its children may be prefixed or not.
		{"prefixed root", `<x:xccos xmlns:x="urn:parlano:xml:ns:xccos" ver="1" envid="5"><x:cmd id="cmd:requri"/><cmd id="cmd:requri"/></x:xccos>`,
			Envelope{5, []Item{NewRequri(), NewRequri()}}},
		// Elements in another namespace are not ours, whatever their local name.
		{"foreign element", envOpen + `<cmd xmlns="urn:other" id="cmd:join"/><cmd id="cmd:requri"/>` + envClose, Envelope{5, requri}},
		// Unknown elements and attributes are skipped, at any depth.
		{"unknown", envOpen + `<hello a="b"><cmd id="cmd:join"/></hello><cmd id="cmd:requri" seqid="1" x="y"><data z="1"><nested><deeper/></nested></data><tail/></cmd>` + envClose,
			Envelope{5, requri}},
		// ver may be missing (it is always 1) and padded.
		{"no ver", `<xccos envid="5" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:requri"/></xccos>`, Envelope{5, requri}},
		{"padded ver and envid", `<xccos ver=" 1 " envid=" 5 " xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:requri"/></xccos>`, Envelope{5, requri}},
		// Missing seqid reads as the "1" everyone sends (note §4).
		{"no seqid", envOpen + `<cmd id="cmd:requri"/>` + envClose, Envelope{5, requri}},
		// id values are case-insensitive (SIPE) and so are element and attribute names.
		{"case", envOpen + `<CMD ID=" CMD:ReqURI " SEQID="1"><DATA/></CMD>` + envClose, Envelope{5, requri}},
		// A missing prefix or another kind's prefix: the name is what follows the colon.
		{"id without prefix", envOpen + `<cmd id="requri"/>` + envClose, Envelope{5, requri}},
		// SIPE's spelling of the getserverinfo reply (note §5.2).
		{"getservinfo", envOpen + `<rpl id="rpl:getservinfo" seqid="1"><commandid seqid="1" envid="4"/><resp code="200">SUCCESS_OK</resp><data/></rpl>` + envClose,
			Envelope{5, []Item{Reply{Name: NameGetServerInfo, SeqID: "1", CommandEnvID: 4, CommandSeqID: "1", Code: 200, Text: "SUCCESS_OK"}}}},
		// A rpl without resp has code 500 (SIPE, note §4).
		{"no resp", envOpen + `<rpl id="rpl:join" seqid="1"><commandid seqid="1" envid="4"/><data/></rpl>` + envClose,
			Envelope{5, []Item{Reply{Name: NameJoin, SeqID: "1", CommandEnvID: 4, CommandSeqID: "1", Code: 500}}}},
		// A resp without code is 500 too; its text is kept, trimmed.
		{"resp without code", envOpen + `<rpl id="rpl:join"><commandid envid="4"/><resp>
			 SOMETHING_BROKE </resp></rpl>` + envClose,
			Envelope{5, []Item{Reply{Name: NameJoin, SeqID: "1", CommandEnvID: 4, CommandSeqID: "1", Code: 500, Text: "SOMETHING_BROKE"}}}},
		// A rpl without commandid: envid 0, nothing to correlate.
		{"no commandid", envOpen + `<rpl id="rpl:join"><resp code="404">ERR_NO_SUCH_NODE</resp></rpl>` + envClose,
			Envelope{5, []Item{Reply{Name: NameJoin, SeqID: "1", CommandSeqID: "1", Code: 404, Text: "ERR_NO_SUCH_NODE"}}}},
		// An ntc has no resp as a rule: Code 0.
		{"ntc without resp", envOpen + `<ntc id="ntc:part"><data/></ntc>` + envClose, Envelope{5, []Item{Notice{Name: NamePart}}}},
		// Several rpl, ntc and grpchat in one body, in order (SIPE 825d7fb6).
		{"merged", envOpen + `<rpl id="rpl:part"><resp code="200"/></rpl><ntc id="ntc:part"/><grpchat><chat>x</chat></grpchat><rpl id="rpl:join"><resp code="200"/></rpl>` + envClose,
			Envelope{5, []Item{
				Reply{Name: NamePart, SeqID: "1", CommandSeqID: "1", Code: 200},
				Notice{Name: NamePart},
				Chat{SeqID: "1", Text: "x"},
				Reply{Name: NameJoin, SeqID: "1", CommandSeqID: "1", Code: 200}}}},
		// envid over the full uint64 range, in the envelope and in commandid.
		{"uint64 envid", `<xccos ver="1" envid="18446744073709551615" xmlns="urn:parlano:xml:ns:xccos"><rpl id="rpl:part"><commandid envid="9223372036854775808"/><resp code="200"/></rpl></xccos>`,
			Envelope{1<<64 - 1, []Item{Reply{Name: NamePart, SeqID: "1", CommandEnvID: 1 << 63, CommandSeqID: "1", Code: 200}}}},
		// ts without Z is UTC; 7 digits as the server sends them (note §6).
		{"ts no Z", envOpen + `<grpchat ts="2010-09-14T14:26:17.6206356"><chat>x</chat></grpchat>` + envClose,
			Envelope{5, []Item{Chat{SeqID: "1", TS: utc("2010-09-14T14:26:17.6206356Z"), Text: "x"}}}},
		// ts with an offset is converted to UTC; 9 digits are truncated to 100 ns.
		{"ts offset and ns", envOpen + `<grpchat ts="2024-05-01T14:00:00.123456789+02:00"><chat>x</chat></grpchat>` + envClose,
			Envelope{5, []Item{Chat{SeqID: "1", TS: utc("2024-05-01T12:00:00.1234567Z"), Text: "x"}}}},
		// A grpchat without ts parses, with the zero time, so a server can refuse it.
		{"no ts", envOpen + `<grpchat id="grpchat" seqid="1" chanUri="` + chURI + `" author="sip:a@x"><chat>x</chat></grpchat>` + envClose,
			Envelope{5, []Item{Chat{SeqID: "1", ChanURI: chURI, Author: "sip:a@x", Text: "x"}}}},
		// URIs are trimmed, chat text is verbatim (CDATA and character references too).
		{"trim uris, keep text", envOpen + `<grpchat chanUri=" ` + chURI + ` " author="&#9;sip:a@x"><chat> a<![CDATA[ <b> ]]>&#xD;&#10;</chat></grpchat>` + envClose,
			Envelope{5, []Item{Chat{SeqID: "1", ChanURI: chURI, Author: "sip:a@x", Text: " a <b> \r\n"}}}},
		// HTML inside chat is not ours: its elements are skipped, the text around kept.
		{"markup in chat", envOpen + `<grpchat><chat>a<b>bold</b>c</chat></grpchat>` + envClose,
			Envelope{5, []Item{Chat{SeqID: "1", Text: "ac"}}}},
		// A history msg with another id is an unknown kind of entry; without id it is a message.
		{"msg ids", envOpen + `<rpl id="rpl:bccontext"><resp code="200"/><data><chanib uri="` + chURI + `"><msg id="other"><chat>no</chat></msg><msg><chat>yes</chat></msg><msg id="GrpChat" seqid="9"><chat>too</chat></msg></chanib></data></rpl>` + envClose,
			Envelope{5, []Item{Reply{Name: NameBCContext, SeqID: "1", CommandSeqID: "1", Code: 200, Data: Data{Channels: []Channel{{URI: chURI,
				Messages: []Chat{{Text: "yes"}, {Text: "too"}}}}}}}}},
		// info and prop ids are lower-cased, values trimmed; names and topics verbatim.
		{"chanib", envOpen + `<rpl id="rpl:chansrch"><resp code="200"/><data><chanib name=" Room " topic=" t " uri="` + chURI + `"><info id="URN:Parlano:MA:Info:UCNT"> 3 </info><prop id="urn:parlano:ma:prop:invite">false</prop></chanib></data></rpl>` + envClose,
			Envelope{5, []Item{Reply{Name: NameChanSrch, SeqID: "1", CommandSeqID: "1", Code: 200, Data: Data{Channels: []Channel{{
				Name: " Room ", URI: chURI, Topic: " t ", Info: []Property{{InfoUserCount, "3"}}, Props: []Property{{PropInvite, "false"}}}}}}}}},
		// qib: extended as xsd:boolean (1/0, any case), criteria verbatim.
		{"qib", envOpen + `<cmd id="cmd:chansrch"><data><qib qtype="BYNAME" criteria=" a " extended="1"/><qib extended="TRUE"/><qib/></data></cmd>` + envClose,
			Envelope{5, []Item{Command{Name: NameChanSrch, SeqID: "1", Data: Data{Queries: []Query{
				{Type: QueryByName, Criteria: " a ", Extended: true}, {Extended: true}, {}}}}}}},
		// bcq without last, chanid without key: zero values.
		{"zero defaults", envOpen + `<cmd id="cmd:bccontext"><data><chanid domain="d" value="v"/><bcq/></data></cmd>` + envClose,
			Envelope{5, []Item{Command{Name: NameBCContext, SeqID: "1", Data: Data{ChanIDs: []ChanID{{Domain: "d", Value: "v"}}, History: []HistoryQuery{{}}}}}}},
		// Only the first data child counts.
		{"two data", envOpen + `<cmd id="cmd:part"><data><chanib uri="a"/></data><data><chanib uri="b"/></data></cmd>` + envClose,
			Envelope{5, []Item{Command{Name: NamePart, SeqID: "1", Data: Data{Channels: []Channel{{URI: "a"}}}}}}},
		// A duplicated attribute: the first one counts.
		{"duplicate attribute", envOpen + `<cmd id="cmd:requri" ID="cmd:join"/>` + envClose, Envelope{5, requri}},
		// Deep nesting past anything XCCOS uses is skipped, not followed.
		{"deep", envOpen + `<cmd id="cmd:requri">` + strings.Repeat("<data>", 500) + strings.Repeat("</data>", 500) + `</cmd>` + envClose,
			Envelope{5, requri}},
	} {
		got, err := Parse([]byte(c.in))
		if err != nil {
			t.Errorf("%s: Parse(%s): %v", c.name, c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Parse(%s) =\n%#v\nwant\n%#v", c.name, c.in, got, c.want)
			continue
		}
		roundTrip(t, c.name, got)
	}
}

// TestValidFileValues spot-checks values of the tolerance files in testdata/valid.
func TestValidFileValues(t *testing.T) {
	env := parseFile(t, "testdata/valid/merged-replies.xml")
	if len(env.Items) != 3 {
		t.Fatalf("merged-replies: %d items; want 3", len(env.Items))
	}
	if r := env.Items[1].(Reply); r.CommandEnvID != 101 || r.Err() == nil {
		t.Errorf("merged-replies: second item %#v; want the failed join of envelope 101", r)
	}
	env = parseFile(t, "testdata/valid/timestamps.xml")
	var got []string
	for _, it := range env.Items {
		got = append(got, it.(Chat).TS.Format("2006-01-02T15:04:05.9999999Z07:00"))
	}
	want := []string{"2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5Z", "2024-05-01T12:00:00.123Z",
		"2010-09-14T14:26:17.6206356Z", "2024-05-01T12:00:00Z"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("timestamps: %q; want %q", got, want)
	}
	env = parseFile(t, "testdata/valid/chat-text.xml")
	if txt := env.Items[0].(Chat).Text; txt != "  a & b <c> \"d\" 'e'\r\nline 2 <b>not markup</b> ü ✓  " {
		t.Errorf("chat-text: %q", txt)
	}
	env = parseFile(t, "testdata/valid/case-variants.xml")
	if r := env.Items[0].(Reply); r.Name != NameGetServerInfo || r.CommandEnvID != 12 || len(r.Data.Servers) != 1 || r.Data.Servers[0].InfoType != "123" {
		t.Errorf("case-variants: %#v", r)
	}
	if n := env.Items[1].(Notice); n.Name != NamePart || n.Data.Channels[0].Users[0].URI != bob {
		t.Errorf("case-variants: %#v", n)
	}
	if m := env.Items[2].(Reply).Data.Channels[0].Messages; len(m) != 1 || m[0].ChanURI != room.String() {
		t.Errorf("case-variants: history %#v", m)
	}
	env = parseFile(t, "testdata/valid/extensions.xml")
	if len(env.Items) != 1 {
		t.Fatalf("extensions: %#v; want only the rpl", env.Items)
	}
	if r := env.Items[0].(Reply); r.Code != 200 || len(r.Data.Users) != 1 || len(r.Data.Channels) != 1 || len(r.Data.Channels[0].Users) != 0 {
		t.Errorf("extensions: %#v", r)
	}
}
