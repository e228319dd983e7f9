package sipua

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/report"
)

// TestTLSErrors: a certificate that does not verify fails the first request as
// a Transport error naming the problem and the target, quickly (no retries
// until the timeout); so does a target that is no TLS server.
func TestTLSErrors(t *testing.T) {
	r := newRegistrar(t)
	trusted := r.clientTLS("tls")
	// A plain tcp port that hangs up on whatever it is sent, as a SIP-over-TCP
	// server does with a ClientHello it cannot parse.
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			_, _ = c.Read(buf)
			c.Close()
		}
	}()

	cases := []struct {
		name   string
		target string
		tls    *tls.Config
		want   string // in the error
		cert   string // report.CertificateProblem of the error
	}{
		{"system roots do not know a self-signed certificate", r.addr["tls"], nil,
			"certificate of " + r.addr["tls"] + "/tls not trusted: unknown authority", report.CertUnknownAuthority},
		{"trusted certificate, other name", r.addr["tls"], &tls.Config{RootCAs: trusted.RootCAs, ServerName: "sip.example.test"},
			"not trusted: name mismatch", report.CertNameMismatch},
		{"not a TLS server", plain.Addr().String(), trusted,
			"TLS handshake with " + plain.Addr().String() + "/tls failed", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The class says "at once": a client that waited for an answer
			// would fail with a Timeout. The limit is generous so that a slow
			// handshake on a loaded machine never reads as one.
			ua := newUA(t, Config{Target: c.target, Transport: "tls", TLS: c.tls, Timeout: guard})
			a, err := ua.NewAccount("sip:alice@test.example", "alice", "secret-a", nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			err = register(ctx, a)
			if c, _ := report.ClassOf(err); c != report.Transport {
				t.Fatalf("class %s (%v); want transport", c, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q; want it to contain %q", err, c.want)
			}
			if got := report.CertificateProblem(err); got != c.cert {
				t.Errorf("CertificateProblem = %q; want %q", got, c.cert)
			}
		})
	}
}

// TestTLSInsecure: with verification off, the self-signed certificate of
// another name is accepted.
func TestTLSInsecure(t *testing.T) {
	r := newRegistrar(t)
	ua := newUA(t, Config{Target: r.addr["tls"], Transport: "tls", Timeout: 3 * time.Second,
		TLS: &tls.Config{InsecureSkipVerify: true, ServerName: "sip.example.test"}})
	a, err := ua.NewAccount("sip:alice@test.example", "alice", "secret-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := register(ctx, a); err != nil {
		t.Fatalf("register with verification off: %v", err)
	}
}

func TestSelfSigned(t *testing.T) {
	c, err := SelfSigned([]string{"127.0.0.1", "[::1]", "LocalHost", "example.test", "127.0.0.1", ""}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Leaf
	if len(l.IPAddresses) != 2 || len(l.DNSNames) != 2 || l.DNSNames[0] != "localhost" {
		t.Errorf("SANs: IPs %v, names %v; want 127.0.0.1 and ::1, localhost and example.test, each once", l.IPAddresses, l.DNSNames)
	}
	if v := l.NotAfter.Sub(l.NotBefore); v < 24*time.Hour || v > 24*time.Hour+10*time.Minute {
		t.Errorf("valid for %s; want 24h (and the clock-skew margin)", v)
	}
	if l.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key %s; want ECDSA", l.PublicKeyAlgorithm)
	}
	pool, err := CertPool(CertificatePEM(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "example.test"} {
		if _, err := l.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("trusting exactly its PEM, %s does not verify: %v", name, err)
		}
	}
	if _, err := CertPool([]byte("not PEM")); err == nil {
		t.Error("CertPool of no certificate: no error")
	}
	if _, err := SelfSigned(nil, 0); err == nil {
		t.Error("SelfSigned with zero validity: no error")
	}
}
