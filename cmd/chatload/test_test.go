package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/server"
)

// runCLI runs chatload in-process and returns exit status, stdout and stderr.
func runCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	e, out, errb := testEnv(vars)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, args, e)
	return code, out.String(), errb.String()
}

// field returns the value of a "Name : value" line of the text output.
func field(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, " : "); ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	for _, l := range strings.Split(out, "\n") { // empty values end with " :"
		if strings.TrimSpace(strings.TrimSuffix(l, ":")) == name {
			return ""
		}
	}
	return "<missing>"
}

func TestTestEmbeddedSuccess(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			code, out, errb := runCLI(t, nil, "test", "--transport", tr)
			if code != 0 || field(out, "Result") != "Success" {
				t.Fatalf("exit %d; want 0 and Success\nstdout:\n%s\nstderr:\n%s", code, out, errb)
			}
			for _, k := range []string{"Target Fqdn", "Result", "Latency", "Error Message", "Diagnosis"} {
				if field(out, k) == "<missing>" {
					t.Errorf("output lacks %q:\n%s", k, out)
				}
			}
			if !strings.HasPrefix(field(out, "Target Fqdn"), "127.0.0.1:") {
				t.Errorf("Target Fqdn = %q; want the embedded server's loopback address", field(out, "Target Fqdn"))
			}
		})
	}
}

func TestTestJSON(t *testing.T) {
	code, out, errb := runCLI(t, nil, "test", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	var r struct {
		TargetFqdn string  `json:"target_fqdn"`
		Result     string  `json:"result"`
		LatencyMS  float64 `json:"latency_ms"`
		Steps      []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if r.Result != "Success" || r.LatencyMS <= 0 || len(r.Steps) != 13 {
		t.Errorf("got %+v; want Success, latency > 0 and 13 steps", r)
	}
}

// startServer starts an embedded server on a free loopback port for the tests below.
func startServer(t *testing.T, transport string) string {
	t.Helper()
	srv, err := server.New(server.Config{
		Listen: []string{transport + ":127.0.0.1:0"}, Users: server.GeneratedUsers(4, "example.test"),
		Rooms: 2, Generated: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addrs()[0].Addr
}

// failureCases are the failures `chatload test` must name, for any imc server with
// the users user0001.. (passwords pass0001..) and rooms room001.. of example.test.
func failureCases(target, transport string) []struct {
	name      string
	args      []string
	errWant   string // in Error Message
	diagWant  string // in Diagnosis
	withinSec float64
} {
	base := func(sender, cred, room string) []string {
		return []string{"test", "--target", target, "--transport", transport,
			"--sender", sender, "--sender-credential", cred,
			"--receiver", "sip:user0002@example.test", "--receiver-credential", "env:PW2",
			"--room", room, "--timeout", "5s"}
	}
	return []struct {
		name      string
		args      []string
		errWant   string
		diagWant  string
		withinSec float64
	}{
		{"wrong password", base("sip:user0001@example.test", "wrong-pw", "room001"),
			"401", "Authentication failed", 5},
		{"unknown user", base("sip:nobody@example.test", "x", "room001"),
			"not provisioned", "not provisioned", 5},
		{"unknown room", base("sip:user0001@example.test", "env:PW1", "room999"),
			"room999", "does not exist", 5},
	}
}

func checkFailures(t *testing.T, target, transport string) {
	vars := map[string]string{"PW1": "pass0001", "PW2": "pass0002"}
	for _, c := range failureCases(target, transport) {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			code, out, errb := runCLI(t, vars, c.args...)
			if code != 1 || field(out, "Result") != "Failure" {
				t.Fatalf("exit %d; want 1 and Failure\n%s\n%s", code, out, errb)
			}
			if em := field(out, "Error Message"); !strings.Contains(em, c.errWant) {
				t.Errorf("Error Message = %q; want it to contain %q", em, c.errWant)
			}
			if d := field(out, "Diagnosis"); !strings.Contains(d, c.diagWant) {
				t.Errorf("Diagnosis = %q; want it to contain %q", d, c.diagWant)
			}
			if el := time.Since(t0).Seconds(); el > c.withinSec+1 {
				t.Errorf("took %.1fs; want within the %gs timeout", el, c.withinSec)
			}
			if strings.Contains(out+errb, "pass0001") || strings.Contains(out+errb, "wrong-pw") {
				t.Errorf("a password appears in the output:\n%s\n%s", out, errb)
			}
		})
	}
}

func TestTestFailuresEmbedded(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) { checkFailures(t, startServer(t, tr), tr) })
	}
}

