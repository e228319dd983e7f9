package codec

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:  %s\nwant: %s", name, got, want)
	}
}

func parseFile(t *testing.T, path string) Envelope {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return env
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// The placeholders of the note's samples, filled in the same way in testdata/valid.
var (
	room      = Room{Domain: "contoso.com", ID: "5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c"}
	roomB     = Room{Domain: "contoso.com", ID: "7a1b2c3d-0e9f-4a8b-8c7d-6e5f4a3b2c1d"}
	alice     = "sip:alice@contoso.com"
	bob       = "sip:bob@contoso.com"
	serverEnv = uint64(7962449779256945056) // the NextLabs server sample
)

// noteCases are the note's examples: testdata/valid/<file> is the sample as the note
// prints it (pretty-printed, server envelopes with xsd/xsi), want the values it
// carries, and testdata/golden/<name>.xml our canonical writing of want.
var noteCases = []struct {
	name, file string
	want       Envelope
}{
	{"cmd-requri", "note-3-cmd-requri.xml", Envelope{1804289383, []Item{NewRequri()}}},
	{"rpl-requri", "note-5.1-rpl-requri.xml", Envelope{serverEnv, []Item{Reply{
		Name: NameRequri, SeqID: "1", CommandEnvID: 1804289383, CommandSeqID: "1", Code: 200, Text: "SUCCESS_OK",
		Data: Data{Users: []User{{URI: "sip:GC-1-PersistentChatService-2@contoso.com"}}}}}}},
	{"cmd-getserverinfo", "note-5.2-cmd-getserverinfo.xml", Envelope{1804289384, []Item{NewGetServerInfo("contoso.com")}}},
	{"rpl-getserverinfo", "note-5.2-rpl-getserverinfo.xml", Envelope{serverEnv, []Item{Reply{
		Name: NameGetServerInfo, SeqID: "1", CommandEnvID: 1804289384, CommandSeqID: "1", Code: 200, Text: "SUCCESS_OK",
		Data: Data{Servers: []ServerInfo{{InfoType: "123", ServerTime: utc("2010-09-14T14:26:17.6206356Z"),
			SearchLimit: 999, MessageSizeLimit: 512, StorySizeLimit: 4096,
			RootURI:   "ma-cat://contoso.com/0c4ad2b8-1f3e-4d5c-9b8a-7e6f5d4c3b2a",
			DBVersion: "3ea3a5a8-ef36-46cf-898f-7a5133931d63"}}}}}}},
	{"cmd-chansrch", "note-5.3-cmd-chansrch.xml", Envelope{1804289385, []Item{NewChanSrch("")}}},
	{"rpl-chansrch", "note-5.3-rpl-chansrch.xml", Envelope{serverEnv, []Item{Reply{
		Name: NameChanSrch, SeqID: "1", CommandEnvID: 1804289385, CommandSeqID: "1", Code: 200, Text: "SUCCESS_OK",
		Data: Data{Channels: []Channel{{Name: "Load Test Room", Description: "soak", URI: room.String(),
			Info:  []Property{{InfoUserCount, "3"}, {InfoVisibility, "private"}},
			Props: []Property{{PropFilePost, "true"}, {PropInvite, "false"}, {PropLogged, "true"}}}}}}}}},
	{"cmd-join", "note-5.4-cmd-join.xml", Envelope{1804289386, []Item{NewJoin(room)}}},
	{"cmd-bjoin", "note-5.4-cmd-bjoin.xml", Envelope{1804289387, []Item{NewBJoin(room, roomB)}}},
	{"rpl-join", "note-5.4-rpl-join.xml", Envelope{serverEnv, []Item{Reply{
		Name: NameJoin, SeqID: "1", CommandEnvID: 1804289386, CommandSeqID: "1", Code: 200, Text: "SUCCESS_OK",
		Data: Data{
			Users: []User{{ID: "0", URI: alice}, {ID: "1", URI: bob}},
			Channels: []Channel{{Name: "Load Test Room", URI: room.String(), Topic: "Soak tests",
				Roles: []Role{{Key: RoleMember, Value: "0,1"}, {Key: RoleOperator, Value: "1"}}}}}}}}},
	{"rpl-bjoin-fib", "note-5.4-rpl-bjoin-fib.xml", Envelope{serverEnv, []Item{Reply{
		Name: NameBJoin, SeqID: "1", CommandEnvID: 1804289387, CommandSeqID: "1", Code: 200, Text: "SUCCESS_OK",
		Data: Data{
			Users: []User{{ID: "0", URI: alice}},
			Channels: []Channel{{Name: "Load Test Room", URI: room.String(), Topic: "Soak tests",
				Roles: []Role{{Key: RoleMember, Value: "0"}}}},
			Failures: []Failure{{Key: OperationFailed, Value: roomB.ID, Domain: roomB.Domain}}}}}}},
	{"ntc-join", "note-5.5-ntc-join.xml", Envelope{serverEnv, []Item{NewNotice(NameJoin, Data{
		Users: []User{{URI: bob, Roles: []Role{{Key: RoleMember, Domain: room.Domain, Value: room.ID}}}}})}}},
	{"ntc-part", "note-5.5-ntc-part.xml", Envelope{serverEnv, []Item{NewNotice(NamePart, Data{
		Channels: []Channel{{URI: room.String(), Users: []User{{URI: bob}}}}})}}},
	{"cmd-bccontext", "note-5.6-cmd-bccontext.xml", Envelope{1804289388, []Item{NewBCContext(room, 25)}}},
	{"rpl-bccontext", "note-5.6-rpl-bccontext.xml", Envelope{serverEnv, []Item{Reply{
		Name: NameBCContext, SeqID: "1", CommandEnvID: 1804289388, CommandSeqID: "1", Code: 200, Text: "SUCCESS_OK",
		Data: Data{Channels: []Channel{{URI: room.String(), Messages: []Chat{
			{ChanURI: room.String(), Author: bob, TS: utc("2013-08-03T10:00:00Z"), Text: "earlier message"},
			{ChanURI: room.String(), Author: alice, TS: utc("2013-08-03T10:00:01.5Z"), Text: "later message"},
		}}}}}}}},
	{"grpchat-client", "note-5.7-grpchat-client.xml", Envelope{1804289389, []Item{
		NewChat(room, alice, utc("2024-05-01T12:00:00Z"), "soak 7f3e9b2a #1")}}},
	// The server's ts has no Z; it is UTC, and we write it back with the Z.
	{"grpchat-server", "note-5.7-grpchat-server.xml", Envelope{serverEnv, []Item{
		NewChat(room, alice, utc("2024-05-01T12:00:00.1234567Z"), "soak 7f3e9b2a #1")}}},
	{"cmd-part", "note-5.8-cmd-part.xml", Envelope{1804289390, []Item{NewPart(room)}}},
	{"rpl-part", "note-5.8-rpl-part.xml", Envelope{serverEnv, []Item{NewReply(1804289390, NewPart(room), CodeOK,
		Data{Channels: []Channel{{URI: room.String()}}})}}},
}

// TestNoteExamples parses each sample of the note and checks every value, then
// writes the expected values and compares with the golden file, which must parse
// back to the same values.
func TestNoteExamples(t *testing.T) {
	for _, c := range noteCases {
		t.Run(c.name, func(t *testing.T) {
			got := parseFile(t, filepath.Join("testdata", "valid", c.file))
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Parse(%s) =\n%#v\nwant\n%#v", c.file, got, c.want)
			}
			out, err := Marshal(c.want)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".xml", out)
			back, err := Parse(out)
			if err != nil || !reflect.DeepEqual(back, c.want) {
				t.Errorf("Parse(Marshal) = %#v, %v; want %#v", back, err, c.want)
			}
		})
	}
}

