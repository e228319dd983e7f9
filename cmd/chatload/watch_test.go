package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/server"
)

// startWatch runs chatload watch in the background with its JSON lines on a pipe
// (each line is read by the test before the watcher can write the next) and returns
// a reader of the lines, its stderr, and a function that stops it and returns its
// exit status.
func startWatch(t *testing.T, args ...string) (*bufio.Scanner, *syncBuffer, func() int) {
	t.Helper()
	pr, pw := io.Pipe()
	errb := &syncBuffer{}
	e, _, _ := testEnv(nil)
	e.stdout, e.stderr = pw, errb
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"watch"}, args...), e)
		pw.Close()
	}()
	stop := sync.OnceValue(func() int {
		cancel()
		go io.Copy(io.Discard, pr) // unblock a line being written
		return <-done
	})
	t.Cleanup(func() { stop() })
	return bufio.NewScanner(pr), errb, stop
}

var metricsURL = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

// scrape reads the Prometheus text exposition at url: "name{labels}" -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metric line %q", l)
		}
		m[l[:i]] = v
	}
	return m
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readLines reads n JSON lines of the watcher.
func readLines(t *testing.T, sc *bufio.Scanner, n int) []report.TestResult {
	t.Helper()
	var rs []report.TestResult
	for len(rs) < n {
		if !sc.Scan() {
			t.Fatalf("watch log ended after %d lines: %v", len(rs), sc.Err())
		}
		var r report.TestResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", len(rs)+1, err, sc.Text())
		}
		rs = append(rs, r)
	}
	return rs
}

// TestWatchEmbedded runs the watcher for 3 transactions against the embedded server
// (a child process, gone when the watch ends) and checks its JSON lines and its
// scraped metrics.
func TestWatchEmbedded(t *testing.T) {
	t0 := time.Now()
	sc, errb, stop := startWatch(t, "--every", "50ms", "--metrics-addr", "127.0.0.1:0", "--timeout", "10s")
	rs := readLines(t, sc, 3)
	var target string
	for i, r := range rs {
		if r.Result != "Success" || r.Target != "embedded" || r.Protocol != "imc" || r.Transport != "udp" ||
			r.Sender != "sip:user0001@example.test" || r.Receiver != "sip:user0002@example.test" ||
			!strings.HasPrefix(r.Room, "sip:room001@conf.example.test") || len(r.Steps) != 13 || r.Latency <= 0 {
			t.Errorf("line %d = %+v; want a Success of the embedded server with all fields", i+1, r)
		}
		if r.Timestamp.Before(t0.Add(-time.Second)) || r.Timestamp.After(time.Now()) {
			t.Errorf("line %d timestamp %v; want within the test", i+1, r.Timestamp)
		}
		if i > 0 && !r.Timestamp.After(rs[i-1].Timestamp) {
			t.Errorf("line %d timestamp %v not after the previous %v", i+1, r.Timestamp, rs[i-1].Timestamp)
		}
		if i > 0 && r.TargetFqdn != target {
			t.Errorf("line %d target %s; want the same embedded server %s every time", i+1, r.TargetFqdn, target)
		}
		target = r.TargetFqdn
	}
	mm := metricsURL.FindStringSubmatch(errb.String())
	if mm == nil {
		t.Fatalf("no metrics address on stderr: %q", errb.String())
	}
	m := scrape(t, mm[1])
	// The watcher records a transaction before writing its line, and cannot write the
	// 4th before we read it: 3 or 4 transactions are in the metrics.
	n := m[`chatload_watch_transactions_total{result="success"}`]
	if n < 3 || n > 4 || m[`chatload_watch_transactions_total{result="failure"}`] != 0 {
		t.Fatalf("transactions: success %v failure %v; want 3 or 4 successes\n%v", n, m[`chatload_watch_transactions_total{result="failure"}`], m)
	}
	if got := m["chatload_watch_latency_seconds_count"]; got != n {
		t.Errorf("latency histogram count %v; want %v", got, n)
	}
	if m["chatload_watch_latency_seconds_sum"] <= 0 || m[`chatload_watch_latency_seconds_bucket{le="+Inf"}`] != n {
		t.Errorf("latency histogram sum %v, +Inf bucket %v", m["chatload_watch_latency_seconds_sum"], m[`chatload_watch_latency_seconds_bucket{le="+Inf"}`])
	}
	for _, step := range []string{engine.StepLogonSender, engine.StepJoinReceiver, engine.StepDeliverySender, engine.StepDeliveryRecv, engine.StepLogoffReceiver} {
		if got := m[`chatload_watch_step_latency_seconds_count{step="`+step+`"}`]; got != n {
			t.Errorf("step %s histogram count %v; want %v", step, got, n)
		}
	}
	if m["chatload_watch_last_success"] != 1 {
		t.Errorf("last_success = %v; want 1", m["chatload_watch_last_success"])
	}
	ok := m["chatload_watch_last_success_timestamp_seconds"]
	if want := float64(rs[2].Timestamp.UnixNano()) / 1e9; ok < want-0.001 {
		t.Errorf("last success time %v; want at least the 3rd transaction's %v", ok, want)
	}
	if m[`chatload_watch_info{protocol="imc",receiver="sip:user0002@example.test",room="`+rs[0].Room+`",sender="sip:user0001@example.test",target="`+target+`",transport="udp"}`] != 1 {
		t.Errorf("no chatload_watch_info for the target:\n%v", m)
	}
	base := strings.TrimSuffix(mm[1], "/metrics")
	if code, body := getStatus(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s; want 200", code, body)
	}
	if code, body := getStatus(t, base+"/last"); code != 200 || !strings.Contains(body, `"result":"Success"`) {
		t.Errorf("/last: %d %s; want 200 and the Success", code, body)
	}
	pid := childPID(errb.String())
	if pid == 0 {
		t.Errorf("stderr %q: want the embedded server started as a child process, as run does", errb.String())
	}
	if code := stop(); code != 0 {
		t.Errorf("watch stopped by its context exited %d; want 0\n%s", code, errb.String())
	}
	if pid != 0 {
		waitGone(t, pid, "the watch ended")
	}
}

