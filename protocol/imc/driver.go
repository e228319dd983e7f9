// Package imc speaks chat rooms over SIP MESSAGE in the dialect of Kamailio's imc
// module: a Driver for the engine, over the dialect's wire model (package wire,
// which the embedded server shares).
package imc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc/wire"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// Config configures a Driver. It is a plain value: safe to copy and share.
type Config struct {
	// DriverConfig holds the target, transport, timeouts, registration
	// expiry, authentication, logging and tracing (see sipua.DriverConfig).
	// Timeout also bounds the wait for a room's answer to a command;
	// UserAgent empty: no User-Agent header.
	sipua.DriverConfig
	// NoRegister skips registration: Connect sends no REGISTER (and Close no
	// unREGISTER), so sessions can page (SendTo) any SIP UAS without a
	// registrar. Requests still answer a 401/407 challenge with the user's
	// credentials, and the session still has its Contact on this driver's
	// socket (requests sent there reach it), but no registrar knows it, so a
	// proxy cannot route anything to the user. Room commands are sent as
	// usual; the server decides what they do for an unregistered user.
	NoRegister bool
}

func (c Config) withDefaults() Config {
	c.DriverConfig = c.DriverConfig.WithDefaults()
	return c
}

func (c Config) ua() sipua.Config { return c.UA() }

// Validate reports the first problem with c. It is a pure function.
func (c Config) Validate() error {
	if err := c.ua().Validate(); err != nil {
		return fmt.Errorf("imc: %w", err)
	}
	if err := c.ValidateExpires(); err != nil {
		return fmt.Errorf("imc: %w", err)
	}
	return nil
}

// String describes c for reports and logs (with defaults applied). It is a
// pure function and never shows anything secret (a Config holds none).
func (c Config) String() string {
	c = c.withDefaults()
	share := ""
	if c.Sharing != (sipua.Sharing{}) {
		share = " transport-sharing=" + c.Sharing.String()
	}
	if c.NoRegister {
		return fmt.Sprintf("%s no-register%s", c.ua(), share)
	}
	return fmt.Sprintf("%s expires=%s%s", c.ua(), c.ExpiresString(), share)
}

// Driver connects users to chat rooms over SIP MESSAGE in Kamailio's imc
// dialect. Its sessions share the SIP user agents of a pool (Config.Sharing:
// shared sockets, or one per user). Safe for concurrent use.
type Driver struct {
	cfg      Config
	ua       *sipua.Pool
	log      *slog.Logger
	reg      *sipua.Registrar
	sessions sipua.Sessions[*session]

	// uris caches parsed destination URIs (rooms, page targets) by their text:
	// a load run sends to the same few thousands of times per second.
	uris uriCache

	closeOnce sync.Once
}

var _ engine.Driver = (*Driver)(nil)

// uriCacheMax bounds uriCache: beyond it URIs are parsed every time, so a run
// with ever new destinations costs CPU, never unbounded memory.
const uriCacheMax = 4096

// uriCache maps URI text to its parsed form (without parameters or headers
// when the text had none). Safe for concurrent use.
type uriCache struct {
	m sync.Map // string -> sip.Uri
	n atomic.Int64
}

// parse returns text parsed as a SIP URI with a host, from the cache when
// possible. The result shares the cached URI's parameter slices: read only.
func (c *uriCache) parse(text string) (sip.Uri, bool) {
	if v, ok := c.m.Load(text); ok {
		return v.(sip.Uri), true
	}
	var u sip.Uri
	if err := sip.ParseUri(text, &u); err != nil || u.Host == "" {
		return sip.Uri{}, false
	}
	if len(u.UriParams) == 0 {
		u.UriParams = nil // saves a clone per request in sip.NewRequest
	}
	if len(u.Headers) == 0 {
		u.Headers = nil
	}
	if c.n.Load() < uriCacheMax {
		if _, loaded := c.m.LoadOrStore(text, u); !loaded {
			c.n.Add(1)
		}
	}
	return u, true
}

// New validates cfg and opens the driver's shared SIP sockets (udp: connected
// to the target; tcp, tls: a listener, plus one connection to the target on
// first use, where a tls handshake that fails is the first request's Transport
// error); per user, Connect opens each user's own.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ua, err := sipua.NewPool(cfg.ua(), cfg.Sharing, nil)
	if err != nil {
		return nil, err
	}
	log := sipua.Logger(cfg.Logger)
	reg := &sipua.Registrar{Expires: cfg.Expires, Timeout: cfg.Timeout, Log: log}
	return &Driver{cfg: cfg, ua: ua, log: log, reg: reg}, nil
}

