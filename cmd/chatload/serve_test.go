package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveOutput is an output stream a running command writes while the test reads it.
type serveOutput struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // capacity 1: signaled after every write
}

func newServeOutput() *serveOutput { return &serveOutput{changed: make(chan struct{}, 1)} }

func (s *serveOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *serveOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serving is a `chatload serve` running in the background until cancel.
type serving struct {
	out, errb *serveOutput
	cancel    context.CancelFunc
	done      chan int // the exit status, once run returns
}

// startServe runs chatload serve with args and returns once it serves (its
// "serving until interrupted" line is out). The wait is bounded; nothing sleeps.
func startServe(t *testing.T, args ...string) *serving {
	t.Helper()
	e, _, _ := testEnv(nil)
	s := &serving{out: newServeOutput(), errb: newServeOutput(), done: make(chan int, 1)}
	e.stdout, e.stderr = s.out, s.errb
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), e) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	deadline := time.NewTimer(serveWait)
	defer deadline.Stop()
	for !strings.Contains(s.out.String(), "serving until interrupted") {
		select {
		case <-s.out.changed:
		case code := <-s.done:
			s.done <- code
			t.Fatalf("serve exited %d before serving\nstdout:\n%s\nstderr:\n%s", code, s.out, s.errb)
		case <-deadline.C:
			t.Fatalf("serve not serving within %v\nstdout:\n%s\nstderr:\n%s", serveWait, s.out, s.errb)
		}
	}
	return s
}

// stop cancels the context, as Ctrl-C does, and returns the exit status.
func (s *serving) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		return code
	case <-time.After(serveWait):
		t.Fatalf("serve did not exit within %v of the interrupt", serveWait)
		return -1
	}
}

// addr returns the address serve printed for transport ("listening on udp 127.0.0.1:N").
func (s *serving) addr(t *testing.T, transport string) string {
	t.Helper()
	for _, l := range strings.Split(s.out.String(), "\n") {
		if a, ok := strings.CutPrefix(l, "listening on "+transport+" "); ok {
			return a
		}
	}
	t.Fatalf("no %s listener in:\n%s", transport, s.out)
	return ""
}

// serveWait bounds the waits of these tests: a failure guard, never a timing assumption.
const serveWait = 10 * time.Second

