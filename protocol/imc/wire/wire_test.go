package wire

import (
	"reflect"
	"testing"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		body  string
		want  Command
		known bool
	}{
		{"#join", Command{Name: "join", Args: []string{}}, true},
		{"#JOIN room002", Command{Name: "join", Args: []string{"room002"}}, true},
		{"#leave", Command{Name: "exit", Args: []string{}}, true},        // alias
		{"#list r", Command{Name: "members", Args: []string{"r"}}, true}, // alias
		{"#deny", Command{Name: "reject", Args: []string{}}, true},
		{"#hello there", Command{Name: "hello", Args: []string{"there"}}, false}, // unknown word kept
		{"hello", Command{}, false},                                              // not a command
	}
	for _, c := range cases {
		got, known := ParseCommand(c.body)
		if got.Args == nil {
			got.Args = []string{}
		}
		if c.want.Args == nil {
			c.want.Args = []string{}
		}
		if known != c.known || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v, %v", c.body, got, known, c.want, c.known)
		}
	}
}

func TestLineRoundTrip(t *testing.T) {
	body := FormatLine("user0001", "hello [x]: y")
	if body != "[user0001]: hello [x]: y" {
		t.Fatalf("FormatLine = %q", body)
	}
	u, text, ok := ParseLine(body)
	if !ok || u != "user0001" || text != "hello [x]: y" {
		t.Errorf("ParseLine = %q %q %v", u, text, ok)
	}
	for _, b := range []string{NoticeJoined("a"), "plain", "[]: x", "[a]x"} {
		if _, _, ok := ParseLine(b); ok {
			t.Errorf("ParseLine(%q) ok; want not a line", b)
		}
	}
}

func TestParseNotice(t *testing.T) {
	cases := []struct {
		body string
		kind NoticeKind
		user string
	}{
		{NoticeJoined("user0002"), NoticeJoin, "user0002"},
		{NoticeLeft("user0002"), NoticeLeave, "user0002"},
		{NoticeRoomNotFound, NoticeNotFound, ""},
		{NoticeAlreadyIn, NoticeAlready, ""},
		{NoticeInvalidCommand("hello"), NoticeInvalid, ""},
		{NoticeCreated, NoticeOther, ""},
		{"[user0001]: *** [x] has joined the room", NoticeNone, ""}, // a chat line quoting one
	}
	for _, c := range cases {
		k, u := ParseNotice(c.body)
		if k != c.kind || u != c.user {
			t.Errorf("ParseNotice(%q) = %v %q; want %v %q", c.body, k, u, c.kind, c.user)
		}
	}
}

func TestLists(t *testing.T) {
	rooms, ok := ParseRooms(FormatRooms([]string{"room001", "room002"}))
	if !ok || !reflect.DeepEqual(rooms, []string{"room001", "room002"}) {
		t.Errorf("rooms round trip = %v %v", rooms, ok)
	}
	body := "Members:\n*[owner]\n~[adm]\n[user0003]"
	ms, ok := ParseMembers(body)
	want := []Member{{"owner", true, false}, {"adm", false, true}, {"user0003", false, false}}
	if !ok || !reflect.DeepEqual(ms, want) {
		t.Errorf("ParseMembers = %+v %v; want %+v", ms, ok, want)
	}
	if FormatMembers(want) != body {
		t.Errorf("FormatMembers = %q; want %q", FormatMembers(want), body)
	}
	if _, ok := ParseRooms("Rooms:\nnot bracketed"); ok {
		t.Error("ParseRooms accepted an unbracketed line")
	}
}

func TestRoomURI(t *testing.T) {
	cases := []struct{ name, domain, want string }{
		{"room001", "example.test", "sip:room001@conf.example.test"},
		{"room001@conf.x", "example.test", "sip:room001@conf.x"},
		{"sip:r@h", "example.test", "sip:r@h"},
	}
	for _, c := range cases {
		if got := RoomURI(c.name, c.domain); got != c.want {
			t.Errorf("RoomURI(%q, %q) = %q; want %q", c.name, c.domain, got, c.want)
		}
	}
}
