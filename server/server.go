// Package server is chatload's embedded target: a small, real SIP server over sipgo
// with an in-memory registrar, server-side digest auth and a chat-room front end
// that is identical on the wire to Kamailio's imc module as our Kamailio testbed
// runs it (see docs/protocols/kamailio-imc.md). It listens on UDP, TCP and TLS.
//
// Timers: sipgo's SIP timers are process globals and this package leaves them as
// they are (T1 500 ms). So a UDP server transaction lingers for Timer J (64*T1 =
// 32 s, about 4 KiB each) after its final response; at thousands of requests per
// second that is the server's main memory cost. A process that wants shorter
// lingering calls sip.SetTimers once at start-up, before any Server is created.
//
// Addresses: requests to a user (room copies, notifications, relayed MESSAGEs) go
// to its one registered contact. Over UDP they go to the Contact's address and
// leave from the listening socket the REGISTER came in on; over TCP and TLS they go
// back over the connection the REGISTER came in on (Kamailio's fix_nated_register):
// the server never dials, so it needs no client certificate and verifies none.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos/codec"
	"github.com/chatload/chatload/scenarios"
)

// Reason phrases the server answers with. Clients classify failures by them; they
// match our Kamailio testbed's configuration.
const (
	ReasonUserNotFound     = "User Not Found"      // 404: auth username not provisioned (auth_check -3)
	ReasonAuthUserMismatch = "Auth User Mismatch"  // 403: auth user is not the From (To for REGISTER) user
	ReasonNotRelaying      = "Not relaying"        // 403: Request-URI outside our domains
	ReasonBadCredentials   = "Bad Credentials"     // 400: unparsable Digest credentials
	ReasonBadDigestURI     = "Digest URI Mismatch" // 400: the credentials' uri is not the Request-URI
)

const (
	// userAgent is the server's User-Agent and Server header value.
	userAgent = "chatload-serve"
	// defaultExpires is the registration lifetime when a REGISTER names none (Kamailio's default_expires).
	defaultExpires = 3600 * time.Second
)

// account is one provisioned user.
type account struct {
	uri      string // as configured
	user     string // URI user part: the AoR key and the identity From/To must show
	authUser string
	password string
}

// Server is an embedded target, ready to run after New. Its methods are safe for
// concurrent use; Start succeeds once, and Close may be called any number of times.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	confHost string

	byAuth map[string]*account // by digest username
	byUser map[string]*account // by URI user part
	auth   *authenticator
	sae    *sipaeState // MS-SIPAE (sipae.go)
	reg    *registrar
	rooms  map[string]*room // by lower-case name; the set is fixed at New
	names  []string         // room names in order
	stats  counters

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client
	tls *tls.Config // of the tls listeners; nil without one. Never modified after New.

	ctx     context.Context // canceled by Close: stops lanes and pending waits
	cancel  context.CancelFunc
	lanes   []chan delivery
	pending chan struct{} // semaphore: copies awaiting their final answer
	wg      sync.WaitGroup
	gate    *stallGate     // holds room lines in stall windows; nil without the Stall fault
	pc      *pchat         // the XCCOS front end (xccos.go)
	diags   *diagLimiter   // rate limits log lines per kind (diag.go)
	limiter *sourceLimiter // unauthenticated requests per source IP; nil: no limit (limits.go)
	// copyTx starts the client transaction of a copy or notice: transmit, except
	// in tests that run without a network.
	copyTx func(req *sip.Request, b binding) (sip.ClientTransaction, error)

	mu      sync.Mutex // guards the fields below
	started bool
	closed  bool
	addrs   []Addr
	closers []io.Closer
	ips     []net.IP // bound listener IPs: R-URIs naming them are ours
	udp     []*udpGuard
	conns   map[string]*guardConn // open tcp/tls connections by transport "|" remote address
}

