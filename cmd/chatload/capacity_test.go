package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatload/chatload/capacity"
)

// The wiring, against the embedded server (a child chatload serve, as run's): a
// delay above the service level trips at the first step (confirmed by its retry);
// without faults the search runs its steps and finds no trip within the bound. Both
// exit 0: the search finished.
func TestCapacityCLI(t *testing.T) {
	dir := t.TempDir()
	out, page := filepath.Join(dir, "cap.json"), filepath.Join(dir, "cap.html")
	code, stdout, errb := runCLI(t, nil, "capacity", "--fault-delay", "300ms", "--start", "20/s", "--max-steps", "3",
		"--step-duration", "1s", "--warmup", "0s", "--cooldown", "0s", "--quiet", "--out", out, "--html", page)
	if code != 0 || !strings.Contains(stdout, "Highest passing load: none") || !strings.Contains(stdout, "confirmed TRIP at 20/s") ||
		!strings.Contains(stdout, "delivery.p99 < 250ms") {
		t.Fatalf("300 ms delay: exit %d; want 0 and a confirmed trip at 20/s\n%s\n%s", code, stdout, errb)
	}
	if !strings.Contains(errb, "embedded server: chatload serve, pid ") || strings.Contains(errb, "WARNING") {
		t.Errorf("stderr %q; want the embedded server as a child process", errb)
	}
	var res capacity.Result
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &res); err != nil || len(res.Steps) != 2 || res.Steps[1].Verdict != capacity.Trip || res.Steps[1].Attempt != 2 ||
		res.Steps[0].P99MS == nil || *res.Steps[0].P99MS < 300 {
		t.Errorf("JSON %s (%v); want two TRIP steps (the retry second) with p99 above 300 ms", data, err)
	}
	if html, err := os.ReadFile(page); err != nil || !strings.Contains(string(html), `class="TRIP"`) {
		t.Errorf("HTML page: %v", err)
	}

	code, stdout, errb = runCLI(t, nil, "capacity", "--start", "10/s", "--factor", "2", "--max-steps", "2",
		"--step-duration", "1s", "--warmup", "200ms", "--cooldown", "0s", "--quiet", "--format", "json")
	// No step may TRIP. On a quiet machine both pass; on a machine loaded by other work
	// the generator's own health may stop the search early (INCONCLUSIVE, said so), which
	// must never read as the server's limit.
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil {
		t.Fatalf("no faults: exit %d, %v\n%s\n%s", code, err, stdout, errb)
	}
	for _, s := range res.Steps {
		if s.Verdict == capacity.Trip {
			t.Errorf("no faults: step %+v TRIPs", s)
		}
	}
	if !(res.HighestPass == 20 && res.Stop == "no trip within --max-steps 2") && !strings.Contains(res.Stop, "the generator could not hold") {
		t.Errorf("no faults: %+v; want 20/s passing and no trip within the bound (or, on a loaded machine, a stop for the generator's health)", res)
	}
}

// A target nobody can log on to: the search could not run (exit 1).
func TestCapacityCannotRun(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(users, []byte("uri,username,password\nsip:a@example.test,,pa\nsip:b@example.test,,pb\n"), 0o600)
	code, _, errb := runCLI(t, nil, "capacity", "--target", "127.0.0.1:9", "--users-file", users, "--pairs", "1",
		"--timeout", "1s", "--step-duration", "1s", "--quiet")
	if code != 1 || !strings.Contains(errb, "the search could not run: step 1 at 10/s: setup failed") {
		t.Errorf("unreachable target: exit %d, %q; want 1", code, errb)
	}
}

func TestCapacityUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--start", "0/s"}, "--start"},
		{[]string{"--factor", "3", "--step", "5/s"}, "give one"},
		{[]string{"--factor", "0.5"}, "--factor"},
		{[]string{"--max-steps", "0"}, "--max-steps"},
		{[]string{"--step-duration", "0s"}, "--step-duration"},
		{[]string{"--threshold", "delivery.p99 < 1s abort"}, "abort"},
		{[]string{"--rate", "10/s"}, "unknown flag"},
		{[]string{"--format", "xml"}, "--format"},
		{[]string{"--max-dropped", "x"}, "--max-dropped"},
	} {
		code, _, errb := runCLI(t, nil, append([]string{"capacity", "--quiet"}, c.args...)...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 naming %s", c.args, code, errb, c.want)
		}
	}
}

