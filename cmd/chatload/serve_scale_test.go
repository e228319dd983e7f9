package main

import (
	"strings"
	"testing"
)

// TestServeAnnounceMaxUsage: a negative --announce-max is a usage error naming the flag.
func TestServeAnnounceMaxUsage(t *testing.T) {
	code, out, errb := runCLI(t, nil, "serve", "--listen=udp:127.0.0.1:0", "--announce-max", "-3")
	if code != 2 || !strings.Contains(errb, "--announce-max -3") || strings.Contains(out, "listening on") {
		t.Errorf("serve --announce-max -3: exit %d, stderr %q; want 2 naming the flag, not listening", code, errb)
	}
}