// TestNoteWireExact: where the note prints a body byte for byte (§3), we write
// exactly that.
func TestNoteWireExact(t *testing.T) {
	const note = `<xccos ver="1" envid="1804289383" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:requri" seqid="1"><data/></cmd></xccos>`
	got, err := Marshal(Envelope{EnvID: 1804289383, Items: []Item{NewRequri()}})
	if err != nil || string(got) != note {
		t.Errorf("Marshal = %s, %v; want %s", got, err, note)
	}
}

// TestCanonicalIsCompact: the golden files show each sample's layout compacted,
// in the note's attribute order (spot checks against the note's text).
func TestCanonicalIsCompact(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"rpl-requri.xml", `<rpl id="rpl:requri" seqid="1"><commandid seqid="1" envid="1804289383"/><resp code="200">SUCCESS_OK</resp><data><uib uri="sip:GC-1-PersistentChatService-2@contoso.com"/></data></rpl>`},
		{"cmd-getserverinfo.xml", `<data><sib domain="contoso.com" infoType="123"/></data>`},
		{"rpl-getserverinfo.xml", `<sib infoType="123" serverTime="2010-09-14T14:26:17.6206356Z" searchLimit="999" messageSizeLimit="512" storySizeLimit="4096" rootUri="ma-cat://contoso.com/0c4ad2b8-1f3e-4d5c-9b8a-7e6f5d4c3b2a" dbVersion="3ea3a5a8-ef36-46cf-898f-7a5133931d63"/>`},
		{"cmd-chansrch.xml", `<qib qtype="BYNAME" criteria="" extended="false"/>`},
		{"rpl-chansrch.xml", `<chanib name="Load Test Room" description="soak" uri="ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c"><info id="urn:parlano:ma:info:ucnt">3</info><info id="urn:parlano:ma:info:visibilty">private</info><prop id="urn:parlano:ma:prop:filepost">true</prop>`},
		{"cmd-join.xml", `<chanid key="0" domain="contoso.com" value="5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c"/>`},
		{"rpl-join.xml", `<data><uib id="0" uri="sip:alice@contoso.com"/><uib id="1" uri="sip:bob@contoso.com"/><chanib name="Load Test Room" uri="ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c" topic="Soak tests"><aib key="3984" value="0,1"/><aib key="12276" value="1"/></chanib></data>`},
		{"rpl-bjoin-fib.xml", `<fib key="OPERATION_FAILED" value="7a1b2c3d-0e9f-4a8b-8c7d-6e5f4a3b2c1d" domain="contoso.com"/>`},
		{"ntc-join.xml", `<ntc id="ntc:join"><data><uib uri="sip:bob@contoso.com"><aib key="3984" domain="contoso.com" value="5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c"/></uib></data></ntc>`},
		{"ntc-part.xml", `<ntc id="ntc:part"><data><chanib uri="ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c"><uib uri="sip:bob@contoso.com"/></chanib></data></ntc>`},
		{"cmd-bccontext.xml", `<data><chanib uri="ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c"/><bcq><last cnt="25"/></bcq></data>`},
		{"rpl-bccontext.xml", `<msg id="grpchat" chanUri="ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c" author="sip:bob@contoso.com" ts="2013-08-03T10:00:00Z"><chat>earlier message</chat></msg>`},
		{"grpchat-client.xml", `<grpchat id="grpchat" seqid="1" chanUri="ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c" author="sip:alice@contoso.com" ts="2024-05-01T12:00:00Z"><chat>soak 7f3e9b2a #1</chat></grpchat>`},
		{"grpchat-server.xml", ` ts="2024-05-01T12:00:00.1234567Z">`},
		{"rpl-part.xml", `<resp code="200">SUCCESS_OK</resp><data><chanib uri="ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c"/></data></rpl>`},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(c.want)) {
			t.Errorf("%s: %s\ndoes not contain %s", c.file, b, c.want)
		}
		if !bytes.HasPrefix(b, []byte(`<xccos ver="1" envid="`)) || bytes.ContainsAny(b, "\n\t") {
			t.Errorf("%s is not a compact canonical envelope: %s", c.file, b)
		}
	}
}
