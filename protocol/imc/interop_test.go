package imc_test

import (
	"os"
	"testing"
)

// TestKamailio runs the suite against a real Kamailio with the imc module, as
// scripts/kamailio/start.sh runs it (users user0001..0100, rooms room001..010 at
// conf.example.test). It needs CHATLOAD_KAMAILIO=host:port.
func TestKamailio(t *testing.T) {
	addr := os.Getenv("CHATLOAD_KAMAILIO")
	if addr == "" {
		t.Skip("no Kamailio: run scripts/kamailio/start.sh, then set CHATLOAD_KAMAILIO=127.0.0.1:5090")
	}
	// Users 0061..0080 here, so that these runs do not share users with other
	// packages' interop tests (which use the low numbers) against the same server.
	t.Run("udp", func(t *testing.T) {
		runSuite(t, target{addr: addr, transport: "udp", domain: "example.test", first: 60})
	})
	t.Run("tcp", func(t *testing.T) {
		runSuite(t, target{addr: addr, transport: "tcp", domain: "example.test", first: 70})
	})
}