// New validates cfg and returns a server that is not listening yet. It is safe for
// concurrent use (each call builds an independent server).
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		now:      cfg.now,
		confHost: "conf." + cfg.Domain,
		byAuth:   make(map[string]*account, len(cfg.Users)),
		byUser:   make(map[string]*account, len(cfg.Users)),
		reg:      newRegistrar(),
		rooms:    make(map[string]*room, cfg.Rooms),
		pending:  make(chan struct{}, cfg.MaxPendingCopies),
		diags:    newDiagLimiter(cfg.now),
		conns:    map[string]*guardConn{},
	}
	if cfg.UnauthRate > 0 {
		s.limiter = newSourceLimiter(cfg.UnauthRate, cfg.now)
	}
	// sipgo logs through sipgoLog: rate-limited, a peer's bytes truncated.
	sipLog := slog.New(&sipgoLog{s: s, inner: log.Handler()})
	for _, u := range cfg.Users {
		var uri sip.Uri
		_ = sip.ParseUri(u.URI, &uri) // Validate parsed it already
		a := &account{uri: u.URI, user: uri.User, authUser: u.Username(), password: u.Password}
		s.byAuth[a.authUser] = a
		s.byUser[a.user] = a
	}
	for i := 1; i <= cfg.Rooms; i++ {
		n := RoomName(i)
		r := newRoom(n, s.confHost)
		if cfg.Faults.random() {
			r.rng = newFaultRand(cfg.Faults.Seed, n)
		}
		s.rooms[n] = r
		s.names = append(s.names, n)
	}
	s.copyTx = func(req *sip.Request, b binding) (sip.ClientTransaction, error) { return s.transmit(req, b) }
	var err error
	if cfg.hasTLS() {
		if s.tls, err = serverTLS(cfg); err != nil {
			return nil, err
		}
	}
	s.auth, err = newAuthenticator(cfg.Domain, cfg.DigestAlgorithm, cfg.NonceLifetime, cfg.MaxNonces, cfg.now)
	if err != nil {
		return nil, err
	}
	if s.sae, err = newSIPAE(cfg); err != nil {
		return nil, err
	}
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(userAgent),
		sipgo.WithUserAgentHostname(cfg.Domain),
		// Any name lookup is a bug here (we answer 403 to foreign domains and never
		// send to names); a resolver that cannot dial makes one fail at once.
		sipgo.WithUserAgentDNSResolver(&net.Resolver{PreferGo: true,
			Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errNoDNS }}),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			// A copy sent over a member's TCP or TLS connection that then closes can
			// never be answered (the server never dials): it fails at once instead of
			// holding a pending slot for CopyTimeout.
			sip.WithTransactionLayerTerminateOnConnClose()),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
	)
	if err != nil {
		return nil, err
	}
	s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		s.ua.Close()
		return nil, err
	}
	// The same UA sends and receives, so copies leave from our listening sockets
	// and their answers come back to the transactions that sent them.
	s.cli, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(sipLog))
	if err != nil {
		s.ua.Close()
		return nil, err
	}
	s.srv.OnNoRoute(s.handle)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.pc, err = newPChat(s); err != nil {
		s.ua.Close()
		return nil, err
	}
	return s, nil
}

var errNoDNS = errors.New("chatload serve does not resolve names")

// Start binds every listener and starts serving; it returns once all are bound (the
// kernel queues what arrives before the readers run). ctx bounds the binding only:
// Close stops the server.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("server: Start called twice or after Close")
	}
	s.started = true
	s.startWorkers()
	var lc net.ListenConfig
	for _, spec := range s.cfg.Listen {
		a, err := ParseListen(spec)
		if err != nil {
			return err // Validate accepted it; kept for safety
		}
		if err := s.bind(ctx, &lc, a); err != nil {
			for _, c := range s.closers {
				c.Close()
			}
			s.closers, s.addrs, s.ips = nil, nil, nil
			s.cancel() // stops the lanes; the server is unusable now
			return fmt.Errorf("listen %s %s: %w", a.Transport, a.Addr, err)
		}
	}
	return nil
}

