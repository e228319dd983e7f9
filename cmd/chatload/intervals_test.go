package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
)

// readCheckpointFile reads a checkpoint with report.ReadCheckpoint.
func readCheckpointFile(t *testing.T, path string) *report.Report {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := report.ReadCheckpoint(fh)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRunIntervalOutputs: one run writes the checkpoint (whose end line is the
// report), the hlog and the report's intervals, all saying the same.
func TestRunIntervalOutputs(t *testing.T) {
	dir := t.TempDir()
	out, cp, hl := filepath.Join(dir, "r.json"), filepath.Join(dir, "run.ckpt"), filepath.Join(dir, "run.hlog")
	code, stdout, stderr := runCLI(t, nil, "run", "--scenario", "steady", "--pairs", "2", "--rate", "50/s", "--duration", "2s",
		"--interval", "500ms", "--checkpoint", cp, "--hlog", hl, "--metrics-addr", "127.0.0.1:0", "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`live metrics at http://127\.0\.0\.1:\d+/metrics`).MatchString(stderr) {
		t.Errorf("stderr does not say where the metrics are:\n%s", stderr)
	}
	rep := readReportFile(t, out)
	// 2s of steady, setup and drain: 4 intervals of 500ms at least, the last partial.
	if len(rep.Intervals) < 5 {
		t.Fatalf("%d intervals; want at least 5", len(rep.Intervals))
	}
	var sent, delivered uint64
	for k, iv := range rep.Intervals {
		if want := rep.StartedAt.Add(time.Duration(k) * 500 * time.Millisecond); !iv.Start.Equal(want) {
			t.Errorf("interval %d starts at %v; want %v", k, iv.Start, want)
		}
		sent += iv.Messages.Sent
		delivered += iv.Messages.Delivered
	}
	if sent != 100 || delivered != rep.Messages.Delivered || rep.Messages.Sent != 100 {
		t.Errorf("intervals: %d sent, %d delivered; report %+v; want 100 sent in both", sent, delivered, rep.Messages)
	}
	got := readCheckpointFile(t, cp)
	if got.EndReason != "completed" || got.Messages != rep.Messages || len(got.Intervals) != len(rep.Intervals) ||
		got.Operations["delivery"].Histogram != rep.Operations["delivery"].Histogram || got.RunID != rep.RunID {
		t.Errorf("checkpoint: %s, %+v, %d intervals; want the report: %s, %+v, %d intervals",
			got.EndReason, got.Messages, len(got.Intervals), rep.EndReason, rep.Messages, len(rep.Intervals))
	}
	data, err := os.ReadFile(hl)
	if err != nil {
		t.Fatal(err)
	}
	// One delivery line per interval with a successful delivery: how many of the
	// intervals got deliveries depends on how the machine scheduled the run (a
	// busy one may bunch them), so the check is against the report's intervals.
	want := 0
	for _, iv := range rep.Intervals {
		if o, ok := iv.Operations["delivery"]; ok && o.Count > o.Errors && o.Histogram != "" {
			want++
		}
	}
	if n := strings.Count(string(data), "\nTag=delivery,"); !strings.HasPrefix(string(data), "#[Histogram log format version 1.3]\n") || n != want || n < 2 {
		t.Errorf("hlog has %d delivery lines; want %d (the report's intervals with deliveries), at least 2:\n%s", n, want, data)
	}
}

func TestRunIntervalUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "10ms"}, "--interval 10ms: want at least 100ms"},
		{[]string{"--checkpoint", filepath.Join(dir, "no", "such", "dir", "c")}, "--checkpoint:"},
		{[]string{"--hlog", filepath.Join(dir, "no", "such", "dir", "h")}, "--hlog:"},
		{[]string{"--metrics-addr", "127.0.0.1:notaport"}, "--metrics-addr 127.0.0.1:notaport"},
		{[]string{"--segment", "4/4"}, "--segment: \"4/4\": the index is 0-based"},
		{[]string{"--segment", "0/11"}, "10 rooms with pairs for 11 segments"},
	}
	for _, tc := range cases {
		args := append([]string{"run", "--scenario", "steady", "--duration", "1s", "--quiet"}, tc.args...)
		code, _, stderr := runCLI(t, nil, args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %s; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestLiveMetrics feeds intervals and progress to the metrics and scrapes them.
func TestLiveMetrics(t *testing.T) {
	m := newLiveMetrics("run-1", "steady", "127.0.0.1:5060")
	srv, err := serveMetrics("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	for k := range 2 {
		rec := report.NewRecorder()
		for i := range 100 {
			rec.Record(report.OpDelivery, time.Duration(i+1)*time.Millisecond, 0, nil) // 1..100ms
		}
		rec.Record(report.OpSend, 0, 0, report.Errorf(report.Rejected, "send", 403, "no"))
		rec.Record(report.OpSend, 2*time.Millisecond, 0, nil)
		m.interval(report.Interval{Operations: rec.Operations(), Failures: rec.Failures(),
			Messages: report.Messages{Sent: 2, Accepted: 1, Delivered: 100, Lost: uint64(k)},
			Load:     report.IntervalLoad{Dropped: 3}, Generator: report.Generator{CPUSeconds: 0.25, ScheduleLagP99US: 1500}})
	}
	m.progress(engine.Progress{InFlight: 7, TargetRate: 200, AchievedRate: 199.5, Phase: engine.PhaseSteady, Elapsed: 3 * time.Second})
	resp, err := http.Get("http://" + srv.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`chatload_run_info{run_id="run-1",scenario="steady",target="127.0.0.1:5060"} 1`,
		`chatload_operations_total{op="send",result="ok"} 2`,
		`chatload_operations_total{op="send",result="error"} 2`,
		`chatload_operations_total{op="delivery",result="ok"} 200`,
		`chatload_messages_total{state="delivered"} 200`,
		`chatload_messages_total{state="lost"} 1`,
		`chatload_failures_total{class="rejected"} 2`,
		`chatload_dropped_total 6`,
		`chatload_generator_cpu_seconds_total 0.5`,
		`chatload_schedule_lag_p99_seconds 0.0015`,
		`chatload_intervals_total 2`,
		// 1..100ms twice: 2 values <= 1ms, 20 <= 10ms, 200 <= 100ms.
		`chatload_latency_seconds_bucket{op="delivery",le="0.001"} 2`,
		`chatload_latency_seconds_bucket{op="delivery",le="0.01"} 20`,
		`chatload_latency_seconds_bucket{op="delivery",le="0.1"} 200`,
		`chatload_latency_seconds_count{op="delivery"} 200`,
		`chatload_in_flight 7`,
		`chatload_target_rate 200`,
		`chatload_achieved_rate 199.5`,
		`chatload_phase{phase="steady"} 1`,
		`chatload_phase{phase="drain"} 0`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("no %s in:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`chatload_interval_latency_seconds\{op="delivery",quantile="0.99"\} 0\.099`).Match(body) {
		t.Errorf("no delivery p99 of ~99ms in:\n%s", body)
	}
}

// buildChatload builds the chatload binary into a temporary directory.
func buildChatload(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "chatload")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// countLines counts the interval lines of a checkpoint file so far (complete lines).
func countLines(path, typ string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"type":"`+typ+`"`) {
			n++
		}
	}
	return n
}

// killAfterIntervals starts cmd, waits (bounded) until the checkpoint at path has
// n interval lines, then kills it with SIGKILL.
func killAfterIntervals(t *testing.T, cmd *exec.Cmd, path string, n int) {
	t.Helper()
	killWhen(t, cmd, path, fmt.Sprintf("%d intervals", n), func() bool { return countLines(path, "interval") >= n })
}

// killWhen starts cmd, waits (bounded) until ready() reports true, then kills it with
// SIGKILL.
func killWhen(t *testing.T, cmd *exec.Cmd, path, what string, ready func() bool) {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond) // polling a file another process writes
	defer tick.Stop()
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("chatload exited (%v) before %s\n%s", err, what, stderr.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("not %s in the checkpoint within 60s\n%s", what, stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("chatload ended with %v; want killed", err)
	}
}

// sumCheckpointIntervals adds up the complete interval lines of a checkpoint with
// plain arithmetic, independently of ReadCheckpoint.
func sumCheckpointIntervals(t *testing.T, path string) (n int, msgs report.Messages, ops map[string]uint64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ops = map[string]uint64{}
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasSuffix(l, "\n") || !strings.HasPrefix(l, `{"type":"interval"`) {
			continue // the header, or a torn last line
		}
		var line struct{ Interval report.Interval }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		iv := line.Interval
		n++
		m := iv.Messages
		msgs.Sent += m.Sent
		msgs.Accepted += m.Accepted
		msgs.ExpectedDeliveries += m.ExpectedDeliveries
		msgs.Delivered += m.Delivered
		msgs.Lost += m.Lost
		msgs.Duplicated += m.Duplicated
		msgs.OutOfOrder += m.OutOfOrder
		msgs.Corrupted += m.Corrupted
		for name, o := range iv.Operations {
			ops[name] += o.Count
		}
	}
	return n, msgs, ops
}

// TestCheckpointSurvivesKill: kill -9 mid-run, then the checkpoint gives the report
// of everything up to the last complete interval, marked crashed.
func TestCheckpointSurvivesKill(t *testing.T) {
	bin := buildChatload(t)
	dir := t.TempDir()
	cp := filepath.Join(dir, "run.ckpt")
	cmd := exec.Command(bin, "run", "--scenario", "steady", "--pairs", "4", "--rate", "100/s", "--duration", "1m",
		"--interval", "1s", "--checkpoint", cp, "--hlog", filepath.Join(dir, "run.hlog"), "--quiet")
	killAfterIntervals(t, cmd, cp, 3)

	n, msgs, ops := sumCheckpointIntervals(t, cp)
	rep := readCheckpointFile(t, cp)
	if rep.EndReason != report.EndCrashed || len(rep.Intervals) != n || n < 3 {
		t.Fatalf("end %q, %d intervals; want crashed with the %d complete ones (3 or more)", rep.EndReason, len(rep.Intervals), n)
	}
	if rep.Messages != msgs || msgs.Sent == 0 {
		t.Errorf("messages %+v; want the intervals' sum %+v", rep.Messages, msgs)
	}
	for name, c := range ops {
		if rep.Operations[name].Count != c {
			t.Errorf("%s: %d; want the intervals' sum %d", name, rep.Operations[name].Count, c)
		}
	}
	// chatload report renders it (the command owner B wrote, on ReadCheckpoint).
	code, out, stderr := runCLI(t, nil, "report", cp, "--format", "json")
	if code != 0 {
		t.Fatalf("chatload report: exit %d\n%s", code, stderr)
	}
	r2, err := report.ReadReport(strings.NewReader(out))
	if err != nil || r2.EndReason != report.EndCrashed || r2.Messages != msgs {
		t.Errorf("chatload report: %v, %+v; want crashed with %+v", err, r2, msgs)
	}
}

// TestCheckpointMatchesServer: kill -9 a run against an out-of-process-like server
// (chatload serve in this test process), once its posts are all done and it waits
// for copies the server dropped (its drain), so that the checkpoint's complete
// intervals hold everything the server saw: the counts must match the server's
// exactly.
func TestCheckpointMatchesServer(t *testing.T) {
	bin := buildChatload(t)
	dir := t.TempDir()
	stats := filepath.Join(dir, "serve-stats.json")
	s := startServe(t, "--listen", "udp:127.0.0.1:0", "--users", "8", "--rooms", "4", "--stats", stats,
		"--fault-drop", "10%", "--fault-seed", "3")
	users := filepath.Join(dir, "users.csv")
	var csv strings.Builder
	csv.WriteString("uri,username,password\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&csv, "sip:user%04d@example.test,,pass%04d\n", i, i)
	}
	if err := os.WriteFile(users, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "run.ckpt")
	// 200 posts over 2s, then a drain of up to 1 minute waiting for the dropped copies.
	cmd := exec.Command(bin, "run", "--scenario", "steady", "--pairs", "4", "--rate", "100/s", "--iterations", "200",
		"--delivery-timeout", "1m", "--timeout", "1m", "--target", s.addr(t, "udp"), "--users-file", users,
		"--interval", "1s", "--checkpoint", cp, "--quiet")
	// Killed in the drain, one whole interval after every post was answered: every copy
	// the server sent is in the complete intervals by then.
	killWhen(t, cmd, cp, "the drain after the last answer", func() bool {
		data, _ := os.ReadFile(cp)
		var sent uint64
		answered := -1 // index of the first interval ending with all posts answered
		k := 0
		for _, l := range strings.SplitAfter(string(data), "\n") {
			var line struct{ Interval *report.Interval }
			if !strings.HasSuffix(l, "\n") || json.Unmarshal([]byte(l), &line) != nil || line.Interval == nil {
				continue
			}
			sent += line.Interval.Messages.Sent
			if answered < 0 && sent == 200 && line.Interval.Load.InFlight == 0 && line.Interval.Phase == engine.PhaseDrain {
				answered = k
			}
			k++
		}
		return answered >= 0 && k > answered+1
	})
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exit %d\n%s", code, s.errb)
	}
	var st struct {
		Lines        uint64 `json:"lines"`
		CopiesOK     uint64 `json:"copies_ok"`
		FaultDropped uint64 `json:"fault_dropped"`
	}
	data, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	rep := readCheckpointFile(t, cp)
	m := rep.Messages
	if rep.EndReason != report.EndCrashed || st.FaultDropped == 0 {
		t.Fatalf("end %q, server dropped %d; want crashed, some dropped", rep.EndReason, st.FaultDropped)
	}
	// Every post answered, every copy the server sent received; the dropped ones
	// still awaited (their deadline is a minute away), so not counted yet.
	if m.Sent != 200 || m.Accepted != st.Lines || m.Delivered != st.CopiesOK || m.Delivered+st.FaultDropped != 200 || m.Lost != 0 {
		t.Errorf("checkpoint %+v; server lines %d, copies delivered %d, dropped %d", m, st.Lines, st.CopiesOK, st.FaultDropped)
	}
}

// TestSegmentsMatchOneProcess runs 4 segments (4 processes) of a workload against
// one server and merges their reports with chatload merge: the counts equal those of
// one process running the whole workload.
func TestSegmentsMatchOneProcess(t *testing.T) {
	bin := buildChatload(t)
	dir := t.TempDir()
	s := startServe(t, "--listen", "udp:127.0.0.1:0", "--users", "16", "--rooms", "8")
	users := filepath.Join(dir, "users.csv")
	var csv strings.Builder
	csv.WriteString("uri,username,password\n")
	for i := 1; i <= 16; i++ {
		fmt.Fprintf(&csv, "sip:user%04d@example.test,,pass%04d\n", i, i)
	}
	if err := os.WriteFile(users, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// Long timeouts: a busy test machine must not turn a slow answer into a failure in
	// one run and not in the other.
	args := []string{"run", "--scenario", "steady", "--pairs", "8", "--rate", "200/s", "--iterations", "402",
		"--target", s.addr(t, "udp"), "--users-file", users, "--interval", "1s", "--quiet",
		"--timeout", "1m", "--delivery-timeout", "1m"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	whole := filepath.Join(dir, "whole.json")
	if out, err := exec.CommandContext(ctx, bin, append(args, "--out", whole)...).CombinedOutput(); err != nil {
		t.Fatalf("one process: %v\n%s", err, out)
	}
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	var segs []string
	for i := range 4 {
		seg := filepath.Join(dir, fmt.Sprintf("seg-%d.json", i))
		segs = append(segs, seg)
		c := exec.CommandContext(ctx, bin, append(args, "--segment", fmt.Sprintf("%d/4", i), "--out", seg)...)
		var b strings.Builder
		c.Stdout, c.Stderr = &b, &b
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, c), append(outs, &b)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("segment %d/4: %v\n%s", i, err, outs[i])
		}
	}
	merged := filepath.Join(dir, "merged.json")
	if code, out, stderr := runCLI(t, nil, append([]string{"merge", "--quiet", "--out", merged}, segs...)...); code != 0 {
		t.Fatalf("chatload merge: exit %d\n%s\n%s", code, out, stderr)
	}
	w, m := readReportFile(t, whole), readReportFile(t, merged)
	// Out of order depends on how the copies raced through the server: timing, not
	// workload.
	w.Messages.OutOfOrder, m.Messages.OutOfOrder = 0, 0
	if w.Messages != m.Messages || w.Messages.Sent != 402 || w.Messages.Delivered != 402 {
		t.Errorf("merged messages %+v; one process %+v (want 402 sent and delivered)", m.Messages, w.Messages)
	}
	for _, op := range []string{"register", "join", "send", "delivery", "leave", "unregister"} {
		if w.Operations[op].Count != m.Operations[op].Count || w.Operations[op].Errors != m.Operations[op].Errors {
			t.Errorf("%s: merged %d/%d; one process %d/%d", op, m.Operations[op].Count, m.Operations[op].Errors,
				w.Operations[op].Count, w.Operations[op].Errors)
		}
	}
	if m.Load.Dropped != w.Load.Dropped {
		t.Errorf("dropped: merged %d; one process %d", m.Load.Dropped, w.Load.Dropped)
	}
}