// LocalAddr returns the address the driver listens on (named in Contacts):
// its first shared socket's (sipua.Pool.LocalAddr). Safe for concurrent use.
func (d *Driver) LocalAddr() string { return d.ua.LocalAddr() }

// Pool returns the driver's user agents, to count its sockets. Safe for
// concurrent use.
func (d *Driver) Pool() *sipua.Pool { return d.ua }

// Flush sends the posts SendAsync started and holds (over UDP), in one system
// call where the system allows: it implements engine.Batcher. Safe for
// concurrent use.
func (d *Driver) Flush() { d.ua.Flush() }

// Close logs off the sessions still open (as Session.Close does, within the
// configured timeout) and releases the socket. Safe to call more than once and
// concurrently; Connect fails with Canceled afterwards.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.sessions.CloseAll(2 * d.cfg.Timeout)
		_ = d.ua.Close()
	})
	return nil
}

// Connect registers u (REGISTER with digest; Contact = this driver's socket),
// unless Config.NoRegister, and returns its session. deliver receives the chat
// lines of the rooms u joins and the page-mode MESSAGEs other users send u
// (Delivery.Room ""); it is called from the driver's goroutines and must not
// block (nil: deliveries are dropped). Safe for concurrent use. Errors:
// NotFound (user not provisioned), Auth (credentials refused),
// Timeout/Transport (naming the target and transport), Protocol (u.URI is no
// SIP URI).
func (d *Driver) Connect(ctx context.Context, u engine.User, deliver func(engine.Delivery)) (engine.Session, error) {
	uri := scenarios.NormalizeURI(u.URI)
	self := scenarios.UserPart(uri)
	domain := scenarios.HostPart(uri)
	if self == "" || domain == "" || !strings.Contains(uri, "@") {
		return nil, report.Errorf(report.Protocol, "register", 0, "%q is not a SIP URI (want sip:user@domain)", u.URI)
	}
	if deliver == nil {
		deliver = func(engine.Delivery) {}
	}
	s := &session{
		d:       d,
		self:    self,
		domain:  domain,
		conf:    "conf." + strings.ToLower(domain),
		deliver: deliver,
		joined:  map[string]string{},
		waiters: map[*waiter]struct{}{},
		done:    make(chan struct{}),
	}
	acct, err := d.ua.NewAccount(uri, u.Username(), u.Password, s.onRequest)
	if err != nil {
		return nil, err
	}
	s.acct = acct
	aor := acct.AoR()
	s.aor = aor.String()
	s.reg = d.reg.NewRegistration(acct)

	if err := d.sessions.Add(s); err != nil {
		acct.Close()
		return nil, err
	}
	if d.cfg.NoRegister {
		return s, nil
	}
	// Refreshed before it runs out, from a random first point, in batches
	// (sipua.Registration).
	if _, err := s.reg.Register(ctx); err != nil {
		s.release()
		return nil, err
	}
	if s.isClosed() { // Driver.Close ran meanwhile and has logged it off again
		return nil, report.Errorf(report.Canceled, "register", 0, "driver closed")
	}
	return s, nil
}

// session is one registered user. Safe for concurrent use.
type session struct {
	d       *Driver
	acct    *sipua.Account
	aor     string // "sip:user0001@example.test"
	self    string // user part, as imc names members
	domain  string
	conf    string // lower-case "conf.<domain>": where imc rooms live
	deliver func(engine.Delivery)

	reg *sipua.Registration

	mu      sync.Mutex
	joined  map[string]string // roomKey -> room URI as the caller knows it
	waiters map[*waiter]struct{}
	closed  bool

	done      chan struct{} // closed by Close: waits end
	closeOnce sync.Once
	closeErr  error
}

var (
	_ engine.Session    = (*session)(nil)
	_ engine.RoomLister = (*session)(nil)
)

// waiter waits for a room's in-band answer to a command (notifications and lists
// arrive as separate MESSAGEs, in any order with the command's 200).
type waiter struct {
	room  string // roomKey the answer comes from; "" for any (#rooms)
	rooms bool   // wants a "Rooms:" list rather than a join notification
	ch    chan answer
}

type answer struct {
	kind  wire.NoticeKind
	rooms []string // room URIs, for a list
}

func roomKey(u sip.Uri) string { return string(appendRoomKey(nil, u)) }

