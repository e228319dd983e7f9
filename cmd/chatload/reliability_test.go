package main

// The reliability suite: `chatload serve` as a real process under what hostile
// or broken clients do (scripts/reliability.sh runs it, .ci/run runs that).
// Each test is bounded in count and time. They run when CHATLOAD_RELIABILITY
// is set: they flood loopback and take tens of seconds.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func reliability(t *testing.T) string {
	t.Helper()
	if os.Getenv("CHATLOAD_RELIABILITY") == "" {
		t.Skip("reliability suite: set CHATLOAD_RELIABILITY=1 (scripts/reliability.sh)")
	}
	return buildChatload(t)
}

// serveProc is a chatload serve process.
type serveProc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *syncBuf
	addrs  map[string]string // transport -> address
	metric string            // metrics URL
	done   chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServeProc runs `ulimit -n nofile; chatload serve args...` (nofile 0: as
// inherited) and waits for its "serving until interrupted" line.
func startServeProc(t *testing.T, bin string, nofile int, args ...string) *serveProc {
	t.Helper()
	script := `exec "$0" serve "$@"`
	if nofile > 0 {
		script = fmt.Sprintf("ulimit -n %d && %s", nofile, script)
	}
	cmd := exec.Command("bash", append([]string{"-c", script, bin}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, stdout: bufio.NewReader(out), stderr: &syncBuf{}, addrs: map[string]string{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	lines := make(chan string)
	go func() {
		for {
			l, err := p.stdout.ReadString('\n')
			if err != nil {
				close(lines)
				_, _ = io.Copy(io.Discard, p.stdout)
				p.done <- cmd.Wait()
				return
			}
			lines <- strings.TrimSpace(l)
		}
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before serving; stderr:\n%s", p.stderr.String())
			}
			if rest, ok := strings.CutPrefix(l, "listening on "); ok {
				tr, addr, _ := strings.Cut(rest, " ")
				p.addrs[tr] = addr
			}
			if rest, ok := strings.CutPrefix(l, "metrics: "); ok {
				p.metric = rest
			}
			if strings.HasPrefix(l, "serving until interrupted") {
				go func() {
					for range lines {
					}
				}()
				return p
			}
		case <-deadline:
			t.Fatalf("serve not serving within 30s; stderr:\n%s", p.stderr.String())
		}
	}
}

// metrics scrapes the process's counters: name (without chatload_server_) -> value.
func (p *serveProc) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	res, err := http.Get(p.metric)
	if err != nil {
		t.Fatalf("scrape %s: %v", p.metric, err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		l := sc.Text()
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		name, val, ok := l[:i], l[i+1:], true
		if !ok || strings.HasPrefix(l, "#") || !strings.HasPrefix(name, "chatload_server_") {
			continue
		}
		v, _ := strconv.ParseFloat(val, 64)
		out[strings.TrimPrefix(name, "chatload_server_")] = v
	}
	return out
}

// rssKiB reads the process's resident set size.
func (p *serveProc) rssKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// optionsOK sends an OPTIONS over a new TCP connection (from local IP from, ""
// for any) and reports a 200.
func optionsOK(addr string, from ...string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	if len(from) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from[0])}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	req := fmt.Sprintf("OPTIONS sip:example.test SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK%d\r\nFrom: <sip:a@example.test>;tag=1\r\n"+
		"To: <sip:example.test>\r\nCall-ID: rel-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", c.LocalAddr(), time.Now().UnixNano(), time.Now().UnixNano())
	if _, err := c.Write([]byte(req)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
		return fmt.Errorf("answer %q", buf[:n])
	}
	return nil
}