func TestServeInterruptWritesStats(t *testing.T) {
	stats := filepath.Join(t.TempDir(), "stats.json")
	s := startServe(t, "--listen", "udp:127.0.0.1:0,tcp:127.0.0.1:0", "--users", "3", "--rooms", "2",
		"--stats", stats, "--fault-drop", "2%", "--fault-dup", "0.01", "--fault-delay", "20ms,5ms",
		"--fault-stall", "1s/10s", "--fault-seed", "7")
	out := s.out.String()
	for _, want := range []string{
		"users: 3 generated, sip:user0001@example.test .. sip:user0003@example.test",
		"rooms: 2, sip:room001@conf.example.test .. sip:room002@conf.example.test",
		"fault injection: drop 2% of copies, dup 1% of copies, delay 20ms (+ jitter up to 5ms, may reorder), stall 1s every 10s, seed 7\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// One OPTIONS, so the stats show the server served.
	addr := s.addr(t, "udp")
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	la := c.LocalAddr().String()
	opt := "OPTIONS sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + la + ";branch=z9hG4bK-serve-test\r\n" +
		"From: <sip:probe@example.test>;tag=1\r\nTo: <sip:" + addr + ">\r\nCall-ID: serve-test\r\n" +
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(opt)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(serveWait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 OK") {
		t.Fatalf("OPTIONS: got %q, %v; want 200 OK", buf[:n], err)
	}

	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d after the interrupt; want 0\nstderr:\n%s", code, s.errb)
	}
	b, err := os.ReadFile(stats)
	if err != nil {
		t.Fatalf("--stats file: %v", err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("--stats is not JSON: %v\n%s", err, b)
	}
	for _, k := range []string{"requests", "lines", "copies_sent", "copies_ok", "notices_sent",
		"fault_dropped", "fault_duplicated", "fault_delayed", "fault_stalls"} {
		if _, ok := st[k]; !ok {
			t.Errorf("--stats lacks %q:\n%s", k, b)
		}
	}
	if req, _ := st["requests"].(map[string]any); req["OPTIONS"] != 1.0 {
		t.Errorf("--stats requests: got %v; want OPTIONS 1", st["requests"])
	}
}

func TestServeStatsToStdout(t *testing.T) {
	s := startServe(t, "--listen", "tcp:127.0.0.1:0", "--users", "1", "--rooms", "0", "--stats", "-")
	if out := s.out.String(); strings.Contains(out, "fault injection") || !strings.Contains(out, "rooms: none") {
		t.Errorf("output: want no fault line and no rooms:\n%s", out)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d; want 0\n%s", code, s.errb)
	}
	out := s.out.String()
	js := out[strings.Index(out, "{"):]
	var st struct {
		FaultDropped *uint64 `json:"fault_dropped"`
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil || st.FaultDropped == nil || *st.FaultDropped != 0 {
		t.Errorf("--stats -: got %v, %v; want JSON with fault_dropped 0 on stdout:\n%s", st, err, out)
	}
}

func TestServeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badUsers := filepath.Join(dir, "users.csv")
	os.WriteFile(badUsers, []byte("uri,username,password\nsip:a@example.test,,pw-alpha\n\nnot-a-uri,,pw-beta\n"), 0o600)
	goodUsers := filepath.Join(dir, "good.csv")
	os.WriteFile(goodUsers, []byte("uri,username,password\nsip:a@example.test,,pw-alpha\n"), 0o600)
	lo := "--listen=udp:127.0.0.1:0"
	cases := []struct {
		args []string
		want []string // all in stderr
	}{
		{[]string{"--listen", "udp:127.0.0.1"}, []string{"--listen", "transport:host:port"}},
		{[]string{"--listen", "sctp:127.0.0.1:5060"}, []string{"--listen", "sctp"}},
		{[]string{"--listen", "udp:sip.example.test:5060"}, []string{"--listen", "not an IP address"}},
		{[]string{lo, "--users", "5", "--users-file", goodUsers}, []string{"--users and --users-file"}},
		{[]string{lo, "--users-file", badUsers}, []string{badUsers + ":4:", "not-a-uri"}},
		{[]string{lo, "--users-file", filepath.Join(dir, "missing.csv")}, []string{"--users-file", "missing.csv"}},
		{[]string{"--listen", "udp:0.0.0.0:0"}, []string{"0.0.0.0:0", "--allow-remote"}},
		{[]string{"--listen", "tcp::0"}, []string{":0", "--allow-remote"}},
		{[]string{lo, "--fault-drop", "2x"}, []string{"--fault-drop", "2x"}},
		{[]string{lo, "--fault-drop", "150%"}, []string{"--fault-drop", "150%"}},
		{[]string{lo, "--fault-dup", "-0.5"}, []string{"--fault-dup"}},
		{[]string{lo, "--fault-drop", "60%", "--fault-dup", "50%"}, []string{"--fault-drop 60% with --fault-dup 50%"}},
		{[]string{lo, "--fault-delay", "20"}, []string{"--fault-delay", `"20"`}},
		{[]string{lo, "--fault-delay", "20ms,-5ms"}, []string{"--fault-delay", "jitter"}},
		{[]string{lo, "--fault-stall", "1s"}, []string{"--fault-stall", "D/EVERY"}},
		{[]string{lo, "--fault-stall", "10s/1s"}, []string{"--fault-stall", "0 < D < EVERY"}},
		{[]string{lo, "--fault-seed", "many"}, []string{"--fault-seed"}},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, append([]string{"serve"}, c.args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d; want 2\nstdout:\n%s\nstderr:\n%s", c.args, code, out, errb)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errb, w) {
				t.Errorf("%v: stderr %q; want it to contain %q", c.args, errb, w)
			}
		}
		if strings.Contains(out, "listening on") {
			t.Errorf("%v: listened despite the usage error:\n%s", c.args, out)
		}
		if strings.Contains(errb+out, "pw-") {
			t.Errorf("%v: a password appears in the output:\n%s\n%s", c.args, out, errb)
		}
	}
}

func TestServeCannotListen(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	code, out, errb := runCLI(t, nil, "serve", "--listen", "udp:"+addr)
	if code != 1 || !strings.Contains(errb, addr) {
		t.Errorf("port in use: exit %d, stderr %q; want 1 naming %s\n%s", code, errb, addr, out)
	}
}

func TestServeUsersFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(f, []byte("# test users\nuri,username,password\nsip:alice@example.test,,s3cret-a\nsip:bob@example.test,bobauth,s3cret-b\n"), 0o600)
	// Users from a file may be served on any address; this test keeps to loopback.
	s := startServe(t, "--listen", "udp:127.0.0.1:0", "--users-file", f, "--rooms", "1")
	out := s.out.String()
	if !strings.Contains(out, "users: 2 from "+f+", sip:alice@example.test .. sip:bob@example.test") {
		t.Errorf("output lacks the users line:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("a password appears in the output:\n%s", out)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d; want 0\n%s", code, s.errb)
	}
}