// appendRoomKey appends u's room key (lower-case user@host) to dst. With a
// stack buffer for dst, map lookups by string(key) cost no allocation.
func appendRoomKey(dst []byte, u sip.Uri) []byte {
	dst = appendLower(dst, u.User)
	dst = append(dst, '@')
	return appendLower(dst, u.Host)
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func (s *session) addWaiter(room string, rooms bool) *waiter {
	w := &waiter{room: room, rooms: rooms, ch: make(chan answer, 1)}
	s.mu.Lock()
	s.waiters[w] = struct{}{}
	s.mu.Unlock()
	return w
}

func (s *session) removeWaiter(w *waiter) {
	s.mu.Lock()
	delete(s.waiters, w)
	s.mu.Unlock()
}

// resolveRoom turns a room name or URI into its URI string, parsed form and key.
func (s *session) resolveRoom(op, room string) (string, sip.Uri, error) {
	uri := wire.RoomURI(strings.TrimSpace(room), s.domain)
	u, ok := s.d.uris.parse(uri)
	if !ok || u.User == "" {
		return "", sip.Uri{}, report.Errorf(report.Protocol, op, 0, "room %q is not a room name or SIP URI", room)
	}
	u.UriParams, u.Headers = nil, nil
	return uri, u, nil
}

func (s *session) message(ctx context.Context, op string, ruri sip.Uri, callID, body string) error {
	_, err := s.acct.Do(ctx, op, sipua.Request{
		Method: sip.MESSAGE, URI: ruri, CallID: callID,
		ContentType: "text/plain", Body: []byte(body),
	})
	return err
}

func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *session) checkOpen(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return report.Errorf(report.Canceled, op, 0, "session of %s closed", s.aor)
	}
	return nil
}

// Join sends "#join" to the room and returns once the room confirms: the
// "has joined" notification naming this user, or "You are in the room already".
// The 200 alone proves nothing (imc answers 200 to a join of a missing room too).
func (s *session) Join(ctx context.Context, room string) error {
	if err := s.checkOpen("join"); err != nil {
		return err
	}
	uri, ruri, err := s.resolveRoom("join", room)
	if err != nil {
		return err
	}
	key := roomKey(ruri)
	// Registered before sending: the notification may overtake the 200.
	w := s.addWaiter(key, false)
	defer s.removeWaiter(w)
	if err := s.message(ctx, "join", ruri, "", wire.JoinBody); err != nil {
		return sipua.Annotate(err, uri)
	}
	a, err := s.wait(ctx, w, "join", uri, "joined notification")
	if err != nil {
		return err
	}
	switch a.kind {
	case wire.NoticeNotFound:
		return report.Errorf(report.NotFound, "join", 0, "room %s not found (%q from the room)", uri, wire.NoticeRoomNotFound)
	default: // NoticeJoin, NoticeAlready
		s.mu.Lock()
		s.joined[key] = uri
		s.mu.Unlock()
		return nil
	}
}

// wait waits for w's answer within the command timeout and ctx.
func (s *session) wait(ctx context.Context, w *waiter, op, uri, what string) (answer, error) {
	t := time.NewTimer(s.d.cfg.Timeout)
	defer t.Stop()
	select {
	case a := <-w.ch:
		return a, nil
	case <-t.C:
		return answer{}, report.Errorf(report.Timeout, op, 0, "%s from %s not received within %s", what, uri, s.d.cfg.Timeout)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return answer{}, report.Errorf(report.Timeout, op, 0, "%s from %s not received before the deadline", what, uri)
		}
		return answer{}, &report.Error{Class: report.Canceled, Op: op, Detail: "cancelled waiting for the " + what + " from " + uri, Err: ctx.Err()}
	case <-s.done:
		return answer{}, report.Errorf(report.Canceled, op, 0, "session of %s closed", s.aor)
	}
}

// Send posts m to room and returns on the server's final response. m.ID becomes
// the Call-ID, which imc echoes to the receivers as In-Reply-To.
func (s *session) Send(ctx context.Context, room string, m engine.Message) error {
	return await(func(done func(error)) { s.post(ctx, room, false, m, false, done) })
}

// SendTo sends m to uri in page mode (RFC 3428), outside any room: a MESSAGE
// with Request-URI and To = uri ("sip:" is added when missing), From = the
// user's AoR and Call-ID = m.ID (a new one when empty), through the target
// like every request, with digest credentials when the server asks for them.
// It returns on the final response: 2xx is success, the rest is classified as
// for Send (404 NotFound: nobody of that name is registered). It implements
// engine.Pager.
func (s *session) SendTo(ctx context.Context, uri string, m engine.Message) error {
	return await(func(done func(error)) { s.post(ctx, uri, true, m, false, done) })
}

// await runs an asynchronous operation and waits for its outcome.
func await(start func(done func(error))) error {
	ch := make(chan error, 1)
	start(func(err error) { ch <- err })
	return <-ch
}

