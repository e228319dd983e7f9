// Package sipua is the SIP client plumbing the chat protocols share: one user
// agent (socket, transaction layer) serving many simulated users, requests sent
// through an outbound proxy with a per-transaction timeout, pre-emptive digest
// authentication, incoming requests routed to the user they are for, and the
// mapping of SIP outcomes to report failure classes.
//
// One UA serves many users. Each user is an Account whose Contact carries its
// own user part on the UA's one listening address, so the server's copies
// (R-URI = that Contact) find the user without a socket per user: the load
// engine runs thousands of users, and a socket, a reader goroutine and a
// transport per user cost file descriptors and memory. A Driver holds a Pool
// (pool.go): N shared UAs with the users spread over them, or, as real
// clients are, one UA per user (Sharing).
package sipua

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/report"
)

// DefaultTimeout is the per-transaction timeout when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Config configures a UA. It is a plain value: safe to copy and share.
type Config struct {
	// Target is "host:port" of the registrar/proxy; every request goes there (it is
	// the outbound proxy, whatever the Request-URI says).
	Target string
	// Transport is "udp", "tcp" or "tls".
	Transport string
	// TLS configures the client side of transport tls: RootCAs (nil: the
	// system's roots), ServerName (empty: the host of Target; set it when Target
	// is an address or an SRV target and the certificate names the domain),
	// InsecureSkipVerify (no verification at all: tests only), Certificates (a
	// client certificate, also presented by the UA's own TLS listener). New
	// clones it and never modifies it. Nil means all defaults; it is refused
	// with another transport.
	TLS *tls.Config
	// LocalAddr is the local IP to bind. Empty: the address the system would use
	// to reach Target (127.0.0.1 for a loopback target).
	LocalAddr string
	// Timeout limits each SIP transaction (a challenged request is two). Zero
	// means DefaultTimeout. The caller's context deadline applies too.
	Timeout time.Duration
	// UserAgent is the User-Agent header value ("chatload/1.0.0"); empty: none.
	UserAgent string
	// Endpoint makes every Account a Microsoft SIP endpoint ([MS-SIPRE]): an
	// epid on the From of every request, a REGISTER Contact naming the
	// +sip.instance derived from it (with Supported: gruu), and, once the
	// registrar returned a GRUU for that instance, the GRUU as the Contact of
	// every other request; requests addressed to the GRUU find the Account.
	// Without a GRUU in the registrar's answer the Contact stays the listener's
	// address.
	Endpoint bool
	// KeepAlive, over tcp and tls, sends a CRLFCRLF ping (RFC 5626 3.5.1) on
	// the connection to the target every KeepAlive, so that the flow the
	// server's requests come back on (the GRUU's, see Endpoint) is not closed
	// by an idle timer or a NAT between. Zero: none. Ignored over udp.
	KeepAlive time.Duration
	// Advertise is the host:port named in Contact instead of the listening
	// address (a client behind a NAT; tests use it to name an unreachable
	// Contact). Empty: the listening address.
	Advertise string
	// Logger receives diagnostics (sipgo's too). Nil: nothing is logged.
	Logger *slog.Logger
	// Auth is the authentication mode (sipae.go): AuthAuto (also ""),
	// AuthDigest, AuthNTLM or AuthKerberos.
	Auth string
	// Kerberos configures the Kerberos client (nil: none; AuthAuto then
	// answers NTLM or Digest, AuthKerberos fails with "no credentials").
	Kerberos *KerberosConfig
	// Trace, when set, records every SIP message sent to and received from the
	// target (--trace). Over TCP and TLS it turns on sipgo's process-wide message
	// hooks.
	Trace *Trace
}

