package codec

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse: Parse never panics and fails with an "xccos: " error; whatever it
// accepts, Marshal writes, and the writing parses back to the same values and is a
// fixed point of Marshal. Seeds: every testdata file.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid", "golden"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "xccos: ") {
				t.Fatalf("error %q does not start with xccos:", err)
			}
			return
		}
		out, err := Marshal(env)
		if err != nil {
			t.Fatalf("Marshal(Parse(%q)): %v\nvalues %#v", data, err, env)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))): %v\nwritten %s", data, err, out)
		}
		if !reflect.DeepEqual(back, env) {
			t.Fatalf("values changed through Marshal:\nin      %q\nparsed  %#v\nwritten %s\nreparsed %#v", data, env, out, back)
		}
		if again, err := Marshal(back); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Marshal not stable:\n%s\n%s (%v)", out, again, err)
		}
	})
}

// FuzzMarshal: any strings the driver or server may put into the values they write
// (chat text, names, URIs) either make Marshal fail or come back from Parse; the
// verbatim fields exactly, the trimmed ones trimmed.
func FuzzMarshal(f *testing.F) {
	f.Add("soak 7f3e9b2a #1", "Load Test Room", "sip:alice@contoso.com", "", int64(1714564800), int64(0), uint64(1804289383))
	f.Add("a & b <c>\r\n\"d\"\t]]>", " spaced ", " sip:x ", "crit", int64(-62135596800), int64(999999999), uint64(1<<64-1))
	f.Add("\x00", "\xff", "\uFFFE", "\r", int64(253402300800), int64(1), uint64(0))
	f.Fuzz(func(t *testing.T, text, name, uri, criteria string, sec, nsec int64, envID uint64) {
		ts := time.Unix(sec, nsec)
		chat := Chat{SeqID: "1", ChanURI: uri, Author: uri, TS: ts, Text: text}
		env := Envelope{EnvID: envID, Items: []Item{
			chat,
			Command{Name: name, SeqID: name, Data: Data{Queries: []Query{{Type: name, Criteria: criteria}}}},
			Reply{Name: "bccontext", Code: int(sec), Text: text, Data: Data{Channels: []Channel{{
				Name: name, Description: text, Topic: criteria, URI: uri, Messages: []Chat{chat},
				Info: []Property{{ID: name, Value: text}}}}}},
		}}
		out, err := Marshal(env)
		if err != nil {
			return
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(...)) failed: %v\n%s", err, out)
		}
		if len(back.Items) != 3 || back.EnvID != envID {
			t.Fatalf("items %#v", back.Items)
		}
		c, ok := back.Items[0].(Chat)
		wantTS := ts.UTC().Add(-(time.Duration(ts.Nanosecond()) % tick))
		if !ok || c.Text != text || c.ChanURI != strings.TrimSpace(uri) || !c.TS.Equal(wantTS) {
			t.Fatalf("chat %#v; want text %q uri %q ts %v", back.Items[0], text, uri, wantTS)
		}
		if ts.IsZero() != c.TS.IsZero() {
			t.Fatalf("ts %v read back as %v", ts, c.TS)
		}
		cmd, ok := back.Items[1].(Command)
		if !ok || len(cmd.Data.Queries) != 1 || cmd.Data.Queries[0].Criteria != criteria {
			t.Fatalf("cmd %#v; want criteria %q", back.Items[1], criteria)
		}
		r, ok := back.Items[2].(Reply)
		if !ok || r.Code != int(sec) || r.Text != strings.TrimSpace(text) || len(r.Data.Channels) != 1 {
			t.Fatalf("rpl %#v", back.Items[2])
		}
		ch := r.Data.Channels[0]
		if ch.Name != name || ch.Description != text || ch.Topic != criteria || len(ch.Messages) != 1 || ch.Messages[0].Text != text {
			t.Fatalf("chanib %#v", ch)
		}
	})
}

// FuzzTimestamp: parseTime never panics; what it accepts formatTime writes, and
// that reads back as the same instant.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2024-05-01T12:00:00Z", "2010-09-14T14:26:17.6206356", "2024-05-01T14:00:00.123456789+02:00",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z", "2024-02-30T00:00:00Z", "2024-05-01T12:00:00.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := parseTime(s)
		if err != nil {
			return
		}
		out, err := formatTime(ts)
		if err != nil {
			t.Fatalf("formatTime(parseTime(%q) = %v): %v", s, ts, err)
		}
		back, err := parseTime(out)
		if err != nil || !back.Equal(ts) || back != ts {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, ts, out, back, err)
		}
	})
}

// FuzzRoom: ParseRoom never panics, and what it accepts survives String.
func FuzzRoom(f *testing.F) {
	for _, s := range []string{"ma-chan://contoso.com/5f0c2a9e-4b1d-4c3e-9a7f-1d2e3f4a5b6c", " MA-CHAN://a/b/c ", "ma-chan:///x", "ma-chan://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRoom(s)
		if err != nil {
			return
		}
		back, err := ParseRoom(r.String())
		if err != nil || back != r || !back.Equal(r) {
			t.Fatalf("%q -> %#v -> %q -> %#v, %v", s, r, r.String(), back, err)
		}
	})
}
