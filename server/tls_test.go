package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTLSGeneratedCertificate: without TLSCert a tls listener serves a
// self-signed ECDSA P-256 certificate valid for 24h, for the listen IP,
// localhost and the domain, and the server hands out its PEM.
func TestTLSGeneratedCertificate(t *testing.T) {
	s, _ := startServer(t, func(c *Config) {
		c.Domain = "chat.example.test"
		c.Users = GeneratedUsers(2, "chat.example.test")
		c.Listen = []string{"tls:127.0.0.1:0", "udp:127.0.0.1:0"}
	})
	if got := s.Addrs(); len(got) != 2 || got[0].Transport != "tls" {
		t.Fatalf("Addrs = %v; want tls then udp", got)
	}
	block, rest := pem.Decode(s.CertificatePEM())
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("CertificatePEM: want exactly one certificate, got %q", s.CertificatePEM())
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("key %T; want ECDSA P-256", cert.PublicKey)
	}
	if v := cert.NotAfter.Sub(time.Now()); v < 23*time.Hour || v > 24*time.Hour {
		t.Errorf("valid for another %s; want about 24h", v.Round(time.Minute))
	}
	if !slices.Contains(cert.DNSNames, "localhost") || !slices.Contains(cert.DNSNames, "chat.example.test") ||
		len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("SANs %v %v; want localhost, chat.example.test and 127.0.0.1", cert.DNSNames, cert.IPAddresses)
	}
	// The listener serves that very certificate.
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c, err := tls.Dial("tcp", s.Addr("tls"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("handshake trusting CertificatePEM: %v", err)
	}
	c.Close()

	if udpOnly, _ := startServer(t, nil); udpOnly.CertificatePEM() != nil {
		t.Error("CertificatePEM without a tls listener: want nil")
	}
	if got := (Config{Users: GeneratedUsers(1, ""), Listen: []string{"tls:127.0.0.1:0"}}).String(); !strings.Contains(got, "tls_cert=self-signed") {
		t.Errorf("String() = %q; want it to say the certificate is self-signed", got)
	}
}

// TestTLSCertHosts: an unspecified host covers loopback and every interface address.
func TestTLSCertHosts(t *testing.T) {
	got := certHosts(Config{Domain: "example.test", Listen: []string{"tls:0.0.0.0:5061", "udp:192.0.2.1:5060", "tls:[::1]:5062"}})
	for _, want := range []string{"localhost", "example.test", "127.0.0.1", "::1"} {
		if !slices.Contains(got, want) {
			t.Errorf("certHosts = %v; want it to contain %s", got, want)
		}
	}
	if slices.Contains(got, "192.0.2.1") {
		t.Errorf("certHosts = %v; want no udp listener's address", got)
	}
}

// TestTLSCertificateFiles: TLSCert/TLSKey are served as given; unreadable or
// mismatched files fail New naming them.
func TestTLSCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"sip.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	s, _ := startServer(t, func(c *Config) {
		c.Listen = []string{"tls:127.0.0.1:0"}
		c.TLSCert, c.TLSKey = certFile, keyFile
	})
	block, _ := pem.Decode(s.CertificatePEM())
	if block == nil || string(block.Bytes) != string(der) {
		t.Error("CertificatePEM is not the certificate of TLSCert")
	}
	if !strings.Contains(s.Config().String(), "tls_cert="+certFile) {
		t.Errorf("String() = %q; want it to name %s", s.Config().String(), certFile)
	}

	for _, c := range []struct{ name, cert, key, want string }{
		{"missing key file", certFile, filepath.Join(dir, "none.pem"), "none.pem"},
		{"key for another certificate", certFile, certFile, "cert.pem"},
	} {
		_, err := New(Config{Users: GeneratedUsers(1, ""), Listen: []string{"tls:127.0.0.1:0"}, TLSCert: c.cert, TLSKey: c.key})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v; want an error naming %s", c.name, err, c.want)
		}
	}
}