// Validate reports the first problem with c. It is a pure function.
func (c Config) Validate() error {
	if c.Target == "" {
		return errors.New("no target (want host:port)")
	}
	host, port, err := net.SplitHostPort(c.Target)
	if err != nil || host == "" {
		return fmt.Errorf("target %q: want host:port", c.Target)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("target %q: bad port", c.Target)
	}
	switch c.Transport {
	case "udp", "tcp", "tls":
	default:
		return fmt.Errorf("transport %q: want udp, tcp or tls", c.Transport)
	}
	if c.TLS != nil && c.Transport != "tls" {
		return fmt.Errorf("a TLS configuration with transport %s: want transport tls", c.Transport)
	}
	if c.LocalAddr != "" && net.ParseIP(c.LocalAddr) == nil {
		return fmt.Errorf("local address %q is not an IP address", c.LocalAddr)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("negative timeout %s", c.Timeout)
	}
	if c.KeepAlive < 0 {
		return fmt.Errorf("negative keep-alive interval %s", c.KeepAlive)
	}
	if c.Advertise != "" {
		host, port, err := net.SplitHostPort(c.Advertise)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("advertised address %q: want host:port", c.Advertise)
		}
	}
	if !ValidAuthMode(c.Auth) {
		return fmt.Errorf("auth %q: want auto, digest, ntlm or kerberos", c.Auth)
	}
	return nil
}

// String describes c for reports and logs. It is a pure function.
func (c Config) String() string {
	s := fmt.Sprintf("target=%s transport=%s timeout=%s", c.Target, c.Transport, c.timeout())
	if c.LocalAddr != "" {
		s += " local=" + c.LocalAddr
	}
	if c.Auth != "" && c.Auth != AuthAuto {
		s += " auth=" + c.Auth
	}
	if c.Transport == "tls" {
		t := c.clientTLS()
		switch {
		case t.InsecureSkipVerify:
			s += " tls-verify=off"
		case t.RootCAs != nil:
			s += " tls-verify=given-roots"
		default:
			s += " tls-verify=system-roots"
		}
		s += " tls-server-name=" + t.ServerName
	}
	return s
}

