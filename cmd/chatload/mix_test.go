package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatload/chatload/report"
)

// TestRunMixFile: `chatload run FILE` with workloads runs them at once against the
// embedded server: the tables have a section per workload, the JSON report the
// workloads with their own figures, and a threshold naming a workload is judged on
// it (a failing one exits 3).
func TestRunMixFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mix.yaml")
	if err := os.WriteFile(file, []byte(`duration: 1s
thresholds: [messages.lost == 0, idle:messages.delivered > 0]
workloads:
  - {name: posts, scenario: steady, pairs: 2, rate: 20/s}
  - {name: idle, scenario: lurker, rooms: 1, room-size: 4, rate: 5/s, start: 200ms}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", file, "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, w := range []string{"Workload posts (steady)", "Workload idle (lurker)", "idle:messages.delivered > 0"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("tables lack %q:\n%s", w, stdout)
		}
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rep, err := report.ReadReport(fh)
	if err != nil {
		t.Fatal(err)
	}
	p, i := rep.WorkloadNamed("posts"), rep.WorkloadNamed("idle")
	if p == nil || i == nil {
		t.Fatalf("report workloads %v; want posts and idle", rep.Workloads)
	}
	if p.Messages.Sent != 20 || i.Messages.Sent != 5 || i.Messages.Delivered != 15 || rep.Messages.Sent != 25 {
		t.Errorf("sent posts %d, idle %d (delivered %d), total %d; want 20, 5 (15), 25",
			p.Messages.Sent, i.Messages.Sent, i.Messages.Delivered, rep.Messages.Sent)
	}
	// --out - writes the mixed report's JSON to stdout (the tables to stderr), stamped
	// like a single run's.
	code, stdout, stderr = runCLI(t, nil, "run", file, "--quiet", "--out", "-")
	if code != 0 {
		t.Fatalf("--out -: exit %d; stderr:\n%s", code, stderr)
	}
	std, err := report.ReadReport(strings.NewReader(stdout))
	if err != nil {
		t.Fatalf("--out -: stdout is no report: %v\n%s", err, stdout)
	}
	if std.WorkloadNamed("posts") == nil || std.Tool != toolInfo() || !strings.Contains(stderr, "Workload posts (steady)") {
		t.Errorf("--out -: workloads %v, tool %+v (want %+v); stderr:\n%s", std.Workloads, std.Tool, toolInfo(), stderr)
	}
	// A threshold on a workload that fails exits 3; one naming no workload is a usage error.
	code, _, stderr = runCLI(t, nil, "run", file, "--quiet", "--threshold", "posts:messages.sent > 1000")
	if code != 3 || !strings.Contains(stderr, "posts:messages.sent > 1000") {
		t.Errorf("failing workload threshold: exit %d, stderr %q; want 3 naming it", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "run", file, "--quiet", "--threshold", "nope:messages.sent > 1")
	if code != 2 || !strings.Contains(stderr, "no workload nope") {
		t.Errorf("threshold on an unknown workload: exit %d, stderr %q; want 2", code, stderr)
	}
}

// TestRunProfile: `chatload run --profile lync-pchat --users N` runs the scaled
// Persistent Chat model against the embedded server: a table section per workload
// (room sizes, joins, sign-ins), nothing lost.
func TestRunProfile(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "run", "--profile", "lync-pchat", "--users", "20", "--duration", "1s",
		"--threshold", "messages.lost == 0", "--threshold", "large:messages.delivered >= 19")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr, stdout)
	}
	for _, w := range []string{"Workload small (rooms)", "Workload medium (rooms)", "Workload large (rooms)", "Workload join (churn)", "Workload sign-in (login)"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("tables lack %q", w)
		}
	}
	if !strings.Contains(stderr, "profile lync-pchat for 20 users") {
		t.Errorf("stderr %q; want the profile's scaling said", stderr)
	}
	for _, bad := range [][]string{
		{"run", "--profile", "lync-pchat"},
		{"run", "--profile", "nope", "--users", "10"},
		{"run", "--profile", "lync-pchat", "--users", "10", "--scenario", "steady"},
	} {
		if code, _, _ := runCLI(t, nil, bad...); code != 2 {
			t.Errorf("%v: exit %d; want 2", bad, code)
		}
	}
}

// TestRunProfileKamailio: the lync-pchat profile against a real Kamailio imc
// (CHATLOAD_KAMAILIO, as .ci/run starts it) completes with nothing lost. For 10
// users it takes 50 accounts (user0001..0050) and 7 rooms (room001..007).
func TestRunProfileKamailio(t *testing.T) {
	addr := os.Getenv("CHATLOAD_KAMAILIO")
	if addr == "" {
		t.Skip("set CHATLOAD_KAMAILIO=127.0.0.1:5090 after scripts/kamailio/start.sh to run against Kamailio")
	}
	users := filepath.Join(t.TempDir(), "users.csv")
	var b strings.Builder
	b.WriteString("uri,username,password\n")
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&b, "sip:user%04d@example.test,,pass%04d\n", i, i)
	}
	if err := os.WriteFile(users, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, nil, "run", "--profile", "lync-pchat", "--users", "10", "--duration", "5s",
		"--target", addr, "--users-file", users, "--quiet", "--out", out, "--threshold", "messages.lost == 0")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep := readReportFile(t, out)
	if len(rep.Workloads) != 5 || rep.Messages.Sent < 3 || rep.Messages.Delivered != rep.Messages.ExpectedDeliveries || rep.Messages.Lost != 0 {
		t.Errorf("workloads %d, messages %+v; want 5 workloads, every post of the 3 room sizes delivered", len(rep.Workloads), rep.Messages)
	}
}