// startWorkers starts the lanes (with their delay lines) and the stall clock. Lanes
// keep each room's copies and notices in the order the room produced them. They
// exist before any listener, so every handler sees them. Called once, by Start.
func (s *Server) startWorkers() {
	f := s.cfg.Faults
	if f.stalls() {
		s.gate = &stallGate{start: s.now(), dur: f.StallFor, period: f.StallEvery, now: s.now, stalls: &s.stats.faultStalls}
	}
	for range min(max(len(s.rooms), 1), 32) {
		ch := make(chan delivery, 256)
		s.lanes = append(s.lanes, ch)
		var dl *delayLine
		if f.delays() {
			dl = newDelayLine(s.now, s.cfg.MaxPendingCopies)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				dl.run(s.ctx)
			}()
		}
		s.wg.Add(1)
		go s.lane(ch, dl)
	}
}

// bind opens one listener and serves it.
func (s *Server) bind(ctx context.Context, lc *net.ListenConfig, a Addr) error {
	// An IPv4 address binds IPv4 only: "udp" on 0.0.0.0 would bind [::] and show it.
	family := ""
	if host, _, err := net.SplitHostPort(a.Addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
			family = "4"
		} else if ip != nil {
			family = "6"
		}
	}
	switch a.Transport {
	case "udp":
		pc, err := lc.ListenPacket(ctx, "udp"+family, a.Addr)
		if err != nil {
			return err
		}
		// The default ~208 KiB receive buffer overflows at a few thousand requests/s
		// and the kernel drops answers silently, which clients then see as
		// retransmissions. The kernel caps the request at net.core.rmem_max.
		if uc, ok := pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(4 << 20)
			_ = uc.SetWriteBuffer(4 << 20)
		}
		g := s.guardUDP(pc)
		s.udp = append(s.udp, g)
		s.listening(a.Transport, pc.LocalAddr(), g)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveUDP(g) // returns when g is closed
		}()
	case "tcp":
		l, err := lc.Listen(ctx, "tcp"+family, a.Addr)
		if err != nil {
			return err
		}
		gl := s.guard(l, "tcp")
		s.listening(a.Transport, l.Addr(), gl)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.srv.ServeTCP(gl) // returns when gl is closed: accept errors are retried
		}()
	case "tls":
		l, err := lc.Listen(ctx, "tcp"+family, a.Addr)
		if err != nil {
			return err
		}
		// The handshake runs on the connection's first read, in sipgo's reader
		// goroutine for it: a slow or failing client holds up no one else.
		tl := &tlsGuard{guardListener: s.guard(l, "tls"), cfg: s.tls}
		s.listening(a.Transport, l.Addr(), tl)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.srv.ServeTLS(tl) // returns when tl (and so l) is closed
		}()
	default:
		return fmt.Errorf("transport %q not supported", a.Transport)
	}
	return nil
}

func (s *Server) listening(tr string, la net.Addr, c io.Closer) {
	s.addrs = append(s.addrs, Addr{Transport: tr, Addr: la.String()})
	s.closers = append(s.closers, c)
	if host, _, err := net.SplitHostPort(la.String()); err == nil {
		if ip := net.ParseIP(host); ip != nil {
			s.ips = append(s.ips, ip)
		}
	}
}

// Addrs returns the bound listeners, in Config.Listen order (none before Start).
// Safe for concurrent use.
func (s *Server) Addrs() []Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Addr(nil), s.addrs...)
}

// Addr returns the first bound address of transport ("udp", "tcp", "tls"), or "" when
// none. Safe for concurrent use.
func (s *Server) Addr(transport string) string {
	for _, a := range s.Addrs() {
		if a.Transport == transport {
			return a.Addr
		}
	}
	return ""
}

// Stats returns a snapshot of the counters. Safe for concurrent use; it never
// blocks on traffic.
func (s *Server) Stats() Stats { return s.stats.snapshot().withSIPAE(s.sae) }

// Config returns the configuration in use, defaults applied. Safe for concurrent use.
func (s *Server) Config() Config { return s.cfg }

