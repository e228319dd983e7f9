package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

// testAsMain makes this test binary run chatload's main: the embedded server's
// child process of the CLI tests that call run() is this binary, told so.
const testAsMain = "CHATLOAD_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(testAsMain) == "1" {
		main()
		return
	}
	childCommand = func() (string, []string, error) {
		exe, err := os.Executable()
		return exe, []string{testAsMain + "=1"}, err
	}
	os.Exit(m.Run())
}

var childPIDLine = regexp.MustCompile(`embedded server: chatload serve, pid (\d+),`)

// childPID is the embedded server's pid a run printed on stderr, 0 when none.
func childPID(stderr string) int {
	m := childPIDLine.FindStringSubmatch(stderr)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// processGone reports whether pid no longer runs (it does not exist or is a
// zombie waiting for a parent that does not reap it).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		// pid (comm) STATE ...: comm may hold spaces, the state follows the last ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			return s[i+2] == 'Z' || s[i+2] == 'X'
		}
	}
	return false
}

// waitGone waits (bounded) until pid is gone; the test fails if it is not.
func waitGone(t *testing.T, pid int, after string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the embedded server (pid %d) still runs 20 s after %s", pid, after)
		}
		time.Sleep(20 * time.Millisecond) // polling another process
	}
}

// TestEmbeddedChildNormalEnd: without --target the server runs as a child
// process; the report names it and carries its own figures, which agree with
// the generator's; the child is gone when run returns.
func TestEmbeddedChildNormalEnd(t *testing.T) {
	for _, tr := range []string{"udp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--transport", tr,
				"--rate", "50/s", "--iterations", "40", "--quiet", "--out", out)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			pid := childPID(stderr)
			if pid == 0 || pid == os.Getpid() {
				t.Fatalf("no child pid on stderr:\n%s", stderr)
			}
			if !processGone(pid) {
				t.Errorf("the embedded server (pid %d) still runs after the run", pid)
			}
			r := readReportFile(t, out)
			s := r.Target.Server
			if !r.Target.Embedded || s == nil || s.Process != report.ServerChild || s.PID != pid {
				t.Fatalf("target %+v, server %+v; want the child %d", r.Target, s, pid)
			}
			if s.CPUSeconds <= 0 || s.MaxRSSBytes < 1<<20 {
				t.Errorf("server CPU %v s, max RSS %d: want its own figures", s.CPUSeconds, s.MaxRSSBytes)
			}
			if s.Counters["lines"] != r.Messages.Sent || s.Counters["copies_ok"] != r.Messages.Delivered || s.Counters["registers_ok"] != 4 {
				t.Errorf("server counters %v; want lines = sent %d, copies_ok = delivered %d, 4 registrations",
					s.Counters, r.Messages.Sent, r.Messages.Delivered)
			}
			if !strings.Contains(stdout, "Server:    own process (pid "+strconv.Itoa(pid)+")") {
				t.Errorf("tables lack the server line:\n%s", stdout)
			}
			if strings.Contains(r.Generator.Note, "in-process") {
				t.Errorf("generator note %q", r.Generator.Note)
			}
		})
	}
}

// TestEmbeddedChildSetupFailure: a run that fails after the server started
// (here: its checkpoint cannot be created) leaves no server behind.
func TestEmbeddedChildSetupFailure(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "1", "--rate", "10/s",
		"--duration", "1s", "--quiet", "--checkpoint", filepath.Join(t.TempDir(), "no", "such", "dir", "c.ckpt"))
	if code == 0 {
		t.Fatalf("exit 0; want a failure\n%s\n%s", stdout, stderr)
	}
	pid := childPID(stderr)
	if pid == 0 {
		t.Fatalf("no child started:\n%s", stderr)
	}
	if !processGone(pid) {
		t.Errorf("the embedded server (pid %d) still runs after a setup failure", pid)
	}
}

// TestEmbeddedChildInterrupted: the run's context ending (Ctrl-C in main) ends
// the run with its report, and the child with it.
func TestEmbeddedChildInterrupted(t *testing.T) {
	e, outb, errb := testEnv(nil)
	stderr := &syncBuffer{line: make(chan struct{}, 1)}
	e.stderr = stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, interrupt := context.WithCancel(ctx)
	out := filepath.Join(t.TempDir(), "r.json")
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"run", "--scenario", "steady", "--pairs", "2", "--rate", "50/s",
			"--duration", "1m", "--quiet", "--out", out}, e)
	}()
	pid := 0
	for pid == 0 {
		select {
		case <-stderr.line:
			pid = childPID(stderr.String())
		case code := <-done:
			t.Fatalf("run ended (exit %d) before starting a child:\n%s", code, stderr.String())
		case <-ctx.Done():
			t.Fatalf("no child started:\n%s", stderr.String())
		}
	}
	interrupt()
	if code := <-done; code != 1 {
		t.Fatalf("exit %d; want 1 (interrupted)\n%s\n%s%s", code, outb, errb, stderr.String())
	}
	if !processGone(pid) {
		t.Errorf("the embedded server (pid %d) still runs after an interrupted run", pid)
	}
	if r := readReportFile(t, out); r.EndReason != "interrupted" || r.Target.Server == nil || r.Target.Server.PID != pid {
		t.Errorf("end %q, server %+v", r.EndReason, r.Target.Server)
	}
}

