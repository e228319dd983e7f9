package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestServeMetricsAddr: serve --metrics-addr exposes the server's counters,
// the hardening ones included, as Prometheus metrics.
func TestServeMetricsAddr(t *testing.T) {
	s := startServe(t, "--listen", "tcp:127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--max-connections-per-addr", "1")
	var url string
	for _, l := range strings.Split(s.out.String(), "\n") {
		if u, ok := strings.CutPrefix(l, "metrics: "); ok {
			url = u
		}
	}
	if url == "" {
		t.Fatalf("no metrics line in:\n%s", s.out)
	}
	a, err := net.Dial("tcp", s.addr(t, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Dial("tcp", s.addr(t, "tcp")) // over the per-address cap of 1
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("a second connection over --max-connections-per-addr 1 was served")
	}
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		"chatload_server_connections_accepted_total 1", "chatload_server_connections_rejected_total 1",
		"chatload_server_connections_open 1", "chatload_server_rate_limited_total 0", "chatload_server_members_dropped_total 0",
		"chatload_server_dialogs_open 0", "chatload_server_history_errors_total 0",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("no %q in the metrics:\n%s", want, body)
		}
	}
}

// TestServeLimitFlagsUsage: bad hardening flags are usage errors naming the flag.
func TestServeLimitFlagsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--max-connections", "-1"}, {"--max-connections-per-addr", "-2"}, {"--idle-timeout", "0s"},
		{"--unauth-rate", "0"}, {"--max-dialogs-per-user", "0"},
	} {
		e, _, errb := testEnv(nil)
		code := run(t.Context(), append([]string{"serve", "--listen", "udp:127.0.0.1:0"}, args...), e)
		if code != 2 || !strings.Contains(errb.String(), args[0]) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 naming the flag", args, code, errb.String())
		}
	}
}