// clientTLS returns the configuration that dials the target: a copy of c.TLS
// with TLS 1.2 at least and the server name to verify, which must be set here:
// sipgo would verify the address it dials (requests go to the resolved IP),
// not the target's name. It is a pure function.
func (c Config) clientTLS() *tls.Config {
	var t *tls.Config
	if c.TLS != nil {
		t = c.TLS.Clone()
	} else {
		t = &tls.Config{}
	}
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	if t.ServerName == "" {
		if host, _, err := net.SplitHostPort(c.Target); err == nil {
			t.ServerName = host
		}
	}
	return t
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Handler receives an incoming request routed to an Account, after the UA has
// answered it with 200. It is called from the UA's goroutines, concurrently, and
// must not block.
type Handler func(req *sip.Request)

// UA is one SIP user agent: a socket per transport, sipgo's transport and
// transaction layers, and the Accounts using them. Safe for concurrent use.
type UA struct {
	cfg     Config
	timeout time.Duration
	where   string // "127.0.0.1:5090/udp", for error details
	network string // "UDP", "TCP" or "TLS", as sipgo spells it on requests
	dest    string // the target's resolved ip:port (no DNS per request)
	log     *slog.Logger

	shared  *sharedHeaders
	krb     *kerberosClient         // nil without Config.Kerberos
	scheme  atomic.Pointer[string]  // the scheme of the last challenge answered
	chosen  *atomic.Pointer[string] // where accounts record it: &scheme, or the Pool's
	onEmpty func(*UA)               // called when the last Account closes; nil: nothing
	traced  bool                    // installed the sipgo tracer (uninstalled by Close)
	sendNow bool                    // Request.Hold ignored: a socket of one user has nothing to batch
	badSigs atomic.Uint64           // requests refused: the server's signature did not verify
	sua     *sipgo.UserAgent
	client  *sipgo.Client
	server  *sipgo.Server
	contact sip.Uri // host, port, params; the user part is per Account
	advert  sip.Uri // contact as named in Contact headers (Config.Advertise)
	closers []io.Closer
	serving sync.WaitGroup

	// refused is closed (with an errRefused) when the target answers ICMP
	// unreachable, and replaced: every UDP transaction in flight watches the one
	// current when it started. Nil for TCP, where dial errors say it all, and
	// once the UA is closed.
	refused atomic.Pointer[refusal]
	// txs runs the UDP non-INVITE client transactions (fasttx.go), in
	// answers the UDP MESSAGE and OPTIONS requests (inbox.go), udp is the
	// socket; nil for TCP and TLS.
	txs *txTable
	in  *inbox
	udp *targetConn
	// timers holds stopped *time.Timers for the per-transaction timeout: a
	// context.WithTimeout per request costs several allocations on the hot path.
	timers sync.Pool

	mu     sync.RWMutex
	byKey  map[string]*Account // by Contact user part
	byAoR  map[string]*Account // by lower-case user@host of the AoR
	byGRUU map[string]*Account // by gruuKey of the GRUU the registrar gave
	seq    uint64
	closed bool

	// closing is set when Close starts: from then on no TLS connection is
	// completed (see dialGuard).
	closing   atomic.Bool
	stop      chan struct{} // closed when Close starts: ends the keep-alive loop
	closeOnce sync.Once
}

// New binds the UA's socket and starts serving it (one goroutine reads it).
// Close releases it. Errors are *report.Error (Transport) when binding fails.
func New(cfg Config) (*UA, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return openUA(cfg, uaShared{})
}

// uaShared is what the UAs of a Pool share, resolved or made once for all of
// them; zero fields are resolved or made by each UA itself.
type uaShared struct {
	raddr    *net.UDPAddr            // the target's address
	local    net.IP                  // the local address to bind
	krb      *kerberosClient         // the Kerberos client
	listener *tls.Config             // the tls listener's configuration (its certificate)
	scheme   *atomic.Pointer[string] // where accounts record the scheme they answered
	onEmpty  func(*UA)               // called when the UA's last Account closes (per-user)
	sendNow  bool                    // send held requests at once (per-user: nothing to batch)
}

// openUA is New for a validated cfg, with what sh gives.
func openUA(cfg Config, sh uaShared) (*UA, error) {
	ua := &UA{
		cfg:     cfg,
		timeout: cfg.timeout(),
		where:   cfg.Target + "/" + cfg.Transport,
		network: strings.ToUpper(cfg.Transport),
		log:     cfg.Logger,
		shared:  newSharedHeaders(cfg.UserAgent),
		byKey:   map[string]*Account{},
		byAoR:   map[string]*Account{},
		byGRUU:  map[string]*Account{},
		stop:    make(chan struct{}),
	}
	if ua.log == nil {
		ua.log = slog.New(slog.DiscardHandler)
	}
	ua.chosen, ua.onEmpty, ua.sendNow = sh.scheme, sh.onEmpty, sh.sendNow
	if ua.chosen == nil {
		ua.chosen = &ua.scheme
	}
	ua.krb = sh.krb
	if cfg.Kerberos != nil && ua.krb == nil {
		k, err := newKerberosClient(*cfg.Kerberos)
		if err != nil {
			return nil, err
		}
		ua.krb = k
	}
	ok := false
	defer func() {
		if !ok {
			ua.Close()
		}
	}()

	raddr, local, err := ua.addresses(sh)
	if err != nil {
		return nil, err
	}
	ua.dest = raddr.String()
	if cfg.Trace != nil && cfg.Transport != "udp" {
		installSIPGoTracer(cfg.Trace, ua.dest, cfg.Transport)
		ua.traced = true
	}

	var tlsOpt []sipgo.UserAgentOption
	if cfg.Transport == "tls" {
		tlsOpt = append(tlsOpt, sipgo.WithUserAgenTLSConfig(ua.dialGuard(cfg.clientTLS())))
	}
	ua.sua, err = sipgo.NewUA(append(tlsOpt,
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentHostname(local.String()),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(ua.log),
			// Late retransmitted responses are normal under load; not worth a log line each.
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {}),
			// A TCP connection that drops fails its transactions now (Transport)
			// instead of leaving them to time out.
			sip.WithTransactionLayerTerminateOnConnClose(),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(ua.log)),
	)...)
	if err != nil {
		return nil, err
	}
	ua.server, err = sipgo.NewServer(ua.sua, sipgo.WithServerLogger(ua.log))
	if err != nil {
		return nil, err
	}
	ua.server.OnMessage(ua.onRequest)
	ua.server.OnOptions(ua.onRequest)

	switch cfg.Transport {
	case "udp":
		err = ua.listenUDP(local, raddr)
	case "tcp":
		err = ua.listenStream(local, nil)
	case "tls":
		lt := sh.listener
		if lt == nil {
			lt, err = listenerTLS(cfg.TLS, local)
		}
		if err == nil {
			err = ua.listenStream(local, lt)
		}
	}
	if err != nil {
		return nil, err
	}
	if cfg.KeepAlive > 0 && cfg.Transport != "udp" {
		ua.serving.Add(1)
		go ua.keepAlive(cfg.KeepAlive)
	}
	ok = true
	return ua, nil
}

