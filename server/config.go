package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/scenarios"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultDomain           = "example.test"
	DefaultNonceLifetime    = 300 * time.Second // Kamailio's nonce_expire in our setup
	DefaultMaxExpires       = 3600 * time.Second
	DefaultCopyTimeout      = 8 * time.Second // Kamailio's fr_timer in our setup
	DefaultMaxPendingCopies = 4096
	DefaultMaxNonces        = 1 << 16
	DefaultRooms            = 10
	// GeneratedCertValidity is how long the self-signed certificate made for tls
	// listeners without TLSCert is valid: a serve running longer needs TLSCert.
	GeneratedCertValidity = 24 * time.Hour
)

// Digest algorithms a challenge can offer (Config.DigestAlgorithm).
const (
	AlgorithmMD5    = "MD5"
	AlgorithmSHA256 = "SHA-256"
)

// ErrRemoteGenerated is wrapped by Config.Validate when generated users (public
// passwords) would be served on an address reachable from other hosts.
var ErrRemoteGenerated = errors.New("generated test users (public passwords) on a non-loopback address")

// Config is what a Server is made of. The zero value of every field but Users means
// its default; Validate and String make it fit to be echoed into a report. A Config
// is a plain value: copy it freely, but do not mutate Users while a Server uses it.
type Config struct {
	// Domain is the users' domain and the digest realm; rooms live at conf.<Domain>.
	Domain string
	// Listen holds "transport:host:port" entries ("udp:127.0.0.1:0", "tcp:[::1]:5060",
	// "tls:127.0.0.1:5061"); port 0 picks a free port. Default: udp and tcp on
	// 127.0.0.1, free ports.
	Listen []string
	// TLSCert and TLSKey name the PEM files of the certificate (chain, leaf
	// first) and private key served on tls listeners. Both empty: New makes a
	// self-signed certificate (ECDSA P-256, valid for GeneratedCertValidity)
	// for the listen IPs (every local IP for an unspecified host), localhost
	// and Domain; Server.CertificatePEM gives it to clients to trust.
	TLSCert, TLSKey string
	// Users are the accounts (URI, optional auth user, password).
	Users []scenarios.User
	// Generated says Users come from GeneratedUsers: their passwords are public, so
	// they are refused on a non-loopback address unless AllowRemote is set.
	Generated bool
	// AllowRemote allows Generated users on a non-loopback address.
	AllowRemote bool
	// Rooms is the number of rooms room001..roomNNN provisioned at conf.<Domain>.
	// Zero means none; a negative value is refused.
	Rooms int
	// NonceLifetime is how long a nonce is accepted; after it, credentials that are
	// otherwise right get a challenge with stale=true.
	NonceLifetime time.Duration
	// DigestAlgorithm is the algorithm challenges offer: MD5 (default) or SHA-256.
	// Credentials computed with either are accepted whatever the challenge said.
	DigestAlgorithm string
	// MaxNonces bounds the table of nonce counts kept for replay detection. Zero
	// means DefaultMaxNonces, or two per user when there are more users.
	MaxNonces int
	// MaxExpires caps the registration lifetime a client asks for.
	MaxExpires time.Duration
	// CopyTimeout bounds each room copy, notification and relayed MESSAGE: no final
	// answer by then counts as failed (never retried).
	CopyTimeout time.Duration
	// MaxPendingCopies bounds the copies and notifications awaiting their answer;
	// when reached, sending waits (the senders' 200s are not held back by it).
	MaxPendingCopies int
	// AnnounceMax: in a room with more members than this, a #join or #exit is
	// told to the member who joined or left only, not to every member as imc
	// does (n joins cost n²/2 notices: 128 million for a 16,000-member room).
	// Zero: everyone is told, as imc does; negative is refused.
	AnnounceMax int
	// Faults injects faults into the fan-out of chat lines (none by default).
	Faults Faults
	// PChat configures the XCCOS (Persistent Chat) front end (see PChatConfig).
	PChat PChatConfig
	// Logger receives the server's diagnostics; nil discards them.
	Logger *slog.Logger
	// Auth are the authentication schemes offered (SchemeDigest,
	// SchemeNTLM, SchemeKerberos; several allowed, offered in Lync's order:
	// Kerberos, NTLM, Digest). Empty: digest only.
	Auth []string
	// Keytab is the Kerberos service keytab (Auth with kerberos), SPN the
	// service principal to accept ("sip/<fqdn>"; empty: the keytab's first).
	Keytab, SPN string

	// Connection limits of the tcp and tls listeners (conn.go). MaxConnections
	// caps each listener's connections at once (0: the file limit less a
	// reserve); MaxConnectionsPerAddr caps them per remote IP (0: no cap but
	// MaxConnections). IdleTimeout closes a connection without traffic either
	// way for that long; HandshakeTimeout bounds a TLS handshake; WriteTimeout
	// bounds each write to a peer, and SendQueue (bytes) what may wait for one:
	// past either, the peer is dropped. Zero: the Default*; negative timeouts:
	// none.
	MaxConnections        int
	MaxConnectionsPerAddr int
	IdleTimeout           time.Duration
	HandshakeTimeout      time.Duration
	WriteTimeout          time.Duration
	SendQueue             int
	// UnauthRate bounds the out-of-dialog requests without credentials each
	// source IP may send per second (burst: twice as many); the others are
	// dropped (UDP) or answered 503 (TCP, TLS) and counted. Zero:
	// DefaultUnauthRate; negative: no limit.
	UnauthRate float64

	// now is the clock (nonce ages, registration expiry, fault delays and stall
	// windows); nil means time.Now. Fault delays and stalls wait on time's timers,
	// so a clock other than time.Now should move with them (as synctest's does).
	now func() time.Time
}