// TestTestKamailioInterop runs the same success and failure cases against a real
// Kamailio imc (scripts/kamailio/start.sh); .ci/run sets CHATLOAD_KAMAILIO.
func TestTestKamailioInterop(t *testing.T) {
	addr := os.Getenv("CHATLOAD_KAMAILIO")
	if addr == "" {
		t.Skip("set CHATLOAD_KAMAILIO=127.0.0.1:5090 after scripts/kamailio/start.sh to run against Kamailio")
	}
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			// Users 0001/0002 are this test's own in the Kamailio set (others use 0060-0100).
			vars := map[string]string{"PW1": "pass0001", "PW2": "pass0002"}
			code, out, errb := runCLI(t, vars, "test", "--target", addr, "--transport", tr,
				"--sender", "sip:user0001@example.test", "--sender-credential", "env:PW1",
				"--receiver", "sip:user0002@example.test", "--receiver-credential", "env:PW2",
				"--timeout", "10s")
			if code != 0 || field(out, "Result") != "Success" {
				t.Fatalf("exit %d; want Success\n%s\n%s", code, out, errb)
			}
			checkFailures(t, addr, tr)
		})
	}
}

func TestTestUnreachable(t *testing.T) {
	// A port nothing listens on: take a free one from the embedded server and close it.
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			srv, err := server.New(server.Config{Listen: []string{tr + ":127.0.0.1:0"}, Users: server.GeneratedUsers(2, "example.test"), Rooms: 1, Generated: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			addr := srv.Addrs()[0].Addr
			srv.Close()
			t0 := time.Now()
			code, out, _ := runCLI(t, nil, "test", "--target", addr, "--transport", tr,
				"--sender", "sip:user0001@example.test", "--sender-credential", "pass0001",
				"--receiver", "sip:user0002@example.test", "--receiver-credential", "pass0002",
				"--timeout", "3s")
			if code != 1 {
				t.Fatalf("exit %d; want 1\n%s", code, out)
			}
			if em := field(out, "Error Message"); !strings.Contains(em, addr) {
				t.Errorf("Error Message = %q; want it to name %s", em, addr)
			}
			if d := field(out, "Diagnosis"); !strings.Contains(d, addr+"/"+tr) {
				t.Errorf("Diagnosis = %q; want it to name %s/%s", d, addr, tr)
			}
			if el := time.Since(t0); el > 4*time.Second {
				t.Errorf("took %v; want within the 3s timeout", el)
			}
		})
	}
}

func TestTestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"test", "--target", "127.0.0.1:5060"}, "--sender is required"},
		{[]string{"test", "--transport", "sctp"}, "--transport"},
		{[]string{"test", "--output", "xml"}, "--output"},
		{[]string{"test", "--timeout", "0s"}, "--timeout"},
		{[]string{"test", "--nope"}, "unknown flag: --nope"},
		{[]string{"test", "--target", "127.0.0.1:99999", "--sender", "a@x", "--sender-credential", "p",
			"--receiver", "b@x", "--receiver-credential", "p"}, "port"},
		{[]string{"test", "--target", "127.0.0.1:5060", "--sender", "a@x", "--sender-credential", "env:NOPE",
			"--receiver", "b@x", "--receiver-credential", "p"}, "--sender-credential env:NOPE"},
		{[]string{"test", "--sender", "alice"}, "--sender \"alice\""},
	}
	for _, c := range cases {
		code, out, errb := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q\n%s", c.args, code, errb, c.want, out)
		}
		if strings.Contains(errb, "goroutine ") {
			t.Errorf("%v: stack trace on stderr", c.args)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.Contains(out, "chatload ") || !strings.Contains(out, "go go1.") || !strings.Contains(out, "sipgo ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "chatload ") || strings.Count(out, "\n") != 1 {
		t.Errorf("--version: exit %d, %q; want one line naming the version", code, out)
	}
}
