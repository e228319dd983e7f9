package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chatload/chatload/server"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// wiretap is a TCP proxy on loopback that records every SIP message crossing
// it, in order per direction: what a capture on the wire would show.
type wiretap struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu   sync.Mutex
	msgs []wireMsg
}

type wireMsg struct {
	up   bool // client to server
	text []byte
}

func newWiretap(t *testing.T, target string) *wiretap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wiretap{ln: ln, target: target}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			w.wg.Add(2)
			go w.pipe(c, s, true)
			go w.pipe(s, c, false)
		}
	}()
	t.Cleanup(func() { ln.Close(); w.wg.Wait() })
	return w
}

// pipe copies from src to dst message by message, recording each.
func (w *wiretap) pipe(src, dst net.Conn, up bool) {
	defer w.wg.Done()
	defer dst.Close()
	r := bufio.NewReader(src)
	for {
		m, err := readSIP(r)
		if len(m) > 0 {
			w.mu.Lock()
			w.msgs = append(w.msgs, wireMsg{up: up, text: m})
			w.mu.Unlock()
			if _, werr := dst.Write(m); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// readSIP reads one message of a SIP stream (headers, then Content-Length
// bytes of body); keep-alive CRLFs are passed on as they are.
func readSIP(r *bufio.Reader) ([]byte, error) {
	var b bytes.Buffer
	n := 0
	for {
		line, err := r.ReadBytes('\n')
		b.Write(line)
		if err != nil {
			return b.Bytes(), err
		}
		if bytes.Equal(line, []byte("\r\n")) {
			if b.Len() == 2 {
				return b.Bytes(), nil // a keep-alive
			}
			break
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok {
			if k = strings.ToLower(strings.TrimSpace(k)); k == "content-length" || k == "l" {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	body := make([]byte, n)
	_, err := io.ReadFull(r, body)
	b.Write(body)
	return b.Bytes(), err
}

// The normalisation of a captured message: what varies from run to run
// (tags, Call-IDs, branches, ports, epids and what derives from them, nonces,
// envelope ids, times) becomes a placeholder, credentials keep only the
// names of their parameters (no password-derived value), and a body becomes
// the names of what it carries.
var wireNorm = []struct {
	re  *regexp.Regexp
	rep string
}{
	{regexp.MustCompile(`tag=[^;>,\s]+`), "tag=<tag>"},
	{regexp.MustCompile(`epid=[0-9a-f]+`), "epid=<epid>"},
	{regexp.MustCompile(`branch=[^;,\s]+`), "branch=<branch>"},
	{regexp.MustCompile(`urn:uuid:[0-9a-f-]+`), "urn:uuid:<instance>"},
	{regexp.MustCompile(`opaque=user:epid:[A-Za-z0-9_-]+`), "opaque=user:epid:<id>"},
	{regexp.MustCompile(`(127\.0\.0\.1|\[::1\]):\d+`), "$1:<port>"},
	{regexp.MustCompile(`rport=\d+`), "rport=<port>"},
	{regexp.MustCompile(`received=[^;,\s]+`), "received=<ip>"},
	{regexp.MustCompile(`user000\d`), "<user>"},
	{regexp.MustCompile(`chatload/\S+`), "chatload/<version>"},
}

var credRe = regexp.MustCompile(`(?i)^((?:proxy-)?(?:authorization|authenticate|www-authenticate|authentication-info)):\s*(\S+)\s+(.*)$`)

func normalizeWire(m wireMsg) string {
	head, body, _ := strings.Cut(string(m.text), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var out []string
	dir := "C>S"
	if !m.up {
		dir = "S>C"
	}
	for i, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "call-id", "i":
			l = k + ": <call-id>"
		case "cseq":
			_, meth, _ := strings.Cut(strings.TrimSpace(v), " ")
			l = k + ": <n> " + meth
		case "content-length", "l":
			continue
		}
		if i == 0 {
			l = dir + " " + l
		}
		if c := credRe.FindStringSubmatch(l); c != nil {
			var names []string
			for _, p := range strings.Split(c[3], ",") {
				n, _, _ := strings.Cut(strings.TrimSpace(p), "=")
				names = append(names, n)
			}
			l = c[1] + ": " + c[2] + " <" + strings.Join(names, ",") + " redacted>"
		}
		for _, n := range wireNorm {
			l = n.re.ReplaceAllString(l, n.rep)
		}
		out = append(out, l)
	}
	if body != "" {
		out = append(out, "  body: "+bodyShape(body))
	}
	return strings.Join(out, "\n")
}

var itemRe = regexp.MustCompile(`<(cmd|rpl|ntc) id="([^"]+)"|<grpchat|<provisionGroup name="([^"]+)"|<provisioningGroup name="([^"]+)"`)

func bodyShape(body string) string {
	if strings.HasPrefix(body, "v=0") {
		return "sdp " + regexp.MustCompile(`c=[^\r\n]*`).FindString(body) + " " + regexp.MustCompile(`m=[^\r\n]*`).FindString(body)
	}
	var kinds []string
	for _, m := range itemRe.FindAllStringSubmatch(body, -1) {
		switch {
		case m[1] == "ntc":
			// Which notices a run sees depends on timing (a part racing the
			// other user's part sends none): one shape for all.
			kinds = append(kinds, "ntc:<notice>")
		case m[2] != "":
			kinds = append(kinds, m[2])
		case m[3] != "":
			kinds = append(kinds, "provisionGroup "+m[3])
		case m[4] != "":
			kinds = append(kinds, "provisioningGroup "+m[4])
		default:
			kinds = append(kinds, "grpchat")
		}
	}
	if len(kinds) == 0 {
		return fmt.Sprintf("%d bytes", len(body))
	}
	return strings.Join(kinds, " + ")
}

// TestXccosWireGolden captures `chatload test --protocol xccos` on the wire
// (tcp through a recording proxy to the embedded server) and compares the
// shapes of its messages, one of each kind, with testdata/xccos_wire.golden:
// epid on every From, User-Agent on every request, the +sip.instance and
// gruu support on REGISTER, the GRUU as Contact afterwards, the in-band
// provisioning SUBSCRIBE, Record-Route on the INVITE's 200 and the Route on
// every later request of the dialog, one XCCOS item per server INFO.
// Credentials keep only their parameter names; no password, nonce or
// response value is in the golden file. go test -run TestXccosWireGolden
// -update rewrites it.
func TestXccosWireGolden(t *testing.T) {
	cfg := server.Config{Listen: []string{"tcp:127.0.0.1:0"}, Users: server.GeneratedUsers(2, ""), Generated: true, Rooms: 1}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tap := newWiretap(t, srv.Addr("tcp"))
	code, out, errb := runCLI(t, nil, "test", "--protocol", "xccos", "--transport", "tcp", "--target", tap.ln.Addr().String(),
		"--sender", "sip:user0001@example.test", "--sender-credential", "pass0001",
		"--receiver", "sip:user0002@example.test", "--receiver-credential", "pass0002", "--room", "room001")
	if code != 0 || field(out, "Result") != "Success" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	srv.Close() // ends the proxied connections: every message is recorded
	tap.ln.Close()
	tap.wg.Wait()

	if path := os.Getenv("CHATLOAD_WIRE_DUMP"); path != "" {
		// The raw exchange, credentials redacted, for notes and debugging.
		var b strings.Builder
		for _, m := range tap.msgs {
			dir := "client -> server"
			if !m.up {
				dir = "server -> client"
			}
			fmt.Fprintf(&b, "==== %s\n", dir)
			for _, l := range strings.Split(string(m.text), "\r\n") {
				if c := credRe.FindStringSubmatch(l); c != nil {
					l = c[1] + ": " + c[2] + " <redacted>"
				}
				b.WriteString(l + "\n")
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	var shapes []string
	all := ""
	for _, m := range tap.msgs {
		all += string(m.text)
		s := normalizeWire(m)
		if !seen[s] {
			seen[s] = true
			shapes = append(shapes, s)
		}
	}
	sort.Strings(shapes)
	got := strings.Join(shapes, "\n\n") + "\n"
	for _, secret := range []string{"pass0001", "pass0002"} {
		if strings.Contains(got, secret) {
			t.Fatalf("the golden text holds a password")
		}
	}
	// Checks that hold whatever the golden file says.
	for _, m := range tap.msgs {
		s := string(m.text)
		if m.up && !strings.HasPrefix(s, "SIP/2.0") && !strings.Contains(s, "\r\nUser-Agent: chatload/") {
			t.Errorf("a request without User-Agent:\n%s", s)
		}
		if m.up && !strings.HasPrefix(s, "SIP/2.0") && !regexp.MustCompile(`\r\nFrom: [^\r]*;epid=[0-9a-f]{16}`).MatchString(s) {
			t.Errorf("a request without epid on From:\n%s", s)
		}
		if m.up && regexp.MustCompile(`^(INFO|BYE|UPDATE|ACK) `).MatchString(s) && !strings.Contains(s, "\r\nRoute: <sip:127.0.0.1:") {
			t.Errorf("an in-dialog request without the route set:\n%s", s)
		}
	}
	path := filepath.Join("testdata", "xccos_wire.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		wantSet := map[string]bool{}
		for _, b := range strings.Split(strings.TrimSpace(string(want)), "\n\n") {
			wantSet[b] = true
		}
		var diff []string
		for _, b := range shapes {
			if !wantSet[b] {
				diff = append(diff, "+++ new shape:\n"+b)
			}
			delete(wantSet, b)
		}
		for b := range wantSet {
			diff = append(diff, "--- missing shape:\n"+b)
		}
		t.Errorf("the wire differs from %s (run with -update after checking the change):\n%s", path, strings.Join(diff, "\n\n"))
	}
}