// SendAsync is Send (page false) or SendTo (page true, room is the URI) without
// waiting: it implements engine.AsyncSender. Over UDP the MESSAGE is one of
// the UA's own transactions, held until the Driver's Flush (engine.Batcher),
// and done runs on the UA's read loop (or timer) goroutine; over TCP and TLS
// the request goes through sipgo on a goroutine of its own.
func (s *session) SendAsync(ctx context.Context, room string, page bool, m engine.Message, done func(error)) {
	s.post(ctx, room, page, m, true, done)
}

// post is SendAsync; hold says whether a UDP request waits for Flush.
func (s *session) post(ctx context.Context, room string, page bool, m engine.Message, hold bool, done func(error)) {
	if err := s.checkOpen("send"); err != nil {
		done(err)
		return
	}
	callID := m.ID
	if callID != "" && !sipua.ValidCallID(callID) {
		done(report.Errorf(report.Protocol, "send", 0, "message ID %q cannot be a Call-ID", callID))
		return
	}
	var ruri sip.Uri
	var what, notMember string
	if page {
		var ok bool
		if ruri, ok = s.d.uris.parse(scenarios.NormalizeURI(room)); !ok {
			done(report.Errorf(report.Protocol, "send", 0, "%q is not a SIP URI (want sip:user@host)", room))
			return
		}
		what = "MESSAGE to " + ruri.String()
	} else {
		if m.Body == "" {
			done(report.Errorf(report.Protocol, "send", 0, "empty message body (imc refuses it)"))
			return
		}
		if wire.IsCommand(m.Body) {
			done(report.Errorf(report.Protocol, "send", 0, "message body starts with %q: imc would run it as a command, not relay it", string(wire.CmdChar)))
			return
		}
		uri, u, err := s.resolveRoom("send", room)
		if err != nil {
			done(err)
			return
		}
		ruri, what, notMember = u, uri, uri+": not a member of the room (or no such room)"
	}
	req := sipua.Request{
		Method: sip.MESSAGE, URI: ruri, CallID: callID,
		ContentType: "text/plain", Body: []byte(m.Body), Hold: hold,
	}
	finish := func(_ *sip.Response, err error) {
		if err == nil {
			done(nil)
			return
		}
		if c, code := report.ClassOf(err); c == report.Rejected && code == 403 && notMember != "" {
			done(sipua.Annotate(err, notMember))
			return
		}
		done(sipua.Annotate(err, what))
	}
	if !hold { // Send and SendTo wait anyway
		finish(s.acct.Do(ctx, "send", req))
		return
	}
	s.acct.DoAsync(ctx, "send", req, finish)
}

// Leave sends "#exit" and returns on its 200. The "has left" notification is not
// awaited: it races with an immediate unREGISTER and may be lost.
func (s *session) Leave(ctx context.Context, room string) error {
	if err := s.checkOpen("leave"); err != nil {
		return err
	}
	return s.leave(ctx, room)
}

func (s *session) leave(ctx context.Context, room string) error {
	uri, ruri, err := s.resolveRoom("leave", room)
	if err != nil {
		return err
	}
	err = s.message(ctx, "leave", ruri, "", wire.ExitBody)
	c, code := report.ClassOf(err)
	if err == nil || (c == report.Rejected && code == 500) {
		// 500 Chat Command Failed: imc says we are not a member; either way we are out.
		s.mu.Lock()
		delete(s.joined, roomKey(ruri))
		s.mu.Unlock()
	}
	if err != nil {
		if c == report.Rejected && code == 500 {
			return sipua.Annotate(err, uri+": not a member of the room (or no such room)")
		}
		return sipua.Annotate(err, uri)
	}
	return nil
}

// Rooms sends "#rooms" and returns the room URIs of imc's answer. imc answers
// any Request-URI in its domain (the R-URI is not looked up as a room).
func (s *session) Rooms(ctx context.Context) ([]string, error) {
	if err := s.checkOpen("rooms"); err != nil {
		return nil, err
	}
	uri := "sip:rooms@" + s.conf
	var ruri sip.Uri
	_ = sip.ParseUri(uri, &ruri)
	w := s.addWaiter("", true)
	defer s.removeWaiter(w)
	if err := s.message(ctx, "rooms", ruri, "", wire.RoomsBody); err != nil {
		return nil, sipua.Annotate(err, uri)
	}
	a, err := s.wait(ctx, w, "rooms", uri, "room list")
	if err != nil {
		return nil, err
	}
	return a.rooms, nil
}