// TestEmbeddedFallbackInProcess: when no child can be started the server runs
// inside the generator, and the report says so.
func TestEmbeddedFallbackInProcess(t *testing.T) {
	saved := childCommand
	childCommand = func() (string, []string, error) { return filepath.Join(t.TempDir(), "no-such-chatload"), nil, nil }
	defer func() { childCommand = saved }()
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--rate", "50/s",
		"--iterations", "20", "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readReportFile(t, out)
	if s := r.Target.Server; s == nil || s.Process != report.ServerInProcess || s.Counters["lines"] != 20 {
		t.Errorf("server %+v; want in-process with 20 lines", s)
	}
	if !strings.Contains(r.Generator.Note, "embedded server in-process (no child process:") {
		t.Errorf("generator note %q; want the fallback warning", r.Generator.Note)
	}
	if !strings.Contains(stderr, "WARNING: embedded server: could not start it as a child process") {
		t.Errorf("stderr lacks the warning:\n%s", stderr)
	}
}

// startRunBinary starts the built chatload with args and returns once it printed
// its embedded server's pid; exited delivers its end.
func startRunBinary(t *testing.T, bin string, args ...string) (cmd *exec.Cmd, pid int, exited chan error, stderr *tailBuffer) {
	t.Helper()
	cmd = exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group of its own, as a shell's job
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stderr = &tailBuffer{max: 1 << 16}
	pids := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(stderr, sc.Text())
			if p := childPID(sc.Text()); p != 0 {
				pids <- p
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case pid = <-pids:
	case err := <-exited:
		t.Fatalf("chatload ended (%v) before starting its server:\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no embedded server within 60s:\n%s", stderr.String())
	}
	return cmd, pid, exited, stderr
}

// TestEmbeddedChildGoneAfterParentKilled: SIGKILL the generator (no handler
// runs); its child server must not outlive it.
func TestEmbeddedChildGoneAfterParentKilled(t *testing.T) {
	bin := buildChatload(t)
	cmd, pid, exited, _ := startRunBinary(t, bin, "run", "--scenario", "steady", "--pairs", "2",
		"--rate", "50/s", "--duration", "1m", "--quiet")
	if processGone(pid) {
		t.Fatalf("the embedded server (pid %d) is not running", pid)
	}
	// Its files (--stats): on Linux unlinked files it inherits (/dev/fd/3), so
	// nothing is left on disk when the generator is killed.
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "--stats\x00/dev/fd/3\x00") {
			t.Errorf("the child's --stats is no inherited file: %q", b)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	waitGone(t, pid, "its parent was killed")
}

// TestEmbeddedChildGoneAfterSIGINT: a real Ctrl-C (SIGINT to the generator, as
// the terminal sends it to the foreground process group) ends the run with
// a report that has the server's figures, and the server with it.
func TestEmbeddedChildGoneAfterSIGINT(t *testing.T) {
	bin := buildChatload(t)
	out := filepath.Join(t.TempDir(), "r.json")
	cmd, pid, exited, stderr := startRunBinary(t, bin, "run", "--scenario", "steady", "--pairs", "2",
		"--rate", "50/s", "--duration", "1m", "--quiet", "--out", out)
	// The terminal signals the whole foreground group; the child has its own, so
	// signal the generator's group as the terminal would.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("chatload ended with %v; want exit 1 (interrupted)\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("chatload did not end within 60s of SIGINT\n%s", stderr.String())
	}
	waitGone(t, pid, "an interrupted run")
	r := readReportFile(t, out)
	if s := r.Target.Server; r.EndReason != "interrupted" || s == nil || s.PID != pid || s.Counters["lines"] != r.Messages.Sent {
		t.Errorf("end %q, server %+v, sent %d; want interrupted with the child's figures", r.EndReason, s, r.Messages.Sent)
	}
	if strings.Contains(r.Generator.Note, "ended during the run") {
		t.Errorf("generator note %q: the Ctrl-C reached the server before the generator was done", r.Generator.Note)
	}
}
