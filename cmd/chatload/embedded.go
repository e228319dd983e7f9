package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

// The embedded server of a command without --target (run, watch; capacity may
// use it the same way): a `chatload serve` child process of the same binary,
// beside the generator rather than inside it, so that the generator's Go runtime
// (its Ps, its scheduler, its pacer) measures the server instead of competing
// with it. The child:
//
//   - listens on a free loopback port of the run's transport, serves the run's
//     users and rooms, and writes its TLS certificate for the generator to trust;
//   - is ready when it printed its listening addresses and answered a SIP OPTIONS;
//   - stops when its stdin, a pipe from the generator, ends: Stop closes it, and
//     so does the kernel when the generator dies in any way (SIGKILL included).
//     On Linux Pdeathsig kills it too; it runs in its own process group, so a
//     Ctrl-C at the terminal reaches only the generator, which stops it after
//     its report is drained;
//   - writes its counters and resource use (serve --stats) at the end, which the
//     report shows as the target's own figures.
//
// When the child cannot be started, the server runs in-process as before, with
// a warning on stderr and in the report's generator note.

// embeddedOptions are what the embedded server serves.
type embeddedOptions struct {
	Domain    string
	Transport string           // udp, tcp or tls: its one listener, on 127.0.0.1
	Users     []scenarios.User // the run's users: generated (UsersFile "") or read from UsersFile
	UsersFile string
	Rooms     int
	Faults    server.FaultFlags // --fault-*, passed through
	InProcess bool              // run it inside this process (no child)
	Auth      []string          // the schemes it offers (serve --auth); nil: digest
	// AnnounceMax: in rooms with more members, a join or exit is told only to the
	// member (serve --announce-max); 0 tells every member, as imc does.
	AnnounceMax int
}

// embeddedReadyTimeout bounds the child's start: generating a million users and
// listening takes a few seconds.
const embeddedReadyTimeout = 60 * time.Second

// embeddedStopTimeout bounds a graceful stop before the child is killed.
const embeddedStopTimeout = 15 * time.Second

// embeddedEnv names the environment variable that chooses where the embedded
// server runs: "in-process" keeps it inside the generator (as before child
// processes; for comparisons), anything else a child process.
const embeddedEnv = "CHATLOAD_EMBEDDED"

// childCommand returns the program to start as the child and extra environment
// for it: this executable. Tests replace it (their binary runs main when told).
var childCommand = func() (string, []string, error) {
	exe, err := os.Executable()
	return exe, nil, err
}

// embeddedServer is a started embedded server. Addr and TLS are what a driver
// needs; Stop ends it. Its methods are for one goroutine.
type embeddedServer struct {
	Addr   string      // host:port of its listener
	TLS    *tls.Config // trusts its certificate; nil unless transport tls
	Note   string      // why it runs in-process when a child was wanted, "" otherwise
	faults server.Faults

	// A child process.
	cmd     *exec.Cmd
	stdin   *os.File      // the write end of the child's stdin: closing it stops the child
	dir     string        // its stats and certificate files (not childFilesByFD)
	statsF  *os.File      // childFilesByFD: its --stats, fd 3 in the child
	certF   *os.File      // childFilesByFD: its --tls-cert-out, fd 4 in the child
	done    chan struct{} // closed when the child has been waited for
	waitErr error         // its exit, valid after done
	errTail *tailBuffer   // its stderr, when not passed through

	// In-process.
	srv *server.Server

	stopped bool
	figures *report.Server
	endNote string
}