// Close stops listening, abandons pending copies (not counted as failed) and waits
// for the server's goroutines. Safe for concurrent use; calling it again is a no-op.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	closers := s.closers
	s.mu.Unlock()

	s.cancel()
	var errs []error
	for _, c := range closers {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.ua.Close() // terminates transactions, closes connections
	s.wg.Wait()
	if err := s.pc.store.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// handle is sipgo's entry point, run on its own goroutine per new server
// transaction; retransmissions are absorbed by the transaction and never get here.
func (s *Server) handle(req *sip.Request, tx sip.ServerTransaction) {
	defer func() {
		// A bug must not take the whole target down in the middle of a load run.
		if r := recover(); r != nil {
			s.log.Error("panic handling request", "panic", r, "request", req.StartLine(), "stack", string(debug.Stack()))
			s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		}
	}()
	s.serve(req, tx)
}

func (s *Server) serve(req *sip.Request, tx sip.ServerTransaction) {
	s.stats.request(req.Method)
	sipae := s.sae.ntlm || s.sae.kerberos
	if req.Method == sip.ACK {
		if sipae && req.From() != nil && req.To() != nil && req.CallID() != nil && req.CSeq() != nil {
			s.sipaeRequest(req, tx) // an ACK of a security association is signed too: verified and counted
		}
		return // ACKs to our negative INVITE answers need nothing
	}
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		s.reject(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	if req.SipVersion != "SIP/2.0" { // RFC 3261 §8.2.2.x: a version we do not speak
		s.reject(req, tx, sip.StatusVersionNotSupported, "Version Not Supported")
		return
	}
	if req.CSeq().MethodName != req.Method { // RFC 3261 §8.1.1.5: the CSeq method matches the request's
		s.reject(req, tx, sip.StatusBadRequest, "CSeq Method Mismatch")
		return
	}
	if !s.admitUnauthenticated(req, tx) {
		return
	}
	if sipae { // MS-SIPAE (sipae.go): handshake legs answered, signatures verified, answers signed
		var ok bool
		if tx, ok = s.sipaeRequest(req, tx); !ok {
			return
		}
	}
	if sch := strings.ToLower(req.Recipient.Scheme); sch != "sip" && sch != "sips" && sch != "" {
		s.reject(req, tx, 416, "Unsupported URI Scheme")
		return
	}
	host := strings.ToLower(strings.Trim(req.Recipient.Host, "[]"))
	conf := host == s.confHost
	if !conf && !s.isLocal(host) {
		s.reject(req, tx, sip.StatusForbidden, ReasonNotRelaying)
		return
	}
	switch req.Method {
	case sip.OPTIONS:
		s.reject(req, tx, sip.StatusOK, "OK", allow())
	case sip.REGISTER:
		if a := s.authenticate(req, tx); a != nil {
			s.register(req, tx, a)
		}
	case sip.MESSAGE:
		a := s.authenticate(req, tx)
		if a == nil {
			return
		}
		if conf {
			s.roomRequest(req, tx, a)
		} else {
			s.relay(req, tx)
		}
	case sip.INVITE, sip.INFO, sip.BYE, sip.UPDATE:
		s.pchatRequest(req, tx) // XCCOS front end (xccos.go)
	case sip.SUBSCRIBE:
		if a := s.authenticate(req, tx); a != nil {
			s.subscribe(req, tx, a) // in-band provisioning (provision.go)
		}
	case sip.CANCEL:
		s.reject(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	default:
		s.reject(req, tx, sip.StatusMethodNotAllowed, "Method Not Allowed", allow())
	}
}

// reject answers req with a response that changed nothing (a refusal, a
// challenge, OPTIONS' 200) and ends its transaction at once: a UDP server
// transaction would otherwise be kept for Timer J (32 s) to absorb
// retransmissions, state a peer without credentials could pile up. A
// retransmission is simply answered again, as a stateless server does.
func (s *Server) reject(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	s.respond(req, tx, code, reason, hdrs...)
	tx.Terminate()
}

// admitUnauthenticated applies the per-source rate to out-of-dialog requests
// without credentials; over it, a request is dropped (UDP) or answered 503
// (TCP, TLS), counted, and false returned.
func (s *Server) admitUnauthenticated(req *sip.Request, tx sip.ServerTransaction) bool {
	if s.limiter == nil {
		return true
	}
	if tag, _ := req.To().Params.Get("tag"); tag != "" {
		return true // in-dialog: the dialog's own checks apply
	}
	if req.GetHeader("Authorization") != nil || req.GetHeader("Proxy-Authorization") != nil {
		return true
	}
	if s.limiter.allow(sourceIP(req.Source())) {
		return true
	}
	s.stats.rateLimited.Add(1)
	s.diag(slog.LevelError, "unauthenticated requests over the per-source rate: dropped", "source", req.Source(), "rate_per_s", s.cfg.UnauthRate)
	if strings.EqualFold(req.Transport(), "udp") {
		tx.Terminate()
		return false
	}
	s.reject(req, tx, sip.StatusServiceUnavailable, "Rate Limited", sip.NewHeader("Retry-After", "1"))
	return false
}

func allow() sip.Header {
	return sip.NewHeader("Allow", "REGISTER, MESSAGE, OPTIONS, INVITE, ACK, INFO, UPDATE, BYE, SUBSCRIBE")
}

// isLocal reports whether a Request-URI host (lower case, no brackets) is ours.
func (s *Server) isLocal(host string) bool {
	if host == s.cfg.Domain {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.ips {
		if l.Equal(ip) || l.IsUnspecified() {
			return true
		}
	}
	return false
}

// respond answers req on tx; a failure means the peer is gone, which is the peer's problem.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", userAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "status", code, "request", req.StartLine(), "error", err)
	}
}

// authenticate checks req's credentials and returns the account, or answers req
// (challenge, 404, 403, 400) and returns nil.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction) *account {
	if t := saOf(tx); t != nil {
		return s.sipaeIdentity(req, tx, t.sa.keys.Load().acct)
	}
	if s.sae.sipaeOnly() {
		s.sipaeChallenge(req, tx, "")
		return nil
	}
	credHdr, chalHdr, code, reason := "Proxy-Authorization", "Proxy-Authenticate", sip.StatusProxyAuthRequired, "Proxy Authentication Required"
	if req.Method == sip.REGISTER {
		credHdr, chalHdr, code, reason = "Authorization", "WWW-Authenticate", sip.StatusUnauthorized, "Unauthorized"
	}
	var values []string
	for _, h := range req.GetHeaders(credHdr) {
		values = append(values, h.Value())
	}
	v, user := s.auth.check(string(req.Method), values, func(u string) (string, bool) {
		a, ok := s.byAuth[u]
		if !ok {
			return "", false
		}
		return a.password, true
	}, func(uri string) bool { return sameResource(uri, &req.Recipient) })
	switch v {
	case authOK:
	case authUnknownUser:
		s.stats.authFailures.Add(1)
		s.reject(req, tx, sip.StatusNotFound, ReasonUserNotFound)
		return nil
	case authBadCredentials:
		s.reject(req, tx, sip.StatusBadRequest, ReasonBadCredentials)
		return nil
	case authBadURI:
		s.stats.authFailures.Add(1)
		s.reject(req, tx, sip.StatusBadRequest, ReasonBadDigestURI)
		return nil
	default:
		if v == authWrongPassword {
			s.stats.authFailures.Add(1)
		}
		if v == authChallenge && (s.sae.ntlm || s.sae.kerberos) {
			s.sipaeChallenge(req, tx, "") // offers the MS-SIPAE schemes and digest
			return nil
		}
		s.stats.authChallenges.Add(1)
		s.reject(req, tx, code, reason, sip.NewHeader(chalHdr, s.auth.challenge(v == authStale)))
		return nil
	}
	return s.sipaeIdentity(req, tx, s.byAuth[user])
}

// sipaeIdentity checks that the authenticated account a is the one the
// request speaks for (From; To for REGISTER), and returns it, or answers 403.
func (s *Server) sipaeIdentity(req *sip.Request, tx sip.ServerTransaction, a *account) *account {
	who := req.From().Address.User
	if req.Method == sip.REGISTER {
		who = req.To().Address.User
	}
	if who != a.user {
		s.stats.authFailures.Add(1)
		s.reject(req, tx, sip.StatusForbidden, ReasonAuthUserMismatch)
		return nil
	}
	return a
}

// sameResource reports whether a digest uri names the Request-URI ruri (RFC 3261
// §22.4, RFC 2617 §3.2.2.5): the same scheme, user, host and port, so that
// credentials computed for one request cannot be replayed on another URI.
func sameResource(uri string, ruri *sip.Uri) bool {
	if uri == ruri.String() {
		return true
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, ruri.Scheme) && u.User == ruri.User &&
		strings.EqualFold(strings.Trim(u.Host, "[]"), strings.Trim(ruri.Host, "[]")) && u.Port == ruri.Port
}

// register runs the registrar for an authenticated REGISTER.
func (s *Server) register(req *sip.Request, tx sip.ServerTransaction, a *account) {
	c := req.Contact()
	if c == nil { // a query: show the binding
		var hdrs []sip.Header
		if b, ok := s.reg.lookup(a.user, s.now()); ok {
			hdrs = append(hdrs, contactHeader(b.contact, b.expires.Sub(s.now())))
		}
		s.respond(req, tx, sip.StatusOK, "OK", hdrs...)
		return
	}
	exp, ok := requestedExpiry(req, c, defaultExpires)
	if !ok {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Expires")
		return
	}
	if c.Address.Wildcard {
		if exp != 0 {
			s.respond(req, tx, sip.StatusBadRequest, "Bad Wildcard")
			return
		}
	}
	if exp == 0 {
		s.reg.remove(a.user)
		s.stats.unregisters.Add(1)
		s.respond(req, tx, sip.StatusOK, "OK")
		return
	}
	if sch := strings.ToLower(c.Address.Scheme); (sch != "sip" && sch != "sips" && sch != "") || c.Address.Host == "" {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Contact")
		return
	}
	exp = min(exp, s.cfg.MaxExpires)
	b := binding{
		contact:   *c.Address.Clone(),
		transport: strings.ToLower(req.Transport()),
		expires:   s.now().Add(exp),
	}
	if b.instance, b.gruu, ok = s.endpoint(req, c); !ok {
		s.respond(req, tx, sip.StatusBadRequest, ReasonInstanceMismatch)
		return
	}
	if b.transport == "udp" {
		b.dest = contactDest(c.Address, req.Source())
		if b.gruu != "" {
			// An endpoint with a GRUU is reached over the flow it registered
			// from, whatever its Contact names (a Front End keeps the client's
			// connection, note §1.1).
			b.dest = req.Source()
		}
		b.laddr = localAddr(tx)
		if b.laddr == "" {
			b.laddr = s.Addr("udp")
		}
	} else {
		b.dest = req.Source()
	}
	s.reg.set(a.user, b)
	s.stats.registersOK.Add(1)
	h := contactHeader(b.contact, exp)
	if b.instance != "" {
		h.Params.Add("+sip.instance", `"`+b.instance+`"`)
	}
	if b.gruu != "" {
		g := gruuURI(a.user, s.cfg.Domain, b.gruu)
		h.Params.Add("gruu", `"`+g.String()+`"`)
	}
	// The events a client may SUBSCRIBE to: Lync clients (SIPE too) ask for
	// in-band provisioning only when the registrar lists it.
	hdrs := []sip.Header{h, allowEvents}
	if req.GetHeader("ms-keep-alive") != nil {
		// A Microsoft client keeps its flow alive when told the timeout
		// (SIPE reads timeout=); this server has no idle timeout of its own.
		hdrs = append(hdrs, msKeepAlive)
	}
	if supports(req, tagEventCategories) {
		// A Lync front end says it knows Lync 2007+ event categories; SIPE
		// takes this as "OCS 2007 or later" and only then SUBSCRIBEs to
		// vnd-microsoft-provisioning-v2 (and so learns the chat pool).
		hdrs = append(hdrs, sip.NewHeader("Supported", tagEventCategories))
	}
	if saOf(tx) != nil { // a Lync front end's 200 names the expiry in an Expires header too (Lync clients read it)
		hdrs = append(hdrs, sip.NewHeader("Expires", strconv.Itoa(int(exp/time.Second))))
		// Signed (NTLM/Kerberos): the transaction is kept, a retransmission is answered
		// from it rather than re-verified.
		s.respond(req, tx, sip.StatusOK, "OK", hdrs...)
		return
	}
	s.answerRegister(req, tx, hdrs...) // ends the transaction (scale.go)
}

var (
	allowEvents = sip.NewHeader("Allow-Events", codec.ProvisioningEvent)
	msKeepAlive = sip.NewHeader("ms-keep-alive", "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300")
)

// ReasonInstanceMismatch answers a REGISTER whose Contact +sip.instance is
// not the one derived from its From epid ([MS-SIPRE] 3.3.3.1).
const ReasonInstanceMismatch = "Instance Does Not Match epid"

// endpoint reads the MS-SIPRE endpoint identity of a REGISTER: the
// Contact's +sip.instance, which must be the one derived from the From epid
// when both are there (else ok is false), and the GRUU opaque issued for it
// when the client supports GRUUs (Supported: gruu or Lync's gruu-10).
func (s *Server) endpoint(req *sip.Request, c *sip.ContactHeader) (instance, opaque string, ok bool) {
	instance, _ = sipua.HeaderParam(c.Value(), "+sip.instance")
	if instance == "" {
		return "", "", true
	}
	if epid, _ := req.From().Params.Get("epid"); epid != "" && !strings.EqualFold(instance, sipua.InstanceURN(epid)) {
		return "", "", false
	}
	if supports(req, "gruu") || supports(req, "gruu-10") {
		return instance, gruuOpaque(instance), true
	}
	return instance, "", true
}

// Option tags of Supported headers the server looks for.
const (
	tagEventCategories = "msrtc-event-categories"
	tagPiggybackNotify = "ms-piggyback-first-notify"
)

// supports reports whether a Supported header of req lists tag
// (case-insensitively; one header may list several tags).
func supports(req *sip.Request, tag string) bool {
	for _, h := range req.GetHeaders("Supported") {
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}

func contactHeader(u sip.Uri, exp time.Duration) *sip.ContactHeader {
	h := &sip.ContactHeader{Address: *u.Clone(), Params: sip.NewParams()}
	h.Params.Add("expires", strconv.Itoa(int(exp/time.Second)))
	return h
}

// localAddr returns the local address of the connection tx's request came in on.
func localAddr(tx sip.ServerTransaction) string {
	c, ok := tx.(interface{ Connection() sip.Connection })
	if !ok || c.Connection() == nil {
		return ""
	}
	la := c.Connection().LocalAddr()
	if la == nil {
		return ""
	}
	return la.String()
}

// lookup returns the live binding of the user part of uri.
func (s *Server) lookup(user string) (binding, bool) { return s.reg.lookup(user, s.now()) }

// UserURIs returns the provisioned users' URIs, in Config order. Safe for concurrent use.
func (s *Server) UserURIs() []string {
	out := make([]string, 0, len(s.cfg.Users))
	for _, u := range s.cfg.Users {
		out = append(out, u.URI)
	}
	return out
}

// RoomURIs returns the provisioned rooms' URIs ("sip:room001@conf.example.test").
// Safe for concurrent use.
func (s *Server) RoomURIs() []string {
	out := make([]string, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.rooms[n].uri)
	}
	return out
}

// Users returns the provisioned accounts (with passwords, for in-process drivers).
// Safe for concurrent use; the slice is a copy.
func (s *Server) Users() []scenarios.User { return append([]scenarios.User(nil), s.cfg.Users...) }