// addresses returns the target's address and the local one to bind: sh's
// when it has them, else resolved here.
func (ua *UA) addresses(sh uaShared) (*net.UDPAddr, net.IP, error) {
	raddr, local := sh.raddr, sh.local
	if raddr == nil {
		var err error
		if raddr, err = resolveTarget(ua.cfg.Target, ua.timeout); err != nil {
			return nil, nil, &report.Error{Class: report.Transport, Op: "resolve", Detail: "cannot resolve " + ua.where, Err: err}
		}
	}
	if local == nil {
		local = net.ParseIP(ua.cfg.LocalAddr)
	}
	if local == nil {
		var err error
		if local, err = localIPFor(raddr); err != nil {
			return nil, nil, &report.Error{Class: report.Transport, Op: "bind", Detail: "no local address reaches " + ua.where, Err: err}
		}
	}
	return raddr, local, nil
}

// crlf2 is the RFC 5626 keep-alive ping of a stream transport.
var crlf2 = []byte("\r\n\r\n")

// keepAlive pings the connection to the target every d until Close. A ping
// is one write, which the connection never interleaves with a message (each
// is one Write on it). No connection yet (nothing sent): nothing to keep.
func (ua *UA) keepAlive(d time.Duration) {
	defer ua.serving.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ua.stop:
			return
		case <-t.C:
		}
		c, err := ua.sua.TransportLayer().GetConnection(ua.cfg.Transport, ua.dest)
		if err != nil || c == nil {
			continue
		}
		if w, ok := c.(io.Writer); ok {
			if _, err := w.Write(crlf2); err != nil {
				ua.log.Debug("keep-alive failed", "target", ua.where, "error", err)
			}
		}
		_, _ = c.TryClose() // GetConnection took a reference
	}
}

func (ua *UA) listenUDP(local net.IP, raddr *net.UDPAddr) error {
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: local}, raddr)
	if err != nil {
		return &report.Error{Class: report.Transport, Op: "bind", Detail: "cannot open a udp socket to " + ua.where, Err: err}
	}
	// Fan-out copies arrive in bursts; the default buffer (~200 KiB) drops them
	// before the reader catches up at a few thousand copies per second.
	_ = c.SetReadBuffer(4 << 20)
	ua.refused.Store(newRefusal())
	tc, err := newTargetConn(c, ua.onRefused)
	if err != nil {
		_ = c.Close()
		return &report.Error{Class: report.Transport, Op: "bind", Detail: "cannot use the udp socket to " + ua.where, Err: err}
	}
	ua.udp = tc
	writeBatch := tc.sysWriteBatch
	if t := ua.cfg.Trace; t != nil {
		tc.trace, tc.local, tc.remote = t, c.LocalAddr().String(), c.RemoteAddr().String()
		writeBatch = func(bufs [][]byte, failed func(int, error)) {
			for _, b := range bufs {
				t.Record(true, "UDP", tc.local, tc.remote, b)
			}
			tc.sysWriteBatch(bufs, failed)
		}
	}
	ua.txs = newTxTableBatch(tc.write, writeBatch, sip.T1, sip.T2, ua.timeout)
	ua.in = newInbox(ua, raddr.String(), sip.Timer_J)
	tc.intercept = ua.onDatagram
	ua.closers = append(ua.closers, c)
	ua.serving.Add(1)
	go func() {
		defer ua.serving.Done()
		_ = ua.server.ServeUDP(tc)
	}()
	// Requests must find the socket in sipgo's pool, or sipgo would try to bind
	// a second socket on the same port.
	select {
	case <-tc.ready:
	case <-time.After(ua.timeout):
		return errors.New("sipua: udp transport did not start")
	}
	la := c.LocalAddr().(*net.UDPAddr)
	ua.contact = sip.Uri{Scheme: "sip", Host: la.IP.String(), Port: la.Port}
	ua.advertise()
	ua.client, err = sipgo.NewClient(ua.sua,
		// UDP: send from the listening socket so that responses and the server's
		// copies come back to the port named in Contact.
		sipgo.WithClientConnectionAddr(la.String()),
		sipgo.WithClientNAT(),
		sipgo.WithClientLogger(ua.log))
	return err
}