// PID is the child's process id, 0 in-process.
func (s *embeddedServer) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// startEmbedded starts the embedded server and waits until it answers. It
// prints one line on stderr saying where it runs. A child process that cannot be
// started is replaced by an in-process server (s.Note says why); an error is
// returned only when neither can start, or ctx ends first.
func startEmbedded(ctx context.Context, e *env, o embeddedOptions) (*embeddedServer, error) {
	faults, err := o.Faults.Faults()
	if err != nil {
		return nil, usageErr("%v", err)
	}
	var why string
	switch {
	case o.InProcess:
	case e.getenv(embeddedEnv) == "in-process":
		why = embeddedEnv + "=in-process"
	default:
		s, err := startChild(ctx, e, o)
		if err == nil {
			s.faults = faults
			fmt.Fprintf(e.stderr, "embedded server: chatload serve, pid %d, on %s %s\n", s.PID(), o.Transport, s.Addr)
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, &exitError{code: 1, err: fmt.Errorf("embedded server: %w", ctx.Err())}
		}
		why = "no child process: " + err.Error()
		fmt.Fprintf(e.stderr, "WARNING: embedded server: could not start it as a child process (%v); running it inside the generator, whose figures then include it\n", err)
	}
	s, err := startInProcess(ctx, o, faults)
	if err != nil {
		return nil, err
	}
	if why != "" {
		s.Note = "embedded server in-process (" + why + "): the generator's figures include it"
	}
	return s, nil
}

