package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

func readReportFile(t *testing.T, path string) *report.Report {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := report.ReadReport(fh)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunSteadyEmbedded(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2",
		"--rate", "50/s", "--duration", "2s", "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Operations", "Messages", "delivery", "Load:", "Generator:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("tables lack %q:\n%s", want, stdout)
		}
	}
	r := readReportFile(t, out)
	m := r.Messages
	// 2 s at 50/s: exactly 100 posts, one receiver each (a room per pair).
	if m.Sent != 100 || m.ExpectedDeliveries != 100 || m.Delivered != 100 || m.Lost != 0 || m.Duplicated != 0 {
		t.Errorf("messages = %+v; want 100 sent, expected and delivered, none lost or duplicated", m)
	}
	if r.EndReason != "completed" || !r.Target.Embedded || r.Load.Model != "open" {
		t.Errorf("end %q, target %+v, load %+v", r.EndReason, r.Target, r.Load)
	}
	if op, ok := r.Operations["delivery"]; !ok || op.Count != 100 || !strings.HasPrefix(op.Histogram, "HISTF") {
		t.Errorf("delivery op = %+v", op)
	}
}

var faultLine = regexp.MustCompile(`dropped (\d+), duplicated (\d+)`)

// TestRunFaultsExact: the report's lost and duplicated equal what the embedded
// server injected, exactly.
func TestRunFaultsExact(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "fanout", "--rooms", "2", "--room-size", "4",
		"--rate", "100/s", "--duration", "2s", "--quiet", "--out", out,
		"--fault-drop", "5%", "--fault-dup", "0.05", "--fault-seed", "7",
		"--allow-failures") // this counts faults; on a loaded machine under -race the generator may lag (exit 5)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	mm := faultLine.FindStringSubmatch(stderr)
	if mm == nil {
		t.Fatalf("no fault counters on stderr:\n%s", stderr)
	}
	dropped, _ := strconv.ParseUint(mm[1], 10, 64)
	duplicated, _ := strconv.ParseUint(mm[2], 10, 64)
	m := readReportFile(t, out).Messages
	if dropped == 0 || duplicated == 0 {
		t.Fatalf("server injected dropped %d, duplicated %d: want some of each", dropped, duplicated)
	}
	if m.Lost != dropped || m.Duplicated != duplicated {
		t.Errorf("report lost %d, duplicated %d; server dropped %d, duplicated %d", m.Lost, m.Duplicated, dropped, duplicated)
	}
	if m.ExpectedDeliveries != 200*3 || m.Delivered+m.Lost != m.ExpectedDeliveries {
		t.Errorf("messages = %+v; want 600 expected = delivered + lost", m)
	}
}

// syncBuffer is an io.Writer that a test can read while the CLI writes.
type syncBuffer struct {
	mu   sync.Mutex
	b    strings.Builder
	line chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(string(p), "\n") {
		select {
		case s.line <- struct{}{}:
		default:
		}
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunInterrupted: a canceled run (Ctrl-C) still prints the tables and writes the
// report of what it measured, marked interrupted, and does not exit 0.
func TestRunInterrupted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	e, stdout, _ := testEnv(nil)
	stderr := &syncBuffer{line: make(chan struct{}, 1)}
	e.stderr = stderr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"run", "--scenario", "steady", "--rate", "20/s", "--duration", "1h", "--out", out}, e)
	}()
	// The first progress line (after the embedded server's): the run is in its steady phase.
	for strings.Count(stderr.String(), "\n") <= strings.Count(stderr.String(), "embedded server:") {
		select {
		case <-stderr.line:
		case <-time.After(30 * time.Second):
			t.Fatal("no progress line within 30s")
		}
	}
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s of the cancel")
	}
	if code != 1 {
		t.Errorf("exit %d; want 1 (not completed)", code)
	}
	r := readReportFile(t, out)
	if r.EndReason != "interrupted" || r.Messages.Sent == 0 {
		t.Errorf("end %q, sent %d; want interrupted with what was sent", r.EndReason, r.Messages.Sent)
	}
	if !strings.Contains(stdout.String(), "Messages") {
		t.Errorf("no tables on stdout:\n%s", stdout.String())
	}
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("scenario: steady\nrate: 10/s\nratee: 5\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", bad}, "bad.yaml:3: unknown key"},
		{[]string{"run", "--rate", "fast"}, "--rate"},
		{[]string{"run", "--scenario", "nope"}, "--scenario"},
		{[]string{"run", "--scenario", "fanout", "--room-size", "1"}, "--room-size"},
		{[]string{"run", "--target", "127.0.0.1:5090"}, "--users-file is required"},
		{[]string{"run", "--fault-drop", "2"}, "--fault-drop"},
		{[]string{"run", "--procs", "-1"}, "--procs"},
		{[]string{"run", "--users-file", filepath.Join(dir, "none.csv")}, "none.csv"},
		{[]string{"run", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q\n%s", c.args, code, errb, c.want, out)
		}
	}
}