// listenStream opens the tcp listener, or the tls one when lt is not nil, and
// makes the client for the one connection to the target.
func (ua *UA) listenStream(local net.IP, lt *tls.Config) error {
	tr := ua.cfg.Transport
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: local})
	if err != nil {
		return &report.Error{Class: report.Transport, Op: "bind", Detail: "cannot listen on " + tr + " " + local.String(), Err: err}
	}
	la := l.Addr().(*net.TCPAddr)
	var ln net.Listener = l
	if lt != nil {
		ln = tls.NewListener(l, lt) // closing it closes l
	}
	ua.closers = append(ua.closers, ln)
	ua.serving.Add(1)
	go func() {
		defer ua.serving.Done()
		if lt != nil {
			_ = ua.server.ServeTLS(ln)
		} else {
			_ = ua.server.ServeTCP(ln)
		}
	}()
	params := sip.NewParams()
	params.Add("transport", tr)
	// TLS keeps the sip: scheme with transport=tls, as Lync and most SIP-over-TLS
	// clients register: sips: would ask for TLS on every hop to the user (RFC
	// 5630), which the server cannot promise for its copies and which servers
	// without a sips policy refuse; the hop that matters, this UA's connection to
	// the target, is TLS either way.
	ua.contact = sip.Uri{Scheme: "sip", Host: la.IP.String(), Port: la.Port, UriParams: params}
	ua.advertise()
	// Requests go over one connection dialled to the target (sipgo reuses it by
	// remote address); the server sends copies back over it (Kamailio's
	// fix_nated_register) or connects to the listener named in Contact.
	// WithClientConnectionAddr would make sipgo bind the listening port for
	// dialling, which fails on a UA that accepts.
	ua.client, err = sipgo.NewClient(ua.sua, sipgo.WithClientNAT(), sipgo.WithClientLogger(ua.log))
	return err
}

// advertise sets the address Contacts name: the listener's, or Config.Advertise.
func (ua *UA) advertise() {
	ua.advert = ua.contact
	if ua.cfg.Advertise == "" {
		return
	}
	host, port, _ := net.SplitHostPort(ua.cfg.Advertise) // Validate checked it
	ua.advert.Host = host
	ua.advert.Port, _ = strconv.Atoi(port)
}

// listenerTLS is the configuration of the UA's own TLS listener, where a server
// that does not reuse the client's connection would deliver: the client
// certificate of cfg when there is one, else a self-signed certificate for the
// local address (such a server must then not verify it, which is the usual
// setting for connections to clients).
func listenerTLS(cfg *tls.Config, local net.IP) (*tls.Config, error) {
	lt := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg != nil && len(cfg.Certificates) > 0 {
		lt.Certificates = cfg.Certificates
		return lt, nil
	}
	c, err := SelfSigned([]string{local.String()}, listenerCertValidity)
	if err != nil {
		return nil, &report.Error{Class: report.Other, Op: "bind", Detail: "cannot make a certificate for the tls listener", Err: err}
	}
	lt.Certificates = []tls.Certificate{c}
	return lt, nil
}

// dialGuard makes t refuse every handshake once Close has started. An incoming
// request that sipgo reads while Close runs gets its server transaction after
// the connection left the pool, and sipgo then dials the request's Via address
// to answer it: nothing would close that connection (the pool is already
// cleared), leaking it and its reader on both ends. Such a dial now fails its
// handshake, which closes it.
func (ua *UA) dialGuard(t *tls.Config) *tls.Config {
	verify := t.VerifyConnection
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		if ua.closing.Load() {
			return errClosing
		}
		if verify != nil {
			return verify(cs)
		}
		return nil
	}
	return t
}

var errClosing = errors.New("sipua: user agent closing")

// listenerCertValidity is how long the UA listener's self-signed certificate is
// valid: longer than any soak, since nothing renews it.
const listenerCertValidity = 30 * 24 * time.Hour