// GeneratedUsers returns n public test accounts on domain: sip:user0001@<domain> with
// password "pass0001", and so on. It is a pure function.
func GeneratedUsers(n int, domain string) []scenarios.User {
	if domain == "" {
		domain = DefaultDomain
	}
	us := make([]scenarios.User, 0, max(n, 0))
	for i := 1; i <= n; i++ {
		us = append(us, scenarios.User{
			URI:      fmt.Sprintf("sip:user%04d@%s", i, domain),
			Password: fmt.Sprintf("pass%04d", i),
		})
	}
	return us
}

// RoomName returns the name of the i-th provisioned room (1-based): "room001". It is
// a pure function.
func RoomName(i int) string { return fmt.Sprintf("room%03d", i) }

func (c Config) withDefaults() Config {
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	c.Domain = strings.ToLower(c.Domain)
	if len(c.Listen) == 0 {
		c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}
	}
	if c.NonceLifetime == 0 {
		c.NonceLifetime = DefaultNonceLifetime
	}
	if c.DigestAlgorithm == "" {
		c.DigestAlgorithm = AlgorithmMD5
	}
	c.DigestAlgorithm = strings.ToUpper(c.DigestAlgorithm)
	if c.MaxNonces == 0 {
		// Two per user: every signed-in user keeps one nonce in use, and a stale one
		// lingers beside its successor until evicted. With fewer slots than users
		// (65,536 for 100,000), the oldest users' nonces were evicted and every
		// refresh of theirs was challenged stale: two REGISTERs each.
		c.MaxNonces = max(DefaultMaxNonces, 2*len(c.Users))
	}
	if c.MaxExpires == 0 {
		c.MaxExpires = DefaultMaxExpires
	}
	if c.CopyTimeout == 0 {
		c.CopyTimeout = DefaultCopyTimeout
	}
	if c.MaxPendingCopies == 0 {
		c.MaxPendingCopies = DefaultMaxPendingCopies
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SendQueue == 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.UnauthRate == 0 {
		c.UnauthRate = DefaultUnauthRate
	}
	if c.PChat.MaxDialogsPerUser == 0 {
		c.PChat.MaxDialogsPerUser = DefaultMaxDialogsPerUser
	}
	return c
}

