package imc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/server"
)

// trusting returns the client configuration that trusts exactly srv's
// certificate, as chatload does with the embedded server.
func trusting(t *testing.T, srv *server.Server) *tls.Config {
	t.Helper()
	pool, err := sipua.CertPool(srv.CertificatePEM())
	if err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	return &tls.Config{RootCAs: pool}
}

// startTLS starts an embedded server with one tls listener, serving the
// certificate in files (cert, key), or a generated one when there are none.
func startTLS(t *testing.T, files ...string) *server.Server {
	t.Helper()
	var cert, key string
	if len(files) == 2 {
		cert, key = files[0], files[1]
	}
	srv, err := server.New(server.Config{Listen: []string{"tls:127.0.0.1:0"}, TLSCert: cert, TLSKey: key,
		Users: server.GeneratedUsers(2, "example.test"), Generated: true, Rooms: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// writeCert writes c's certificate and key as PEM files and returns their paths.
func writeCert(t *testing.T, c tls.Certificate) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, sipua.CertificatePEM(c), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// handshakeLimit is the transaction limit of the certificate tests: far above
// any handshake, so that only a driver that waits for an answer times out.
const handshakeLimit = guard

// TestTLSCertificateErrors: a server certificate that does not verify fails
// Connect at once as a Transport error naming the problem and the target. "At
// once" is the class: a failure that waited for an answer would be a Timeout.
// The transaction limit is generous so that a slow handshake on a loaded
// machine (system roots parsed under -race) never reads as one.
func TestTLSCertificateErrors(t *testing.T) {
	generated := startTLS(t)
	// Valid for a nanosecond: expired by the time anyone connects.
	old, err := sipua.SelfSigned([]string{"127.0.0.1"}, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := writeCert(t, old)
	expired := startTLS(t, cert, key)

	cases := []struct {
		name string
		srv  *server.Server
		tls  *tls.Config
		want string // report.CertificateProblem, also in the error
	}{
		{"self-signed, system roots", generated, nil, report.CertUnknownAuthority},
		{"trusted, verified for another name", generated,
			&tls.Config{RootCAs: trusting(t, generated).RootCAs, ServerName: "chat.other.test"}, report.CertNameMismatch},
		{"trusted, expired", expired, trusting(t, expired), report.CertExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := c.srv.Addr("tls")
			d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: "tls", TLS: c.tls, Timeout: handshakeLimit}})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = d.Connect(ctx(t), engine.User{URI: "sip:user0001@example.test", Password: "pass0001"}, nil)
			wantClass(t, "Connect", err, report.Transport, 0)
			if got := report.CertificateProblem(err); got != c.want {
				t.Errorf("CertificateProblem(%v) = %q; want %q", err, got, c.want)
			}
			if want := "certificate of " + addr + "/tls not trusted: " + c.want; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q; want it to say %q", err, want)
			}
		})
	}
}

// TestTLSInsecure: with verification off a certificate nothing trusts, for
// another name, does not stop the synthetic transaction.
func TestTLSInsecure(t *testing.T) {
	srv := startTLS(t)
	tg := target{addr: srv.Addr("tls"), transport: "tls", domain: "example.test",
		tls: &tls.Config{InsecureSkipVerify: true, ServerName: "chat.other.test"}}
	d := tg.driver(t)
	in := newInbox()
	a := connect(t, d, tg.user(1), nil)
	b := connect(t, d, tg.user(2), in.deliver)
	for _, s := range []engine.Session{a, b} {
		if err := s.Join(ctx(t), "room001"); err != nil {
			t.Fatalf("Join: %v", err)
		}
	}
	m := engine.Message{ID: newID("insecure"), Body: "over unverified tls"}
	if err := a.Send(ctx(t), "room001", m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	in.waitID(t, m.ID)
}