func startInProcess(ctx context.Context, o embeddedOptions, faults server.Faults) (*embeddedServer, error) {
	srv, err := server.New(server.Config{
		Domain:      o.Domain,
		Listen:      []string{o.Transport + ":127.0.0.1:0"},
		Users:       o.Users,
		Generated:   o.UsersFile == "",
		Rooms:       o.Rooms,
		Faults:      faults,
		Auth:        o.Auth,
		AnnounceMax: o.AnnounceMax,
	})
	if err != nil {
		return nil, usageErr("embedded server: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		srv.Close()
		return nil, &exitError{code: 1, err: fmt.Errorf("embedded server: %w", err)}
	}
	s := &embeddedServer{Addr: srv.Addrs()[0].Addr, faults: faults, srv: srv}
	if s.TLS, err = embeddedTLS(o.Transport, srv.CertificatePEM()); err != nil {
		srv.Close()
		return nil, &exitError{code: 1, err: err}
	}
	return s, nil
}

// childArgs are the serve arguments of the child, its files at statsPath and
// certPath.
func childArgs(o embeddedOptions, statsPath, certPath string) []string {
	args := []string{"serve", "--parent-pipe",
		"--listen", o.Transport + ":127.0.0.1:0",
		"--domain", o.Domain,
		"--rooms", strconv.Itoa(o.Rooms),
		"--stats", statsPath,
		"--log-level", "error",
	}
	if o.UsersFile != "" {
		f := o.UsersFile
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		args = append(args, "--users-file", f)
	} else {
		args = append(args, "--users", strconv.Itoa(max(1, len(o.Users))))
	}
	if o.Transport == "tls" {
		args = append(args, "--tls-cert-out", certPath)
	}
	if len(o.Auth) > 0 {
		args = append(args, "--auth", strings.Join(o.Auth, ","))
	}
	if o.AnnounceMax > 0 {
		args = append(args, "--announce-max", strconv.Itoa(o.AnnounceMax))
	}
	for _, f := range []struct{ name, v string }{
		{"--fault-drop", o.Faults.Drop}, {"--fault-dup", o.Faults.Dup},
		{"--fault-delay", o.Faults.Delay}, {"--fault-stall", o.Faults.Stall},
	} {
		if f.v != "" {
			args = append(args, f.name, f.v)
		}
	}
	return append(args, "--fault-seed", strconv.FormatInt(o.Faults.Seed, 10))
}

func startChild(ctx context.Context, e *env, o embeddedOptions) (_ *embeddedServer, err error) {
	exe, extraEnv, err := childCommand()
	if err != nil {
		return nil, fmt.Errorf("this executable: %w", err)
	}
	s := &embeddedServer{done: make(chan struct{})}
	var statsPath, certPath string
	var extra []*os.File
	if childFilesByFD {
		// Its files are unlinked files it inherits (fds 3 and 4): nothing is left
		// on disk whatever ends the generator.
		for range 2 {
			f, err := unlinkedTemp()
			if err != nil {
				s.closeFiles()
				return nil, err
			}
			extra = append(extra, f)
		}
		s.statsF, s.certF = extra[0], extra[1]
		statsPath, certPath = "/dev/fd/3", "/dev/fd/4"
	} else {
		dir, err := os.MkdirTemp("", "chatload-serve-")
		if err != nil {
			return nil, err
		}
		s.dir = dir
		statsPath, certPath = filepath.Join(dir, "stats.json"), filepath.Join(dir, "cert.pem")
	}
	defer func() {
		if err != nil {
			s.kill()
			s.closeFiles()
		}
	}()
	cmd := exec.Command(exe, childArgs(o, statsPath, certPath)...)
	cmd.ExtraFiles = extra
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.SysProcAttr = childSysProcAttr()
	// Pipes of our own (os.Pipe is close-on-exec here): exec.Cmd's would make
	// Wait wait for their readers.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	if f, ok := e.stderr.(*os.File); ok {
		cmd.Stderr = f // its diagnostics as they come
	} else {
		s.errTail = &tailBuffer{max: 4096}
		cmd.Stderr = s.errTail
	}
	s.cmd, s.stdin = cmd, inW
	if err := s.start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	inR.Close()
	outW.Close()

	// Ready: its listening address and "serving", then an OPTIONS answered.
	rctx, cancel := context.WithTimeout(ctx, embeddedReadyTimeout)
	defer cancel()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-s.done:
			}
		}
		outR.Close()
	}()
	go func() { // read the rest, so that a late line never blocks the child
		<-rctx.Done()
		for range lines {
		}
	}()
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				<-s.done
				return nil, fmt.Errorf("chatload serve ended before serving: %v%s", s.waitErr, s.stderrTail())
			}
			if a, found := strings.CutPrefix(l, "listening on "); found && s.Addr == "" {
				_, s.Addr, _ = strings.Cut(a, " ")
			}
			ready = strings.HasPrefix(l, "serving until interrupted")
		case <-s.done:
			return nil, fmt.Errorf("chatload serve ended before serving: %v%s", s.waitErr, s.stderrTail())
		case <-rctx.Done():
			return nil, fmt.Errorf("chatload serve did not serve within %v: %w", embeddedReadyTimeout, rctx.Err())
		}
	}
	if s.Addr == "" {
		return nil, errors.New("chatload serve did not say where it listens")
	}
	if o.Transport == "tls" {
		pem, err := s.readFile(s.certF, certPath)
		if err != nil {
			return nil, fmt.Errorf("its certificate: %w", err)
		}
		if s.TLS, err = embeddedTLS(o.Transport, pem); err != nil {
			return nil, err
		}
	}
	if err := pingSIP(rctx, o.Transport, s.Addr, s.TLS); err != nil {
		return nil, fmt.Errorf("chatload serve on %s does not answer: %w", s.Addr, err)
	}
	return s, nil
}

// start starts the child and waits for it in a goroutine that keeps its OS
// thread for the child's life: Linux's Pdeathsig fires when the thread that
// started the child ends, not only the process.
func (s *embeddedServer) start() error {
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := s.cmd.Start()
		started <- err
		if err != nil {
			close(s.done)
			return
		}
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	return <-started
}

