package server

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/chatload/chatload/protocol/sipua"
)

// serverTLS returns the configuration of the tls listeners: TLSCert/TLSKey
// loaded, or a self-signed certificate made for the names clients may dial.
// Called by New when a listener is tls.
func serverTLS(cfg Config) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if cfg.TLSCert != "" {
		if cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, fmt.Errorf("tls certificate %s, key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
	} else if cert, err = sipua.SelfSigned(certHosts(cfg), GeneratedCertValidity); err != nil {
		return nil, fmt.Errorf("tls: making a self-signed certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// certHosts lists the names a generated certificate is for: the tls listeners'
// IPs (an unspecified host: loopback and every interface address, as clients
// may dial any), localhost and the domain (what --target names when clients
// verify the domain rather than an address).
func certHosts(cfg Config) []string {
	hosts := []string{"localhost", cfg.Domain}
	for _, l := range cfg.Listen {
		a, err := ParseListen(l)
		if err != nil || a.Transport != "tls" {
			continue
		}
		host, _, _ := net.SplitHostPort(a.Addr)
		ip := net.ParseIP(host)
		switch {
		case host == "localhost":
			hosts = append(hosts, "127.0.0.1", "::1")
		case ip == nil || ip.IsUnspecified():
			hosts = append(hosts, "127.0.0.1", "::1")
			if addrs, err := net.InterfaceAddrs(); err == nil {
				for _, a := range addrs {
					if n, ok := a.(*net.IPNet); ok {
						hosts = append(hosts, n.IP.String())
					}
				}
			}
		default:
			hosts = append(hosts, ip.String())
		}
	}
	return hosts
}

// CertificatePEM returns the PEM of the certificate the tls listeners serve
// (the generated one, or TLSCert's chain), or nil without a tls listener.
// Clients trust a generated one by trusting exactly it (chatload's --tls-ca).
// Safe for concurrent use.
func (s *Server) CertificatePEM() []byte {
	if s.tls == nil {
		return nil
	}
	return sipua.CertificatePEM(s.tls.Certificates[0])
}