// resolveTarget returns the target's address, preferring IPv4 like sipgo.
func resolveTarget(target string, timeout time.Duration) (*net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip != nil {
		return &net.UDPAddr{IP: ip, Port: p}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("no address for %s", host)
	}
	best := ips[0]
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			best = ip
			break
		}
	}
	return &net.UDPAddr{IP: best.IP, Port: p, Zone: best.Zone}, nil
}

// localIPFor returns the local IP the system routes to raddr from. Connecting a
// UDP socket sends nothing.
func localIPFor(raddr *net.UDPAddr) (net.IP, error) {
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP, nil
}

// Where names the target for error details: "127.0.0.1:5090/udp". Safe for
// concurrent use, as are the other accessors.
func (ua *UA) Where() string { return ua.where }

// Timeout returns the per-transaction timeout in force.
func (ua *UA) Timeout() time.Duration { return ua.timeout }

// Transport returns "udp", "tcp" or "tls".
func (ua *UA) Transport() string { return ua.cfg.Transport }

// LocalAddr returns the listening address ("127.0.0.1:40312") named in Contacts.
func (ua *UA) LocalAddr() string {
	return net.JoinHostPort(ua.contact.Host, strconv.Itoa(ua.contact.Port))
}

// Close stops serving, terminates the transactions in flight and closes the
// sockets. Accounts still open fail their requests afterwards. Safe to call more
// than once and concurrently.
func (ua *UA) Close() error {
	ua.closeOnce.Do(func() {
		ua.closing.Store(true)
		close(ua.stop)
		if ua.traced {
			defer uninstallSIPGoTracer(ua.cfg.Trace, ua.dest)
		}
		ua.mu.Lock()
		ua.closed = true
		ua.mu.Unlock()
		for _, c := range ua.closers {
			_ = c.Close()
		}
		if ua.sua != nil && ua.cfg.Transport != "udp" {
			// sipgo's pool Clear skips connections whose reference count already
			// dropped to zero (it logs "TCP ref went negative" and leaves the socket
			// open), leaking the connection and its reader: close ours by hand.
			// TLS connections are TCP connections in the same kind of pool.
			if c, err := ua.sua.TransportLayer().GetConnection(ua.cfg.Transport, ua.dest); err == nil && c != nil {
				_ = c.Close()
			}
		}
		if ua.sua != nil {
			_ = ua.sua.Close()
		}
		ua.serving.Wait()
		if ua.txs != nil {
			ua.txs.close(context.Canceled)
		}
		if r := ua.refused.Swap(nil); r != nil {
			r.fire(context.Canceled)
		}
	})
	return nil
}

// refusal is one generation of "the target refused": done is closed once err
// is set.
type refusal struct {
	done chan struct{}
	err  error
}

func newRefusal() *refusal { return &refusal{done: make(chan struct{})} }

// fire sets err and wakes every transaction watching r. Called once per r: the
// callers take r out of the UA first.
func (r *refusal) fire(err error) {
	r.err = err
	close(r.done)
}

func (ua *UA) onRefused(errno syscall.Errno) {
	old := ua.refused.Load()
	if old == nil || !ua.refused.CompareAndSwap(old, newRefusal()) {
		return // closed, or another refusal report replaced it first
	}
	old.fire(errRefused{errno})
	if ua.txs != nil {
		ua.txs.failAll(errRefused{errno})
	}
	ua.log.Debug("target unreachable", "target", ua.where, "error", errno.Error())
}

// transact runs one client transaction for a fresh req and calls done once
// with its final response or the error that ended it, within the
// per-transaction timeout and ctx, and (UDP) cut short when the target
// refuses. A UDP non-INVITE request is one of the UA's own transactions
// (fasttx.go): done is called later, from the UA's goroutines, with full
// false a 2xx is not parsed (txResult.res is nil), and with hold the request
// waits for the next Flush to be sent. Anything else goes through sipgo's
// transaction layer: transact then blocks and calls done before it returns.
// done must not block.
func (ua *UA) transact(ctx context.Context, req *sip.Request, full, hold bool, done func(txResult)) {
	if ua.own(req.Method) {
		ua.txs.start(ctx, req, ua.contact.Host, ua.contact.Port, fullIf(full), hold, done)
		return
	}
	res, err := ua.send(ctx, req)
	if err != nil {
		done(txResult{err: err})
		return
	}
	done(txResult{code: res.StatusCode, reason: res.Reason, res: res})
}