// TestWatchFailure watches a port nothing listens on: Failures in the log, failures
// by class in the metrics, /last 503 while /healthz stays 200 (the watcher is fine).
func TestWatchFailure(t *testing.T) {
	srv, err := server.New(server.Config{Listen: []string{"tcp:127.0.0.1:0"}, Users: server.GeneratedUsers(2, "example.test"), Rooms: 1, Generated: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addrs()[0].Addr
	srv.Close()
	sc, errb, _ := startWatch(t, "--every", "20ms", "--metrics-addr", "127.0.0.1:0", "--timeout", "3s",
		"--target", addr, "--transport", "tcp",
		"--sender", "sip:user0001@example.test", "--sender-credential", "pass0001",
		"--receiver", "sip:user0002@example.test", "--receiver-credential", "pass0002")
	rs := readLines(t, sc, 2)
	for _, r := range rs {
		if r.Result != "Failure" || r.FailureClass != "transport" || r.FailedStep != engine.StepLogonSender || r.Diagnosis == "" || r.Target != addr {
			t.Errorf("line %+v; want a transport Failure at logon-sender with a diagnosis", r)
		}
	}
	base := strings.TrimSuffix(metricsURL.FindStringSubmatch(errb.String())[1], "/metrics")
	m := scrape(t, base+"/metrics")
	if n := m[`chatload_watch_failures_total{class="transport",step="logon-sender"}`]; n < 2 || n != m[`chatload_watch_transactions_total{result="failure"}`] {
		t.Errorf("failures_total %v, transactions failure %v; want both >= 2 and equal", n, m[`chatload_watch_transactions_total{result="failure"}`])
	}
	if m["chatload_watch_last_success"] != 0 || m["chatload_watch_last_success_timestamp_seconds"] != 0 {
		t.Errorf("last_success %v, last success time %v; want 0 and 0", m["chatload_watch_last_success"], m["chatload_watch_last_success_timestamp_seconds"])
	}
	if code, _ := getStatus(t, base+"/last"); code != 503 {
		t.Errorf("/last: %d; want 503 after a Failure", code)
	}
	if code, _ := getStatus(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d; want 200 (the watcher itself is on schedule)", code)
	}
	if strings.Contains(errb.String(), "pass0001") {
		t.Errorf("a password on stderr: %s", errb.String())
	}
}

func TestWatchCountAndUsage(t *testing.T) {
	code, out, errb := runCLI(t, nil, "watch", "--count", "2", "--every", "1ms")
	if code != 0 || strings.Count(out, "\n") != 2 || strings.Count(out, `"result":"Success"`) != 2 {
		t.Fatalf("watch --count 2: exit %d; want 0 and 2 Success lines\n%s\n%s", code, out, errb)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--every", "0s"}, "--every"},
		{[]string{"--count", "-1"}, "--count"},
		{[]string{"--log", "/nonexistent/dir/w.jsonl"}, "--log"},
		{[]string{"--metrics-addr", "256.0.0.1:1"}, "--metrics-addr"},
		{[]string{"--target", "[::1"}, "--target"},
	} {
		code, _, errb := runCLI(t, nil, append([]string{"watch", "--count", "1"}, c.args...)...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("watch %v: exit %d %q; want 2 naming %s", c.args, code, errb, c.want)
		}
	}
}

func sampleWatchResult() report.TestResult {
	return report.TestResult{Result: "Failure", FailureClass: "timeout", FailedStep: "join-sender",
		Steps: []report.TestStep{{Name: "logon-sender", OK: true, Duration: report.Millis(time.Millisecond)}}}
}
