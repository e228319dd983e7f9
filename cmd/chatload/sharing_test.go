package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatload/chatload/protocol/sipua"
)

// withFileLimit makes the process's file limit n for the test (ok false: unknown).
func withFileLimit(t *testing.T, n uint64, ok bool) {
	t.Helper()
	saved := fileLimit
	fileLimit = func() (uint64, bool) { return n, ok }
	t.Cleanup(func() { fileLimit = saved })
}

func TestTransportSharingChoice(t *testing.T) {
	withFileLimit(t, 20_000, true)
	cases := []struct {
		setting, protocol, transport string
		users                        int
		want                         sipua.Sharing
	}{
		{"", "imc", "udp", 10, sipua.Sharing{N: 1}},                      // shared, by the load
		{"", "imc", "udp", 100_000, sipua.Sharing{N: 20}},                // one socket per 5,000 users
		{"", "imc", "tcp", 12_000, sipua.Sharing{N: 3}},                  // shared over tcp too
		{"", "imc", "tls", 10, sipua.Sharing{PerUser: true}},             // tls: a connection per user
		{"", "xccos", "tcp", 10, sipua.Sharing{PerUser: true}},           // Lync clients hold their own
		{"shared", "xccos", "tls", 12_000, sipua.Sharing{N: 3}},          // asked: by the load
		{"shared:7", "imc", "udp", 10, sipua.Sharing{N: 7}},              // asked
		{"per-user", "imc", "udp", 19_000, sipua.Sharing{PerUser: true}}, // 19,000 + 256 fit in 20,000
	}
	for _, c := range cases {
		got, err := transportSharing(c.setting, c.protocol, c.transport, c.users)
		if err != nil || got != c.want {
			t.Errorf("transportSharing(%q, %s, %s, %d) = %+v, %v; want %+v", c.setting, c.protocol, c.transport, c.users, got, err, c.want)
		}
	}
}

// TestTransportSharingFileLimit: per user, users whose sockets cannot fit the
// file limit are refused before anything runs (exit 2), naming
// --transport-sharing, the limit and the way out; shared, they run.
func TestTransportSharingFileLimit(t *testing.T) {
	withFileLimit(t, 300, true)
	cases := []struct {
		args []string
		want []string // in the error; nil: runs
	}{
		// 30 users: 30 sockets + 256 fit in 300.
		{[]string{"run", "--transport-sharing", "per-user", "--users", "30", "--scenario", "login"}, nil},
		// 50 users over udp: 50 + 256 > 300.
		{[]string{"run", "--transport-sharing", "per-user", "--users", "50", "--scenario", "login"},
			[]string{"--transport-sharing per-user", "50 users need about 306 file descriptors", "file limit of 300", "shared[:N]"}},
		// tls by default per user, 2 descriptors each: 25 users need 306.
		{[]string{"run", "--transport", "tls", "--users", "25", "--scenario", "login"},
			[]string{"--transport-sharing per-user (the default for imc over tls)", "25 users need about 306", "2 each over tls"}},
		{[]string{"run", "--transport", "tls", "--transport-sharing", "shared:2", "--users", "25", "--scenario", "login"}, nil},
	}
	for _, c := range cases {
		args := append(c.args, "--rate", "5/s", "--duration", "1s", "--quiet", "--allow-failures")
		code, _, errb := runCLI(t, nil, args...)
		if c.want == nil {
			if code != 0 {
				t.Errorf("%q: exit %d %s; want a run", args, code, errb)
			}
			continue
		}
		if code != 2 {
			t.Errorf("%q: exit %d; want 2", args, code)
		}
		for _, w := range c.want {
			if !strings.Contains(errb, w) {
				t.Errorf("%q: error %q does not say %q", args, errb, w)
			}
		}
	}
}

// TestTransportSharingSetting: the flag and the YAML key are checked (exit 2
// naming the flag or the file and line), and the run's generator note says
// what was chosen.
func TestTransportSharingSetting(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("scenario: steady\ntransport-sharing: shared:0\n"), 0o644)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("scenario: steady\npairs: 3\nrate: 10/s\nduration: 1s\ntransport-sharing: shared:3\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--transport-sharing", "per-connection"}, `--transport-sharing: "per-connection": want per-user, shared or shared:N`},
		{[]string{"run", "--transport-sharing", "shared:2000"}, "want shared:N with N from 1 to 1024"},
		{[]string{"run", bad}, "bad.yaml:2"},
		{[]string{"test", "--transport-sharing", "sharing"}, `--transport-sharing "sharing"`},
	} {
		code, _, errb := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%q: exit %d %q; want 2 naming %q", c.args, code, errb, c.want)
		}
	}
	out := filepath.Join(dir, "r.json")
	code, _, errb := runCLI(t, nil, "run", good, "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	r := readReportFile(t, out)
	if want := "transport sharing shared:3 (3 udp sockets for 6 users)"; !strings.Contains(r.Generator.Note, want) {
		t.Errorf("generator note %q; want it to say %q", r.Generator.Note, want)
	}
	if m := r.Messages; m.Sent == 0 || m.Delivered != m.ExpectedDeliveries || m.Lost != 0 {
		t.Errorf("messages %+v; want every copy delivered", m)
	}
}
