package imc_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  imc.Config
		ok   bool
	}{
		{"minimal udp", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5090", Transport: "udp"}}, true},
		{"tcp with local address", imc.Config{DriverConfig: sipua.DriverConfig{Target: "localhost:5090", Transport: "tcp", LocalAddr: "127.0.0.1"}}, true},
		{"no target", imc.Config{DriverConfig: sipua.DriverConfig{Transport: "udp"}}, false},
		{"no port", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1", Transport: "udp"}}, false},
		{"port out of range", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:70000", Transport: "udp"}}, false},
		{"unknown transport", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5090", Transport: "sctp"}}, false},
		{"tls", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5061", Transport: "tls"}}, true},
		{"tls configuration for udp", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5060", Transport: "udp", TLS: &tls.Config{}}}, false},
		{"local address not an IP", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5090", Transport: "udp", LocalAddr: "me"}}, false},
		{"negative timeout", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5090", Transport: "udp", Timeout: -time.Second}}, false},
		{"sub-second expiry", imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5090", Transport: "udp", Expires: time.Millisecond}}, false},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v; want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestConfigString(t *testing.T) {
	got := imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:5090", Transport: "udp"}}.String()
	want := "target=127.0.0.1:5090 transport=udp timeout=5s expires=registrar"
	if got != want {
		t.Errorf("String() = %q; want %q (defaults shown)", got, want)
	}
}

// closedPort returns a loopback port nothing listens on for network: it binds
// one and releases it.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	var addr string
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr().String()
		c.Close()
	case "tcp", "tls":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	return addr
}

// TestClosedPort: logging on to a port nothing listens on fails quickly (ICMP
// port unreachable on UDP, RST on TCP and TLS), as a Transport error naming the
// address and transport, without waiting for an answer (that would be a
// Timeout; the limit is generous so that a loaded machine never makes one).
func TestClosedPort(t *testing.T) {
	for _, tr := range []string{"udp", "tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			addr := closedPort(t, tr)
			d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: tr, Timeout: guard}})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = d.Connect(context.Background(), engine.User{URI: "sip:user0001@example.test", Password: "pass0001"}, nil)
			if err == nil {
				t.Fatal("Connect to a closed port succeeded")
			}
			c, _ := report.ClassOf(err)
			if c != report.Transport {
				t.Errorf("class = %s (%v); want transport", c, err)
			}
			if want := addr + "/" + tr; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
}

// TestSilentTarget: a UDP target that never answers gives a Timeout error naming
// the address, not before the configured timeout (and within the test's guard).
func TestSilentTarget(t *testing.T) {
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	addr := sink.LocalAddr().String()
	const timeout = 300 * time.Millisecond
	d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: "udp", Timeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	_, err = d.Connect(context.Background(), engine.User{URI: "sip:user0001@example.test", Password: "pass0001"}, nil)
	took := time.Since(start)
	c, _ := report.ClassOf(err)
	if c != report.Timeout {
		t.Fatalf("class = %s (%v); want timeout", c, err)
	}
	if want := "no answer from " + addr + "/udp"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if took < timeout || took > guard {
		t.Errorf("took %s; want about the %s timeout", took, timeout)
	}
}

func TestConnectBadURI(t *testing.T) {
	d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: "127.0.0.1:9", Transport: "udp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Connect(context.Background(), engine.User{URI: "not a uri", Password: "x"}, nil)
	wantClass(t, "Connect with a bad URI", err, report.Protocol, 0)
}