// unlinkedTemp returns a temporary file already removed from its directory.
func unlinkedTemp() (*os.File, error) {
	f, err := os.CreateTemp("", "chatload-serve-")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readFile reads one of the child's files: f (childFilesByFD) or path.
func (s *embeddedServer) readFile(f *os.File, path string) ([]byte, error) {
	if f == nil {
		return os.ReadFile(path)
	}
	return io.ReadAll(io.NewSectionReader(f, 0, 1<<26))
}

// closeFiles releases the child's files.
func (s *embeddedServer) closeFiles() {
	for _, f := range []*os.File{s.statsF, s.certF} {
		if f != nil {
			f.Close()
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// kill ends the child at once and waits for it (startChild's failures).
func (s *embeddedServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.stdin.Close()
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *embeddedServer) stderrTail() string {
	if s.errTail == nil {
		return ""
	}
	if t := strings.TrimSpace(s.errTail.String()); t != "" {
		return ": " + t
	}
	return ""
}

// Stop ends the server, and returns its figures for the report and a note for
// the generator's (in-process, or a child that ended badly); "" when all went
// well. A child is asked to stop (its stdin closed) and killed after
// embeddedStopTimeout. Later calls return the same.
func (s *embeddedServer) Stop(e *env) (*report.Server, string) {
	if s.stopped {
		return s.figures, s.endNote
	}
	s.stopped = true
	var notes []string
	if s.Note != "" {
		notes = append(notes, s.Note)
	}
	var counters map[string]uint64
	if s.srv != nil {
		s.srv.Close()
		st := s.srv.Stats()
		b, _ := json.Marshal(st)
		counters, _, _ = flattenStats(b)
		s.figures = &report.Server{Process: report.ServerInProcess, Counters: counters}
	} else {
		early := false
		select {
		case <-s.done:
			early = true // it ended during the run
		default:
		}
		s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(embeddedStopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			notes = append(notes, fmt.Sprintf("embedded server killed: not stopped within %v", embeddedStopTimeout))
		}
		if early || s.waitErr != nil {
			notes = append(notes, fmt.Sprintf("embedded server (pid %d) ended during the run: %v", s.PID(), s.waitErr))
			fmt.Fprintf(e.stderr, "WARNING: embedded server (pid %d) ended during the run: %v%s\n", s.PID(), s.waitErr, s.stderrTail())
		}
		s.figures = &report.Server{Process: report.ServerChild, PID: s.PID()}
		if b, err := s.readFile(s.statsF, filepath.Join(s.dir, "stats.json")); err == nil && len(b) > 0 {
			var cpu float64
			var rss uint64
			counters, cpu, rss = flattenStats(b)
			s.figures.Counters, s.figures.CPUSeconds, s.figures.MaxRSSBytes = counters, cpu, rss
		} else if !early {
			notes = append(notes, "embedded server wrote no figures")
		}
		s.closeFiles()
	}
	if s.faults.Enabled() {
		fmt.Fprintf(e.stderr, "embedded server faults: %s; dropped %d, duplicated %d, delayed %d copies, %d stalls\n",
			s.faults, counters["fault_dropped"], counters["fault_duplicated"], counters["fault_delayed"], counters["fault_stalls"])
	}
	s.endNote = strings.Join(notes, "; ")
	return s.figures, s.endNote
}

// flattenStats reads serve's --stats JSON: its counters by name (nested objects
// as "requests.MESSAGE"), CPU seconds and max RSS.
func flattenStats(b []byte) (map[string]uint64, float64, uint64) {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil, 0, 0
	}
	out := map[string]uint64{}
	var cpu float64
	var rss uint64
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			switch v := v.(type) {
			case float64:
				switch prefix + k {
				case "cpu_seconds":
					cpu = v
				case "max_rss_bytes":
					rss = uint64(v)
				default:
					if v >= 0 {
						out[prefix+k] = uint64(v)
					}
				}
			case map[string]any:
				walk(prefix+k+".", v)
			}
		}
	}
	walk("", m)
	return out, cpu, rss
}

// pingSIP sends OPTIONS to addr until an answer comes (any SIP response), ctx ends.
func pingSIP(ctx context.Context, transport, addr string, tc *tls.Config) error {
	var last error
	for {
		if last = pingOnce(ctx, transport, addr, tc); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func pingOnce(ctx context.Context, transport, addr string, tc *tls.Config) error {
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	network := "tcp"
	if transport == "udp" {
		network = "udp"
	}
	var d net.Dialer
	c, err := d.DialContext(dctx, network, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if transport == "tls" {
		tlsc := tls.Client(c, tc)
		if err := tlsc.HandshakeContext(dctx); err != nil {
			return err
		}
		c = tlsc
	}
	deadline, _ := dctx.Deadline()
	_ = c.SetDeadline(deadline)
	var id [8]byte
	_, _ = rand.Read(id[:])
	tag := hex.EncodeToString(id[:])
	req := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;branch=z9hG4bK-ready-%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:chatload-ready@%s>;tag=%s\r\n"+
		"To: <sip:%s>\r\n"+
		"Call-ID: ready-%s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n",
		addr, strings.ToUpper(transport), c.LocalAddr(), tag, c.LocalAddr(), tag, addr, tag)
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if n >= 8 && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("not a SIP response: %q", buf[:min(n, 40)])
	}
	return err
}

// tailBuffer keeps the last max bytes written to it. Safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// runTarget is what a run (single or mixed) talks to: the target's address,
// the driver, and without --target the embedded server beside the generator.
type runTarget struct {
	addr     string          // the target's resolved address, or the embedded server's
	embedded bool            // no --target: emb runs it
	emb      *embeddedServer // nil with --target
	drv      closingDriver
	self     string // chatload's version (the driver's User-Agent)
	untrace  func()
}

// openRunTarget starts the embedded server (without --target: eo says what
// it serves; its domain, transport, faults and auth are cfg's) or resolves
// the target, and opens cfg's driver over it with sharing. close releases it
// all: the driver, the trace, the server.
func openRunTarget(ctx context.Context, e *env, f runFlags, cfg scenarios.Config, faults server.Faults,
	sharing sipua.Sharing, eo embeddedOptions) (_ *runTarget, err error) {
	if err := f.tls.validate(cfg.Transport, cfg.Target); err != nil {
		return nil, err
	}
	t := &runTarget{addr: cfg.Target, embedded: cfg.Target == "", untrace: func() {}}
	defer func() {
		if err != nil {
			t.close(e)
		}
	}()
	var tlsConf *tls.Config
	if t.embedded {
		if eo.Auth, err = embeddedAuth(cfg.Auth); err != nil {
			return nil, err
		}
		eo.Domain, eo.Transport, eo.Faults = cfg.Domain, cfg.Transport, f.faults
		if t.emb, err = startEmbedded(ctx, e, eo); err != nil {
			return nil, err
		}
		t.addr, tlsConf = t.emb.Addr, t.emb.TLS
		if faults.Enabled() {
			fmt.Fprintf(e.stderr, "embedded server with fault injection: %s\n", faults)
		}
	} else if t.addr, err = resolveTarget(ctx, e, cfg.Target, cfg.Transport); err != nil {
		return nil, usageErr("%v", err)
	} else if tlsConf, err = f.tls.config(e, cfg.Transport, cfg.Target); err != nil {
		return nil, err
	}
	var trace *sipua.Trace
	if trace, t.untrace, err = f.trace.open(); err != nil {
		return nil, err
	}
	t.self, _ = buildVersions()
	t.drv, err = drivers[cfg.Protocol](driverOptions{target: t.addr, transport: cfg.Transport, tls: tlsConf,
		timeout: cfg.Timeout, noRegister: cfg.NoRegister, userAgent: "chatload/" + t.self,
		auth: cfg.Auth, kerberos: kerberosConfig(e, cfg.Auth, cfg.Krb5Conf, cfg.Krb5Keytab), trace: trace,
		sharing: sharing, expires: cfg.Expires})
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return t, nil
}

// close closes the driver, the trace and the embedded server, and returns the
// server's end note (embeddedServer.Stop: "" when all went well; a second call
// returns what the first did). Safe to call more than once.
func (t *runTarget) close(e *env) (note string) {
	if t.drv != nil {
		t.drv.Close()
		t.drv = nil
	}
	t.untrace()
	t.untrace = func() {}
	if t.emb != nil {
		_, note = t.emb.Stop(e)
	}
	return note
}
