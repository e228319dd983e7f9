package server

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// An independent Lync client against the embedded server: Debian's
// pidgin-sipe (its own NTLM and MS-SIPAE signing), driven through libpurple
// by scripts/sipe/harness.c, signs on to serve --auth ntlm. Needs gcc,
// libpurple-dev and pidgin-sipe; skipped without them unless
// CHATLOAD_REQUIRE_SIPE=1 (CI), which makes their absence a failure.

func sipeHarness(t *testing.T) string {
	t.Helper()
	require := os.Getenv("CHATLOAD_REQUIRE_SIPE") == "1"
	missing := func(what string) string {
		if require {
			t.Fatalf("pidgin-sipe harness: %s", what)
		}
		t.Skipf("pidgin-sipe harness: %s (apt-get install gcc pkg-config libpurple-dev pidgin-sipe)", what)
		return ""
	}
	if runtime.GOOS != "linux" {
		return missing("linux only")
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "purple", "glib-2.0").Output()
	if err != nil {
		return missing("pkg-config finds no libpurple")
	}
	if m, _ := filepath.Glob("/usr/lib/*purple-2/libsipe.so"); len(m) == 0 {
		if m, _ = filepath.Glob("/usr/lib/*/purple-2/libsipe.so"); len(m) == 0 {
			return missing("the sipe plugin is not installed")
		}
	}
	bin := filepath.Join(t.TempDir(), "sipe-harness")
	args := append([]string{"-O1", "-Wall", "-o", bin, filepath.Join("..", "scripts", "sipe", "harness.c")}, strings.Fields(string(flags))...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("building the harness: %v\n%s", err, out)
	}
	return bin
}

func runSipe(t *testing.T, bin, addr, uri, login, password string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, addr, uri, login, "20")
	linger := os.Getenv("SIPE_LINGER") // seconds signed on before the harness exits
	if linger == "" {
		linger = "1"
	}
	cmd.Env = append(os.Environ(), "SIPE_PASSWORD="+password, "HOME="+t.TempDir(), "SIPE_LINGER="+linger)
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
	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"tcp:127.0.0.1:0"}
		c.Auth = []string{SchemeNTLM}
		c.now = nil
	})
	addr := s.Addr("tcp")
	code, out := runSipe(t, bin, addr, "user0001@example.test", `EXAMPLE\user0001`, "pass0001")
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
	code, out = runSipe(t, bin, addr, "user0002@example.test", `EXAMPLE\user0002`, "wrong-password")
	if code != 1 || !strings.Contains(out, "connection error") {
		t.Errorf("wrong password: exit %d (%s); want 1, a connection error", code, out)
	}
	if st := s.Stats(); st.AuthFailures != 1 {
		t.Errorf("auth_failures %d after the wrong password (sipe: %s); want 1; server: %+v", st.AuthFailures, strings.TrimSpace(out), st)
	}
}
