package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

// startServeBin starts `chatload serve` (the built binary) on listen and returns it
// with the address it listens on once it serves.
func startServeBin(t *testing.T, bin, listen string, args ...string) (*exec.Cmd, string, chan error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", listen}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		addr := ""
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok && addr == "" {
				_, addr, _ = strings.Cut(a, " ")
			}
			if strings.HasPrefix(sc.Text(), "serving until interrupted") {
				addrs <- addr
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case a := <-addrs:
		return cmd, a, exited
	case err := <-exited:
		t.Fatalf("chatload serve ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("chatload serve not serving within 30s")
	}
	return nil, "", nil
}

// checkpointIntervals reads the complete interval lines of a checkpoint so far.
func checkpointIntervals(path string) []report.Interval {
	data, _ := os.ReadFile(path)
	var ivs []report.Interval
	for _, l := range strings.SplitAfter(string(data), "\n") {
		var line struct{ Interval *report.Interval }
		if !strings.HasSuffix(l, "\n") || json.Unmarshal([]byte(l), &line) != nil || line.Interval == nil {
			continue
		}
		ivs = append(ivs, *line.Interval)
	}
	return ivs
}

func sendErrors(iv report.Interval) uint64 { return iv.Operations["send"].Errors }

// TestReliabilityServerRestart: SIGKILL `chatload serve` mid-run, start it
// again on the same port: the generator's users log on and join again
// (reconnect operations) and the run's last intervals are clean again, for imc
// over UDP and TCP. Part of the reliability suite: where scripts/reliability.sh
// exists it runs this test (CHATLOAD_RELIABILITY set) and a plain go test
// leaves it to it; without the script, go test runs it.
func TestReliabilityServerRestart(t *testing.T) {
	if _, err := os.Stat("../../scripts/reliability.sh"); err == nil && os.Getenv("CHATLOAD_RELIABILITY") == "" {
		t.Skip("reliability suite: scripts/reliability.sh runs it (CHATLOAD_RELIABILITY=1)")
	}
	bin := buildChatload(t)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			users := filepath.Join(dir, "users.csv")
			var b strings.Builder
			b.WriteString("uri,username,password\n")
			for i := 1; i <= 8; i++ {
				fmt.Fprintf(&b, "sip:user%04d@example.test,,pass%04d\n", i, i)
			}
			if err := os.WriteFile(users, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			srv, addr, srvExited := startServeBin(t, bin, tr+":127.0.0.1:0", "--users", "8", "--rooms", "4")
			cp := filepath.Join(dir, "run.ckpt")
			out := filepath.Join(dir, "r.json")
			run := exec.Command(bin, "run", "--scenario", "steady", "--pairs", "4", "--rate", "40/s", "--duration", "14s",
				"--transport", tr, "--target", addr, "--users-file", users, "--timeout", "2s", "--delivery-timeout", "3s",
				"--interval", "1s", "--checkpoint", cp, "--out", out, "--quiet")
			var stderr strings.Builder
			run.Stderr = &stderr
			if err := run.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = run.Process.Kill() })
			runExited := make(chan error, 1)
			go func() { runExited <- run.Wait() }()

			// waitFor polls the checkpoint (another process writes it) until ok.
			waitFor := func(what string, ok func([]report.Interval) bool) {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for !ok(checkpointIntervals(cp)) {
					select {
					case err := <-runExited:
						t.Fatalf("run ended (%v) before %s\n%s", err, what, stderr.String())
					case <-time.After(50 * time.Millisecond):
					}
					if time.Now().After(deadline) {
						t.Fatalf("not %s within 30s\n%s", what, stderr.String())
					}
				}
			}
			steadyClean := func(ivs []report.Interval) int {
				n := 0
				for _, iv := range ivs {
					if iv.Phase == "steady" && iv.Messages.Sent > 0 && sendErrors(iv) == 0 {
						n++
					}
				}
				return n
			}
			waitFor("2 clean steady intervals", func(ivs []report.Interval) bool { return steadyClean(ivs) >= 2 })
			if err := srv.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-srvExited
			// Restarted once the outage shows: sends failing.
			waitFor("failed sends after the kill", func(ivs []report.Interval) bool {
				return len(ivs) > 0 && sendErrors(ivs[len(ivs)-1]) > 0
			})
			startServeBin(t, bin, tr+":"+addr, "--users", "8", "--rooms", "4")

			select {
			case err := <-runExited:
				var ee *exec.ExitError
				if err != nil && !errors.As(err, &ee) {
					t.Fatalf("run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("run not ended within 60s\n%s", stderr.String())
			}
			r := readReportFile(t, out)
			rc := r.Operations["reconnect"]
			if rc.Count == 0 || rc.Count == rc.Errors {
				t.Fatalf("reconnect %+v; want reconnects that succeeded\n%s", rc, stderr.String())
			}
			// The outage: failed sends in some interval; the recovery: the last steady
			// intervals are clean again, with every accepted post delivered.
			var outage, lastBad, lastSteady int = -1, -1, -1
			for i, iv := range r.Intervals {
				if iv.Phase != "steady" {
					continue
				}
				lastSteady = i
				if sendErrors(iv) > 0 {
					lastBad = i
					if outage < 0 {
						outage = i
					}
				}
			}
			if outage < 0 || lastSteady-lastBad < 2 {
				t.Fatalf("steady intervals: outage from %d, last failing %d, last %d; want an outage and 2 clean intervals after it", outage, lastBad, lastSteady)
			}
			// Copies of posts accepted while a receiver was still logging on again are
			// lost, and counted when their delivery timeout ends; UDP on a busy
			// machine may reorder: those are the only failures allowed after the
			// recovery. A post may be answered in the next interval.
			var sent, accepted, delivered uint64
			for _, iv := range r.Intervals[lastBad+1 : lastSteady+1] {
				m := iv.Messages
				sent, accepted, delivered = sent+m.Sent, accepted+m.Accepted, delivered+m.Delivered
				for _, f := range iv.Failures {
					if f.Class != report.Lost && f.Class != report.OutOfOrder {
						t.Errorf("interval after the recovery: failures %+v", iv.Failures)
					}
				}
				if m.Sent == 0 || m.Delivered == 0 {
					t.Errorf("interval after the recovery: messages %+v", m)
				}
			}
			if accepted+2 < sent || delivered < sent*9/10 {
				t.Errorf("after the recovery %d posts, %d accepted, %d delivered; want nearly all", sent, accepted, delivered)
			}
			// Receivers too: every user logged on again (senders find the loss, their
			// rooms' receivers are recovered with them).
			if succeeded := rc.Count - rc.Errors; succeeded < 8 {
				t.Errorf("%d reconnects succeeded; want all 8 users back", succeeded)
			}
		})
	}
}