// Validate reports the first problem with c (after defaults), naming the field.
// Passwords never appear in its errors. It reads c only.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.PChat.MergeItems < 0 || c.PChat.MergeItems > MaxMergeItems {
		return fmt.Errorf("xccos merge %d: want 0 to %d", c.PChat.MergeItems, MaxMergeItems)
	}
	if err := ValidDomain(c.Domain); err != nil {
		return fmt.Errorf("domain %q: %w", c.Domain, err)
	}
	for _, l := range c.Listen {
		a, err := ParseListen(l)
		if err != nil {
			return fmt.Errorf("listen %q: %w", l, err)
		}
		if c.Generated && !c.AllowRemote && !isLoopback(a.Addr) {
			return fmt.Errorf("listen %s %s: %w", a.Transport, a.Addr, ErrRemoteGenerated)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls: give both the certificate and the key file, or neither (a self-signed certificate is made)")
	}
	if c.TLSCert != "" && !c.hasTLS() {
		return errors.New("tls: a certificate is given but no tls listener (want a listen entry tls:host:port)")
	}
	if len(c.Users) == 0 {
		return errors.New("users: none given")
	}
	byAuth := map[string]string{}
	byUser := map[string]string{}
	for _, u := range c.Users {
		var uri sip.Uri
		if err := sip.ParseUri(u.URI, &uri); err != nil || uri.User == "" || uri.Host == "" {
			return fmt.Errorf("users: %q is not a SIP URI (want sip:user@domain)", u.URI)
		}
		if u.Password == "" {
			return fmt.Errorf("users: %s has an empty password", u.URI)
		}
		if prev, ok := byAuth[u.Username()]; ok {
			return fmt.Errorf("users: %s and %s share the auth user %q", prev, u.URI, u.Username())
		}
		byAuth[u.Username()] = u.URI
		// Delivery looks contacts up by user part (usrloc use_domain=0), so it must be unique.
		if prev, ok := byUser[uri.User]; ok {
			return fmt.Errorf("users: %s and %s share the user part %q", prev, u.URI, uri.User)
		}
		byUser[uri.User] = u.URI
	}
	if c.Rooms < 0 || c.Rooms > 100000 {
		return fmt.Errorf("rooms: %d is out of range 0..100000", c.Rooms)
	}
	if c.NonceLifetime < 0 {
		return fmt.Errorf("nonce lifetime: %v is negative", c.NonceLifetime)
	}
	if c.DigestAlgorithm != AlgorithmMD5 && c.DigestAlgorithm != AlgorithmSHA256 {
		return fmt.Errorf("digest algorithm %q: want %s or %s", c.DigestAlgorithm, AlgorithmMD5, AlgorithmSHA256)
	}
	if c.MaxNonces < 1 || c.MaxExpires < time.Second || c.CopyTimeout < 0 || c.MaxPendingCopies < 1 {
		return errors.New("max nonces, max expires, copy timeout and max pending copies must be positive")
	}
	if c.AnnounceMax < 0 {
		return fmt.Errorf("announce max: %d is negative", c.AnnounceMax)
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerAddr < 0 || c.SendQueue < 0 || c.PChat.MaxDialogsPerUser < 0 {
		return errors.New("max connections, max connections per address, send queue and max dialogs per user must not be negative")
	}
	if err := c.Faults.Validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	return c.validateAuth()
}

// validateAuth checks Auth, Keytab and SPN.
func (c Config) validateAuth() error {
	seen := map[string]bool{}
	for _, a := range c.Auth {
		switch a {
		case SchemeDigest, SchemeNTLM, SchemeKerberos:
		default:
			return fmt.Errorf("auth %q: want digest, ntlm or kerberos", a)
		}
		if seen[a] {
			return fmt.Errorf("auth %q given twice", a)
		}
		seen[a] = true
	}
	if seen[SchemeKerberos] && c.Keytab == "" {
		return errors.New("auth kerberos needs a keytab (the service principal's keys)")
	}
	if !seen[SchemeKerberos] && (c.Keytab != "" || c.SPN != "") {
		return errors.New("a keytab or SPN is given but kerberos is not among the auth schemes")
	}
	if c.SPN != "" && !strings.HasPrefix(c.SPN, "sip/") {
		return fmt.Errorf("spn %q: want sip/<fqdn>", c.SPN)
	}
	return nil
}

// String shows c without passwords: "domain=example.test listen=[...] users=100 ...".
// It reads c only.
func (c Config) String() string {
	c = c.withDefaults()
	users := strconv.Itoa(len(c.Users))
	if c.Generated {
		users += " (generated, passwords passNNNN)"
	}
	s := fmt.Sprintf("domain=%s listen=[%s] users=%s rooms=%d allow_remote=%t nonce_lifetime=%v digest=%s max_expires=%v copy_timeout=%v max_pending_copies=%d faults=[%s]",
		c.Domain, strings.Join(c.Listen, ","), users, c.Rooms, c.AllowRemote, c.NonceLifetime,
		c.DigestAlgorithm, c.MaxExpires, c.CopyTimeout, c.MaxPendingCopies, c.Faults)
	if len(c.Auth) > 0 {
		s += " auth=" + strings.Join(c.Auth, ",")
	}
	if c.SPN != "" {
		s += " spn=" + c.SPN
	}
	switch {
	case !c.hasTLS():
	case c.TLSCert != "":
		s += " tls_cert=" + c.TLSCert
	default:
		s += " tls_cert=self-signed"
	}
	return s
}

// hasTLS reports whether a listen entry is tls.
func (c Config) hasTLS() bool {
	for _, l := range c.Listen {
		if a, err := ParseListen(l); err == nil && a.Transport == "tls" {
			return true
		}
	}
	return false
}

// Addr is one bound listener. It is a plain value.
type Addr struct {
	Transport string `json:"transport"` // "udp", "tcp" or "tls"
	Addr      string `json:"addr"`      // host:port as bound ("127.0.0.1:40123")
}

// String returns "udp 127.0.0.1:40123". It reads a only.
func (a Addr) String() string { return a.Transport + " " + a.Addr }

// ParseListen parses a listen entry "transport:host:port" (IPv6 hosts in brackets).
// Hosts are IP literals, "localhost" or empty (all interfaces): the server never
// resolves names. It is a pure function.
func ParseListen(s string) (Addr, error) {
	tr, hp, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Addr{}, errors.New("want transport:host:port")
	}
	tr = strings.ToLower(tr)
	switch tr {
	case "udp", "tcp", "tls":
	default:
		return Addr{}, fmt.Errorf("unknown transport %q (want udp, tcp or tls)", tr)
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return Addr{}, fmt.Errorf("want transport:host:port: %w", err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return Addr{}, fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return Addr{}, fmt.Errorf("host %q is not an IP address or localhost", host)
	}
	return Addr{Transport: tr, Addr: net.JoinHostPort(host, port)}, nil
}

// isLoopback reports whether host:port can only be reached from this host.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidDomain reports why d cannot be a Config.Domain (a lower-case host name), or
// nil. It is a pure function.
func ValidDomain(d string) error {
	if d == "" {
		return errors.New("empty")
	}
	for _, r := range d {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
		default:
			return fmt.Errorf("character %q not allowed (want a host name)", r)
		}
	}
	return nil
}
