package xccos_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/server"
)

// killChildEnv names the data directory when this test binary runs as the
// server child of TestKill9History.
const killChildEnv = "CHATLOAD_XCCOS_KILL_CHILD_DATA"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		serveChild(dir) // never returns: the parent kills it
	}
	os.Exit(m.Run())
}

// serveChild runs an embedded server with durable history and prints its tcp
// address.
func serveChild(dir string) {
	srv, err := server.New(server.Config{Domain: domain, Listen: []string{"tcp:127.0.0.1:0"},
		Users: server.GeneratedUsers(2, domain), Generated: true, Rooms: 1,
		PChat: server.PChatConfig{DataDir: dir}})
	if err == nil {
		err = srv.Start(context.Background())
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ADDR", srv.Addr("tcp"))
	select {}
}

func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		t.Fatalf("server child: %q, %v", line, err)
	}
	return cmd, addr
}

// TestKill9History: every grpchat acknowledged with 200 survives SIGKILL of
// the server process; the restarted server's bccontext returns them all.
func TestKill9History(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	child, addr := startChild(t, dir)
	d, err := newDriverAt(addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Connect(ctx(t), user(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctx(t), "room001"); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := s.Send(ctx(t), "room001", engine.Message{Body: fmt.Sprint("kill9 ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	d.Close()

	_, addr2 := startChild(t, dir)
	d2, err := newDriverAt(addr2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	s2, err := d2.Connect(ctx(t), user(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Join(ctx(t), "room001"); err != nil { // history is for members
		t.Fatal(err)
	}
	h, err := s2.(engine.HistoryFetcher).History(ctx(t), "room001", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != n {
		t.Fatalf("history after SIGKILL: %d messages; want %d", len(h), n)
	}
	for i, m := range h {
		if want := fmt.Sprint("kill9 ", i); m.Body != want {
			t.Errorf("history[%d] = %q; want %q", i, m.Body, want)
		}
	}
	_ = s2.Close(ctx(t))
}