// Close leaves the joined rooms (best effort), unregisters (Expires: 0; not
// with Config.NoRegister) and releases the session. The result of the first
// call is returned to every call.
func (s *session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		rooms := make([]string, 0, len(s.joined))
		for _, uri := range s.joined {
			rooms = append(rooms, uri)
		}
		s.mu.Unlock()
		close(s.done)
		s.reg.Stop() // cancels a refresh in flight

		for _, r := range rooms {
			if err := s.leave(ctx, r); err != nil {
				s.d.log.Debug("leave on close failed", "user", s.aor, "room", r, "error", err)
			}
		}
		if !s.d.cfg.NoRegister {
			s.closeErr = s.reg.Unregister(ctx)
		}
		s.release()
	})
	return s.closeErr
}

// release drops the session from the UA's routing and the driver.
func (s *session) release() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.reg.Stop()
	s.acct.Close()
	s.d.sessions.Remove(s)
}

// onRequest handles a MESSAGE for this user (already answered 200 by the UA).
func (s *session) onRequest(req *sip.Request) {
	at := time.Now()
	if req.Method != sip.MESSAGE {
		return
	}
	from := req.From()
	if from == nil {
		return
	}
	var kb [128]byte
	k := appendRoomKey(kb[:0], from.Address)
	body := string(req.Body())

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	room, joined := s.joined[string(k)]
	isRoom := joined || strings.EqualFold(from.Address.Host, s.conf)
	for w := range s.waiters {
		if w.room == string(k) {
			isRoom = true
		}
	}
	if !isRoom {
		s.mu.Unlock()
		// A page-mode MESSAGE from a user (SendTo's counterpart). Proxies keep
		// the Call-ID end to end, so it carries the sender's Message.ID.
		id := ""
		if cid := req.CallID(); cid != nil {
			id = cid.Value()
		}
		s.deliver(engine.Delivery{From: from.Address.User, ID: id, Body: body, At: at})
		return
	}
	kind, user := wire.ParseNotice(body)
	if body == wire.NoticeCreated {
		// create_on_join=1: the joiner created the room and is its owner (a member).
		kind, user = wire.NoticeJoin, s.self
	}
	if kind != wire.NoticeNone {
		s.notify(string(k), kind, user)
		s.mu.Unlock()
		return
	}
	if names, ok := wire.ParseRooms(body); ok {
		uris := make([]string, len(names))
		for i, n := range names {
			// The list names rooms by user part; they live where the list came from.
			uris[i] = "sip:" + n + "@" + from.Address.Host
		}
		for w := range s.waiters {
			if w.rooms {
				send(w.ch, answer{rooms: uris})
			}
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()

	author, text, ok := wire.ParseLine(body)
	if !ok {
		return // Members: lists, help text: nothing to deliver
	}
	if !joined {
		room = "sip:" + from.Address.User + "@" + from.Address.Host
	}
	s.deliver(engine.Delivery{Room: room, From: author, ID: inReplyTo(req), Body: text, At: at})
}

// inReplyTo returns the In-Reply-To value of req, or "". It walks the headers
// itself: sipgo's GetHeader lower-cases the name of every header it passes
// (an allocation each for names like Supported), once per copy received.
func inReplyTo(req *sip.Request) string {
	for _, h := range req.Headers() {
		if strings.EqualFold(h.Name(), wire.HeaderInReplyTo) {
			return strings.TrimSpace(h.Value())
		}
	}
	return ""
}

// notify hands a room notification to the join waiters on that room. Called
// with s.mu held.
func (s *session) notify(key string, kind wire.NoticeKind, user string) {
	switch kind {
	case wire.NoticeJoin:
		if !strings.EqualFold(user, s.self) {
			return // someone else joining
		}
	case wire.NoticeAlready, wire.NoticeNotFound:
	default:
		return
	}
	for w := range s.waiters {
		if w.room == key && !w.rooms {
			send(w.ch, answer{kind: kind})
		}
	}
}

// send delivers a to a waiter without blocking: the first answer wins.
func send(ch chan answer, a answer) {
	select {
	case ch <- a:
	default:
	}
}

// Protocol describes the imc driver for validation (scenarios.Config.CheckProtocol):
// udp (its default), tcp and tls; page-mode messages (Pager), posts without a
// goroutine each (AsyncSender), and sending without registering (NoRegister); no
// history.
func Protocol() scenarios.Protocol {
	return scenarios.Protocol{Name: "imc", Transports: []string{"udp", "tcp", "tls"}, Page: true, AsyncSend: true, NoRegister: true}
}

// AuthScheme returns the authentication scheme the driver's users last
// signed in with ("NTLM", "Kerberos", "Digest"; "" before any challenge).
// Safe for concurrent use.
func (d *Driver) AuthScheme() string { return d.ua.AuthScheme() }