// run --find-max is the same search with run's flags: --rate is the first step's
// rate; run's flags that mean nothing to a search are refused.
func TestRunFindMax(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(users, []byte("uri,username,password\nsip:a@example.test,,pa\nsip:b@example.test,,pb\n"), 0o600)
	code, _, errb := runCLI(t, nil, "run", "--find-max", "--target", "127.0.0.1:9", "--users-file", users, "--pairs", "1",
		"--rate", "7/s", "--duration", "1s", "--timeout", "1s", "--quiet")
	if code != 1 || !strings.Contains(errb, "the search could not run: step 1 at 7/s: setup failed") {
		t.Errorf("find-max against an unreachable target: exit %d, %q; want 1, the first step at --rate", code, errb)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurrency", "5"}, "--find-max and --concurrency"},
		{[]string{"--checkpoint", "x.jsonl"}, "--find-max and --checkpoint"},
		{[]string{"--duration", "soon"}, "--duration"},
		{[]string{"--rate", "0/s"}, "--start"},
		{[]string{"--threshold", "delivery.p99 < 1s for 3 intervals"}, "for N intervals"},
	} {
		code, _, errb := runCLI(t, nil, append([]string{"run", "--find-max", "--quiet"}, c.args...)...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("run --find-max %v: exit %d, %q; want 2 naming %s", c.args, code, errb, c.want)
		}
	}
}

// A population search (--profile) against the embedded server: each step is the
// profile's mixed run for its users against an embedded server of its own. At 10
// users the profile posts about once a minute, so a 1 s hold has usually nothing to
// judge: INCONCLUSIVE, said so, never a PASS of nothing (the logic is tested with the
// fake driver in package capacity).
func TestCapacityProfileCLI(t *testing.T) {
	code, stdout, errb := runCLI(t, nil, "capacity", "--profile", "lync-pchat", "--users-start", "10", "--max-steps", "1",
		"--step-duration", "1s", "--warmup", "0s", "--cooldown", "0s", "--quiet", "--out", "-")
	var res capacity.Result
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, stdout, errb)
	}
	if res.Stepping != "users" || len(res.Steps) == 0 || res.Steps[0].Users != 10 {
		t.Fatalf("result %+v; want a population search with a step at 10 users", res)
	}
	// Usually nothing is left to judge in so short a hold; an operation that ends
	// late (a loaded machine) may land in it: a PASS then has judged something.
	if s := res.Steps[0]; s.Verdict == capacity.Pass && len(s.Thresholds) == 0 {
		t.Errorf("step %+v: a PASS that judged nothing", s)
	}
	if n := strings.Count(errb, "embedded server: chatload serve, pid "); n != len(res.Steps) {
		t.Errorf("%d embedded servers for %d steps; want one each\n%s", n, len(res.Steps), errb)
	}
	if !strings.Contains(errb, "step at 10 users (") || !strings.Contains(errb, " accounts, ") {
		t.Errorf("stderr %q; want the step's population", errb)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--profile", "lync-pchat"}, "--users-start N"},
		{[]string{"--profile", "lync-pchat", "--users", "10", "--start", "5/s"}, "--start and --profile"},
		{[]string{"--profile", "lync-pchat", "--users", "10", "--rooms", "3"}, "--rooms and --profile"},
		{[]string{"--profile", "lync-pchat", "--users-start", "10", "--users-step", "0", "--factor", "1"}, "--factor 1"},
		{[]string{"--profile", "nope", "--users", "10"}, "unknown profile"},
		{[]string{"--users-start", "10"}, "give --profile too"},
		{[]string{"--profile", "lync-pchat", "--users", "10", "--threshold", "posts:delivery.p99 < 1s"}, "no workload posts"},
	} {
		code, _, errb := runCLI(t, nil, append([]string{"capacity", "--quiet"}, c.args...)...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("capacity %v: exit %d, %q; want 2 naming %s", c.args, code, errb, c.want)
		}
	}
}