// Flush sends the requests held for it (DoAsync of a Request with Hold) in as few system
// calls as it can (sendmmsg on Linux). Safe for concurrent use.
func (ua *UA) Flush() {
	if ua.txs != nil {
		ua.txs.flush()
	}
}

// own reports whether a request of method is one of the UA's own
// transactions (fasttx.go): UDP, and not INVITE (nor ACK or CANCEL).
func (ua *UA) own(method sip.RequestMethod) bool {
	return ua.txs != nil && method != sip.INVITE && method != sip.ACK && method != sip.CANCEL
}

// do is transact waiting for the final response.
func (ua *UA) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	ch := make(chan txResult, 1)
	ua.transact(ctx, req, true, false, func(r txResult) { ch <- r })
	r := <-ch
	return r.res, r.err
}

// send runs one client transaction through sipgo for a fresh req and returns its final
// response, within the per-transaction timeout and ctx, and (UDP) cut short
// when the target refuses. It is Client.Do with those limits watched directly:
// a derived context per request (timeout, refusal) was the most expensive part
// of sending that is not sipgo's.
func (ua *UA) send(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	var refused <-chan struct{} // nil (never ready) for TCP
	r := ua.refused.Load()
	if r != nil {
		refused = r.done
	}
	var expired <-chan time.Time
	if ua.network == "UDP" {
		t, _ := ua.timers.Get().(*time.Timer)
		if t == nil {
			t = time.NewTimer(ua.timeout)
		} else {
			t.Reset(ua.timeout)
		}
		defer func() {
			t.Stop() // no stale expiry can be left in C since Go 1.23
			ua.timers.Put(t)
		}()
		expired = t.C
	} else {
		// TCP and TLS may dial the target (and TLS shake hands) inside
		// TransactionRequest, which only a context can bound.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ua.timeout)
		defer cancel()
	}
	tx, err := ua.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, sip.ErrTransactionTerminated
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-expired:
			return nil, context.DeadlineExceeded
		case <-refused:
			return nil, r.err
		}
	}
}

// onDatagram is the UDP read loop's first look at a datagram: responses to
// the UA's own transactions and incoming MESSAGE and OPTIONS requests are
// handled here; it reports false for the rest, which sipgo handles.
func (ua *UA) onDatagram(b []byte) bool {
	return ua.txs.onDatagram(b) || ua.in.onDatagram(b)
}

// onRequest answers every request it is given with 200 at once (imc expects it
// and never retries on anything else) and then hands it to its Account.
func (ua *UA) onRequest(req *sip.Request, tx sip.ServerTransaction) {
	a := ua.route(req)
	res := okResponse(req)
	refused := a != nil && !a.accept(req)
	if refused {
		res.StatusCode, res.Reason = sip.StatusForbidden, ReasonBadSignature
	}
	if err := tx.Respond(res); err != nil {
		ua.log.Debug("answering incoming request failed", "method", req.Method, "error", err)
	}
	if req.Method == sip.OPTIONS || refused {
		return
	}
	if a != nil && a.handler != nil && !a.closed.Load() {
		a.handler(req)
	}
}

// route finds the Account a request is for: by the GRUU it is addressed to,
// else by the Request-URI's user part (our Contact, which is what Kamailio puts
// there), else by the To AoR for servers that address the AoR.
func (ua *UA) route(req *sip.Request) *Account {
	ua.mu.RLock()
	defer ua.mu.RUnlock()
	if k := gruuKey(req.Recipient); k != "" {
		if a := ua.byGRUU[k]; a != nil {
			return a
		}
	}
	if a := ua.byKey[req.Recipient.User]; a != nil {
		return a
	}
	if to := req.To(); to != nil {
		return ua.byAoR[aorKey(to.Address)]
	}
	return nil
}

func aorKey(u sip.Uri) string { return strings.ToLower(u.User + "@" + u.Host) }

// AuthScheme returns the scheme the UA's accounts last answered a challenge
// with ("Kerberos", "NTLM", "Digest"), "" before any. Safe for concurrent use.
func (ua *UA) AuthScheme() string {
	if s := ua.chosen.Load(); s != nil {
		return *s
	}
	return ""
}