// TestRunKamailioInterop: steady and fanout against a real Kamailio imc complete with
// exact counts, over udp and tcp, with users on shared sockets (shared:4) and on
// connections of their own (per-user). Users 0021..0056 and rooms 004..007 are
// this test's own.
func TestRunKamailioInterop(t *testing.T) {
	addr := os.Getenv("CHATLOAD_KAMAILIO")
	if addr == "" {
		t.Skip("set CHATLOAD_KAMAILIO=127.0.0.1:5090 after scripts/kamailio/start.sh to run against Kamailio")
	}
	dir := t.TempDir()
	usersFile := func(name string, from, to int) string {
		p := filepath.Join(dir, name)
		var b strings.Builder
		b.WriteString("uri,username,password\n")
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "sip:user%04d@example.test,,pass%04d\n", i, i)
		}
		os.WriteFile(p, []byte(b.String()), 0o600)
		return p
	}
	cases := []struct {
		name     string
		args     []string
		expected uint64
	}{
		// 4 pairs in 2 rooms: 4 members a room, each post reaches 3.
		{"steady", []string{"--scenario", "steady", "--pairs", "4", "--users-file", usersFile("s.csv", 21, 28),
			"--rooms", "sip:room004@conf.example.test,sip:room005@conf.example.test"}, 100 * 3},
		// 2 rooms of 6: each post reaches 5.
		{"fanout", []string{"--scenario", "fanout", "--room-size", "6", "--users-file", usersFile("f.csv", 41, 52),
			"--rooms", "sip:room006@conf.example.test,sip:room007@conf.example.test"}, 100 * 5},
	}
	for _, c := range cases {
		for _, tr := range []string{"udp", "tcp", "udp/shared:4", "tcp/per-user"} {
			t.Run(c.name+"/"+tr, func(t *testing.T) {
				// Users multiplexed over 4 shared sockets, or each on a
				// connection of its own: the same exact counts.
				tr, sharing, _ := strings.Cut(tr, "/")
				out := filepath.Join(dir, c.name+tr+sharing+".json")
				args := append([]string{"run", "--target", addr, "--transport", tr, "--rate", "50/s",
					"--duration", "2s", "--quiet", "--out", out}, c.args...)
				if sharing != "" {
					args = append(args, "--transport-sharing", sharing)
				}
				code, stdout, stderr := runCLI(t, nil, args...)
				if code != 0 {
					t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
				}
				r := readReportFile(t, out)
				if sharing == "shared:4" && !strings.Contains(r.Generator.Note, "shared:4 (4 udp sockets") {
					t.Errorf("generator note %q; want the 4 shared sockets", r.Generator.Note)
				}
				m := r.Messages
				if m.Sent != 100 || m.Accepted != 100 || m.ExpectedDeliveries != c.expected || m.Delivered != c.expected ||
					m.Lost+m.Duplicated+m.Corrupted != 0 {
					t.Errorf("messages = %+v; want 100 sent and accepted, %d expected and delivered, nothing lost, duplicated or corrupted",
						m, c.expected)
				}
			})
		}
	}
}