// TestReliabilityConnectionFlood: more idle TCP connections than the server's
// file limit (ulimit -n 256). With the default cap (the limit less 128) and a
// per-address cap, the excess is refused at accept and counted while the
// listener keeps serving other addresses; with the cap lifted, accept fails with EMFILE, is logged and retried, and
// the listener serves again once connections go (before: the TCP listener was
// gone for good, silently). Idle connections are closed after --idle-timeout.
func TestReliabilityConnectionFlood(t *testing.T) {
	bin := reliability(t)
	const flood = 400
	dialAll := func(addr string) []net.Conn {
		var cs []net.Conn
		for range flood {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				break // the backlog is full: enough
			}
			cs = append(cs, c)
		}
		return cs
	}
	closeAll := func(cs []net.Conn) {
		for _, c := range cs {
			c.Close()
		}
	}

	t.Run("default cap", func(t *testing.T) {
		p := startServeProc(t, bin, 256, "--listen", "tcp:0.0.0.0:0", "--allow-remote", "--max-connections-per-addr", "100",
			"--metrics-addr", "127.0.0.1:0", "--log-level", "warn")
		addr := strings.Replace(p.addrs["tcp"], "0.0.0.0", "127.0.0.1", 1)
		cs := dialAll(addr)
		defer closeAll(cs)
		if err := optionsOK(addr, "127.0.0.2"); err != nil {
			t.Fatalf("OPTIONS during a flood of %d connections: %v", len(cs), err)
		}
		m := p.metrics(t)
		if m["connections_rejected_total"] < float64(len(cs)-100) || m["connections_open"] > 101 {
			t.Errorf("metrics after %d connections: rejected %v open %v", len(cs), m["connections_rejected_total"], m["connections_open"])
		}
		if !strings.Contains(p.stderr.String(), "connection refused") {
			t.Errorf("no log line for the refused connections:\n%.2000s", p.stderr.String())
		}
	})

	t.Run("past the file limit", func(t *testing.T) {
		p := startServeProc(t, bin, 256, "--listen", "tcp:127.0.0.1:0", "--max-connections", "100000",
			"--idle-timeout", "3s", "--metrics-addr", "127.0.0.1:0", "--log-level", "warn")
		cs := dialAll(p.addrs["tcp"])
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(p.stderr.String(), "accept failed; retrying") {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections to a server limited to 256 files: no accept error logged:\n%.2000s", len(cs), p.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		closeAll(cs)
		var err error
		for time.Now().Before(deadline) {
			if err = optionsOK(p.addrs["tcp"]); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("the TCP listener did not serve again after the flood: %v\n%.2000s", err, p.stderr.String())
		}
		if m := p.metrics(t); m["accept_errors_total"] == 0 {
			t.Errorf("accept_errors_total is 0")
		}
		// Idle connections go: open one, send nothing, see it closed.
		c, err := net.Dial("tcp", p.addrs["tcp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("an idle connection: read %v, want EOF after --idle-timeout 3s", err)
		}
	})
}

// TestReliabilityUnauthenticatedFlood: 200,000 OPTIONS from one source and
// 20,000 from distinct source ports, as fast as loopback takes them; the
// server's RSS grows by less than 32 MiB (before: ~1.2 KB per OPTIONS for 32 s
// and ~200 bytes per source forever), the excess is rate-limited and counted,
// and the server still answers.
func TestReliabilityUnauthenticatedFlood(t *testing.T) {
	bin := reliability(t)
	p := startServeProc(t, bin, 0, "--listen", "udp:127.0.0.1:0,tcp:127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--unauth-rate", "1000")
	before := p.rssKiB(t)
	dst, _ := net.ResolveUDPAddr("udp", p.addrs["udp"])
	req := func(i int, la string) []byte {
		return fmt.Appendf(nil, "OPTIONS sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKf%d\r\nFrom: <sip:a@example.test>;tag=%d\r\n"+
			"To: <sip:example.test>\r\nCall-ID: flood-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", la, i, i, i)
	}
	one, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	for i := range 200000 {
		_, _ = one.WriteTo(req(i, one.LocalAddr().String()), dst)
	}
	for i := range 20000 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.WriteTo(req(1000000+i, c.LocalAddr().String()), dst)
		c.Close()
	}
	// Wait until the server has handled what reached it (the count stops moving).
	var m map[string]float64
	const opts = `requests_total{method="OPTIONS"}`
	last := -1.0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		m = p.metrics(t)
		if m[opts] == last {
			break
		}
		last = m[opts]
	}
	after := p.rssKiB(t)
	t.Logf("RSS %d KiB -> %d KiB; OPTIONS received %v, rate-limited %v", before, after, m[opts], m["rate_limited_total"])
	if after-before > 32<<10 {
		t.Errorf("RSS grew by %d KiB under the flood, want < 32 MiB", after-before)
	}
	if m["rate_limited_total"] == 0 {
		t.Error("nothing was rate-limited")
	}
	if err := optionsOK(p.addrs["tcp"], "127.0.0.3"); err != nil {
		t.Errorf("after the flood: %v", err)
	}
}

// TestReliabilityDamagedHistory: a damaged, truncated or empty --data
// history.db makes serve exit 2 with a message naming the file, never a crash
// (before: SIGSEGV, "invalid freelist page" panics); a second serve on the same
// --data says so plainly.
func TestReliabilityDamagedHistory(t *testing.T) {
	bin := reliability(t)
	seed := func(dir string) string {
		path := filepath.Join(dir, "history.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			for i := range 3000 {
				b, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "room%d", i%5))
				if err != nil {
					return err
				}
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], uint64(i))
				if err := b.Put(k[:], bytes.Repeat([]byte("m"), 80)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		return path
	}
	damage := map[string]func(path string) error{
		"empty":          func(p string) error { return os.Truncate(p, 0) },
		"truncated 8KiB": func(p string) error { return os.Truncate(p, 8192) },
		"truncated half": func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/2)
		},
		"zeroed middle": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			clear(b[len(b)/3 : 2*len(b)/3])
			return os.WriteFile(p, b, 0o600)
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := seed(dir)
			if err := f(path); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "serve", "--listen", "udp:127.0.0.1:0", "--data", dir).CombinedOutput()
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 2 || !strings.Contains(string(out), path) || regexp.MustCompile(`panic|fatal error|SIGSEGV|goroutine \d`).Match(out) {
				t.Errorf("serve --data on a %s history.db: exit %d, output:\n%s", name, code, out)
			}
		})
	}
	t.Run("two servers", func(t *testing.T) {
		dir := t.TempDir()
		startServeProc(t, bin, 0, "--listen", "udp:127.0.0.1:0", "--data", dir)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "serve", "--listen", "udp:127.0.0.1:0", "--data", dir).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "in use by another process") {
			t.Errorf("second serve on one --data: %v, output:\n%s", err, out)
		}
	})
}

// The server SIGKILL + restart mid-run test with recovery checked in the
// intervals is TestReliabilityServerRestart in recover_test.go (iss15's
// generator recovery work); scripts/reliability.sh runs it with these.
