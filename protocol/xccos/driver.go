// Package xccos speaks Lync / Skype for Business Persistent Chat ([MS-XCCOSIP]) for
// the engine: a Driver whose sessions hold an INVITE dialog with the chat service and
// carry XCCOS documents (package codec, which the embedded server shares) in INFO.
package xccos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/protocol/xccos/codec"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// LookupUser is the user part of the default chat service URI,
// sip:ocschat@<domain> (note §1) [C].
const LookupUser = "ocschat"

// Config configures a Driver. It is a plain value: safe to copy and share.
type Config struct {
	// DriverConfig holds the target (the Front End), transport, timeouts,
	// registration expiry, authentication, logging and tracing (see
	// sipua.DriverConfig). Timeout also bounds the wait for each XCCOS reply;
	// UserAgent empty: DefaultUserAgent.
	sipua.DriverConfig
	// ChatURI is the chat service (lookup or pool) to INVITE. Empty: the
	// pool in-band provisioning names (see NoProvisioning), else
	// sip:ocschat@<the user's domain>.
	ChatURI string
	// NoProvisioning skips in-band provisioning: without it, when ChatURI is
	// empty, the first session of each domain SUBSCRIBEs to
	// vnd-microsoft-provisioning-v2 after registering and takes the
	// persistentChatConfiguration's DefaultPersistentChatPoolUri (when
	// EnablePersistentChat is true) as the chat service of that domain, as
	// Lync 2013 clients do (note §1.1).
	NoProvisioning bool
	// Advertise is the host:port Contacts name instead of the listening
	// address (see sipua.Config.Advertise). Empty: the listening address.
	Advertise string
}

// KeepAlive is the interval of the CRLFCRLF pings on the tcp or tls
// connection to the Front End, which keep the flow the chat service's
// requests come back on (a Lync Front End announces its idle timeout in an
// ms-keep-alive header, typically minutes; 30 s stays well within it).
const KeepAlive = 30 * time.Second

// DefaultUserAgent is the User-Agent when Config.UserAgent is empty: every
// Microsoft SIP client names itself on every request.
const DefaultUserAgent = "chatload"

func (c Config) withDefaults() Config {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	c.DriverConfig = c.DriverConfig.WithDefaults()
	return c
}

// ua is the UA's configuration: a Microsoft SIP endpoint (GRUU) that keeps
// its connection alive.
func (c Config) ua() sipua.Config {
	u := c.UA()
	u.Endpoint, u.Advertise, u.KeepAlive = true, c.Advertise, KeepAlive
	return u
}

// Validate reports the first problem with c. It is a pure function.
func (c Config) Validate() error {
	if err := c.ua().Validate(); err != nil {
		return fmt.Errorf("xccos: %w", err)
	}
	if err := c.ValidateExpires(); err != nil {
		return fmt.Errorf("xccos: %w", err)
	}
	if c.ChatURI != "" {
		var u sip.Uri
		if err := sip.ParseUri(scenarios.NormalizeURI(c.ChatURI), &u); err != nil || u.User == "" || u.Host == "" {
			return fmt.Errorf("xccos: chat URI %q: want sip:user@domain", c.ChatURI)
		}
	}
	return nil
}

// String describes c for reports and logs (defaults applied). It is a pure function.
func (c Config) String() string {
	c = c.withDefaults()
	chat := c.ChatURI
	if chat == "" {
		chat = "sip:" + LookupUser + "@<domain>"
		if !c.NoProvisioning {
			chat = "provisioned, else " + chat
		}
	}
	share := ""
	if c.Sharing != (sipua.Sharing{}) {
		share = " transport-sharing=" + c.Sharing.String()
	}
	return fmt.Sprintf("%s expires=%s chat=%s%s", c.ua(), c.ExpiresString(), chat, share)
}

// Driver connects users to Persistent Chat rooms over MS-XCCOSIP: REGISTER,
// an INVITE dialog with the chat service, XML commands and chat messages in
// INFO. Its sessions share the SIP user agents of a pool (Config.Sharing:
// one per user, or shared). Safe for concurrent use.
type Driver struct {
	cfg      Config
	ua       *sipua.Pool
	log      *slog.Logger
	reg      *sipua.Registrar
	envID    atomic.Uint64
	sessions sipua.Sessions[*session]
	byAcct   sync.Map // *sipua.Account -> *session: for status

	provMu      sync.Mutex
	provisioned map[string]*provision // by lower-case domain: one SUBSCRIBE per domain

	closeOnce sync.Once
}

var _ engine.Driver = (*Driver)(nil)

// New validates cfg and opens the driver's SIP socket.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := sipua.Logger(cfg.Logger)
	d := &Driver{cfg: cfg, log: log, provisioned: map[string]*provision{}}
	d.reg = &sipua.Registrar{Expires: cfg.Expires, Timeout: cfg.Timeout, Log: log,
		Headers: []sip.Header{msKeepAlive}, Registered: d.registered}
	ua, err := sipua.NewPool(cfg.ua(), cfg.Sharing, func(ua *sipua.UA) { ua.ServeDialogs(d.status) })
	if err != nil {
		return nil, err
	}
	d.ua = ua
	d.envID.Store(uint64(rand.Uint32())) // SIPE: a random start, +1 per envelope
	return d, nil
}

// LocalAddr returns the address the driver listens on: its first shared
// socket's (sipua.Pool.LocalAddr). Safe for concurrent use.
func (d *Driver) LocalAddr() string { return d.ua.LocalAddr() }

// Pool returns the driver's user agents, to count its transports. Safe for
// concurrent use.
func (d *Driver) Pool() *sipua.Pool { return d.ua }

// Close logs off the sessions still open and releases the socket. Safe to call
// more than once and concurrently.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.sessions.CloseAll(2 * d.cfg.Timeout)
		_ = d.ua.Close()
	})
	return nil
}

// session is one logged-on user with its chat dialog. Safe for concurrent use.
type session struct {
	d       *Driver
	acct    *sipua.Account
	reg     *sipua.Registration
	aor     string
	domain  string
	deliver func(engine.Delivery)

	mu       sync.Mutex
	dlg      *sipua.Dialog
	waiters  map[uint64]*waiter    // by envid of the command
	joined   map[string]joinedRoom // by canonical room key
	names    map[string]codec.Room // room names resolved through chansrch, lower case
	closed   bool
	ended    string // why the server ended the dialog (BYE), "" while it lives
	lost     bool   // the server answered 481: the dialog is gone, a reconnect may help
	lastCmd  string // the command in flight when the server BYEd
	okCmds   int    // commands answered 200 on the dialog
	refresh  *time.Timer
	interval time.Duration // session refresh period; 0: none
	// provOffered: the registrar's 200 lists in-band provisioning in
	// Allow-Events (a Lync client subscribes only then).
	provOffered bool

	recovering sync.Mutex // one reconnect at a time

	in inOrder // the server's INFOs, handled in CSeq order

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

type joinedRoom struct {
	room codec.Room
	as   string // the room as the caller named it in Join
}

var (
	_ engine.Session        = (*session)(nil)
	_ engine.RoomLister     = (*session)(nil)
	_ engine.HistoryFetcher = (*session)(nil)
)

func roomKey(r codec.Room) string { return strings.ToLower(r.Domain + "/" + r.ID) }

// Connect registers u, INVITEs the chat service (following a rpl:requri
// redirect to another channel server), and asks for the server info. Errors:
// NotFound (user not provisioned, or no chat service), Auth, Rejected (the chat
// service refused the INVITE, or ended it at once: no Persistent Chat
// permission), Timeout, Transport.
func (d *Driver) Connect(ctx context.Context, u engine.User, deliver func(engine.Delivery)) (engine.Session, error) {
	uri := scenarios.NormalizeURI(u.URI)
	domain := scenarios.HostPart(uri)
	if scenarios.UserPart(uri) == "" || domain == "" || !strings.Contains(uri, "@") {
		return nil, report.Errorf(report.Protocol, "register", 0, "%q is not a SIP URI (want sip:user@domain)", u.URI)
	}
	if deliver == nil {
		deliver = func(engine.Delivery) {}
	}
	s := &session{
		d: d, domain: domain, deliver: deliver,
		waiters: map[uint64]*waiter{},
		joined:  map[string]joinedRoom{},
		names:   map[string]codec.Room{},
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
	d.byAcct.Store(acct, s)

	if err := d.sessions.Add(s); err != nil {
		acct.Close()
		d.byAcct.Delete(acct)
		return nil, err
	}
	// Refreshed before it runs out, from a random first point, in batches
	// (sipua.Registration).
	if _, err := s.reg.Register(ctx); err != nil {
		s.release()
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		s.bye(ctx)
		_ = s.reg.Unregister(ctx)
		s.release()
		return nil, err
	}
	return s, nil
}

// registered notes, from each 2xx to a binding REGISTER (sign-in and
// refreshes), whether the registrar offers in-band provisioning.
func (d *Driver) registered(a *sipua.Account, res *sip.Response) {
	v, ok := d.byAcct.Load(a)
	if !ok {
		return
	}
	s := v.(*session)
	offered := offersEvent(res, codec.ProvisioningEvent)
	s.mu.Lock()
	s.provOffered = offered
	s.mu.Unlock()
}

// msKeepAlive is what Microsoft SIP clients say on REGISTER: they keep the
// connection to the next hop alive (the keep-alive pings, sipua.KeepAlive).
var msKeepAlive = sip.NewHeader("ms-keep-alive", "UAC;hop-hop=yes")

// connect establishes the chat dialog: INVITE the lookup/pool, cmd:requri and,
// when it names another server, BYE and INVITE that one; then cmd:getserverinfo.
func (s *session) connect(ctx context.Context) error {
	chat, from := s.chatService(ctx)
	if err := s.invite(ctx, scenarios.NormalizeURI(chat), from); err != nil {
		return err
	}
	r, err := s.command(ctx, "connect", codec.NewRequri())
	if err != nil {
		return err
	}
	if len(r.Data.Users) == 0 || r.Data.Users[0].URI == "" {
		return report.Errorf(report.Protocol, "connect", 0, "rpl:requri from %s names no channel server (lookup failed)", chat)
	}
	server := scenarios.NormalizeURI(r.Data.Users[0].URI)
	if !sameAoR(server, chat) {
		s.bye(ctx) // the lookup dialog: the client leaves it (note §1.1)
		if err := s.invite(ctx, server, "rpl:requri of "+chat); err != nil {
			return err
		}
	}
	if _, err := s.command(ctx, "connect", codec.NewGetServerInfo(s.domain)); err != nil {
		return err
	}
	return nil
}

func sameAoR(a, b string) bool {
	return strings.EqualFold(scenarios.UserPart(a), scenarios.UserPart(b)) &&
		strings.EqualFold(scenarios.HostPart(a), scenarios.HostPart(b))
}

// sdpOffer is the ordinary MS IM offer (note §2.1) [C].
func sdpOffer(host string) []byte {
	return []byte("v=0\r\no=- 0 0 IN IP4 " + host + "\r\ns=session\r\nc=IN IP4 " + host +
		"\r\nt=0 0\r\nm=message 5061 sip null\r\na=accept-types:text/plain\r\n")
}

// invite INVITEs the chat service uri; from says where uri came from, for
// the diagnosis of a failure.
func (s *session) invite(ctx context.Context, uri, from string) error {
	var ruri sip.Uri
	if err := sip.ParseUri(uri, &ruri); err != nil || ruri.Host == "" {
		return report.Errorf(report.Protocol, "connect", 0, "chat service %q is not a SIP URI", uri)
	}
	// The SDP names the socket's address: the Contact may be a GRUU, whose
	// host is the domain.
	host, _, _ := net.SplitHostPort(s.acct.LocalAddr())
	dlg, res, err := s.acct.Invite(ctx, "connect", ruri, []sip.Header{sip.NewHeader("Supported", "ms-sender")},
		"application/sdp", sdpOffer(host))
	if err != nil {
		var e *report.Error
		if errors.As(err, &e) && e.Code != 0 {
			e.Detail = "INVITE to the chat service " + uri + " (" + from + "): " + e.Detail + " (CHAT_SERVER_NOT_FOUND: no chat server answers this URI, or it refused the session)"
			e.Cause = report.CauseNoChatServer
			if e.Code == sip.StatusNotFound {
				e.Detail += "; name the Persistent Chat pool or lookup URI with --chat-service"
			}
		}
		return err
	}
	s.mu.Lock()
	s.dlg = dlg
	s.ended, s.lost = "", false
	s.interval = 0
	if h := res.GetHeader("Session-Expires"); h != nil {
		v, _, _ := strings.Cut(h.Value(), ";")
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			// SIPE refreshes at N-10 s (note §2.3); never more often than N/2.
			s.interval = max(time.Duration(n)*time.Second-10*time.Second, time.Duration(n)*time.Second/2)
		}
	}
	s.scheduleRefresh()
	s.mu.Unlock()
	return nil
}

// scheduleRefresh arms the session-timer refresh (a bodyless UPDATE). Called
// with s.mu held.
func (s *session) scheduleRefresh() {
	if s.refresh != nil {
		s.refresh.Stop()
		s.refresh = nil
	}
	if s.interval <= 0 || s.closed {
		return
	}
	dlg := s.dlg
	s.refresh = time.AfterFunc(s.interval, func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.d.cfg.Timeout)
		defer cancel()
		_, err := dlg.Do(ctx, "refresh", sip.UPDATE, "", nil)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.dlg != dlg {
			return
		}
		if c, code := report.ClassOf(err); err != nil && code == 481 {
			_ = c
			s.ended = "481 Call Leg Does Not Exist to the session refresh: the server dropped the dialog"
			s.lost = true
			return
		}
		if err != nil {
			s.d.log.Warn("session refresh failed", "user", s.aor, "error", err)
		}
		s.scheduleRefresh()
	})
}

// bye ends the chat dialog, if any (best effort).
func (s *session) bye(ctx context.Context) {
	s.mu.Lock()
	dlg := s.dlg
	s.dlg = nil
	if s.refresh != nil {
		s.refresh.Stop()
		s.refresh = nil
	}
	ended := s.ended != ""
	s.mu.Unlock()
	if dlg == nil || ended {
		return
	}
	if _, err := dlg.Do(ctx, "bye", sip.BYE, "", nil); err != nil {
		s.d.log.Debug("BYE failed", "user", s.aor, "error", err)
	}
}

// info sends one envelope in an INFO on the chat dialog.
func (s *session) info(ctx context.Context, op string, env codec.Envelope) error {
	body, err := codec.Marshal(env)
	if err != nil {
		return &report.Error{Class: report.Protocol, Op: op, Detail: "encoding the XCCOS envelope", Err: err}
	}
	s.mu.Lock()
	dlg, ended := s.dlg, s.ended
	s.mu.Unlock()
	if ended != "" {
		if s.lostDialog() {
			return report.Errorf(report.Rejected, op, 481, "SESSION_LOST: %s", ended)
		}
		return report.Errorf(report.Rejected, op, 0, "session terminated: %s", ended)
	}
	if dlg == nil {
		return report.Errorf(report.Canceled, op, 0, "no chat session")
	}
	_, err = dlg.Do(ctx, op, sip.INFO, codec.ContentType, body)
	if c, code := report.ClassOf(err); err != nil && code == 481 {
		s.mu.Lock()
		if s.dlg == dlg {
			s.ended = "481 Call Leg Does Not Exist: the server dropped the chat dialog"
			s.lost = true
		}
		s.mu.Unlock()
		_ = c
	}
	return err
}

// command sends c and waits for its rpl; a reply code other than 200 is an
// error wrapping the *ReplyError (class from ReplyError.Class, code = resp code).
func (s *session) command(ctx context.Context, op string, c codec.Command) (codec.Reply, error) {
	env := s.d.envID.Add(1)
	w := &waiter{name: strings.ToLower(c.Name), ch: make(chan codec.Reply, 1)}
	ch := w.ch
	s.mu.Lock()
	s.waiters[env] = w
	s.lastCmd = c.Name
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters, env)
		s.mu.Unlock()
	}()
	if err := s.info(ctx, op, codec.Envelope{EnvID: env, Items: []codec.Item{c}}); err != nil {
		return codec.Reply{}, sipua.Annotate(err, "cmd:"+c.Name)
	}
	t := time.NewTimer(s.d.cfg.Timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.Name == "" { // the server ended the dialog meanwhile
			s.mu.Lock()
			why, ok := s.ended, s.okCmds
			s.mu.Unlock()
			if ok == 0 || c.Name == codec.NameRequri || c.Name == codec.NameGetServerInfo {
				e := report.Errorf(report.Rejected, op, 0,
					"the chat server ended the session (BYE) right after cmd:%s: the user is probably not enabled for Persistent Chat (NOT_AUTHORIZED_FOR_PCHAT): %s", c.Name, why)
				e.Cause = report.CauseNotChatEnabled
				return codec.Reply{}, e
			}
			return codec.Reply{}, report.Errorf(report.Rejected, op, 0, "session terminated during cmd:%s: %s", c.Name, why)
		}
		if err := r.Err(); err != nil {
			var re *codec.ReplyError
			errors.As(err, &re)
			return r, &report.Error{Class: re.Class(), Code: re.Code, CodeKind: report.CodeReply, Op: op, Detail: err.Error(), Err: err}
		}
		s.mu.Lock()
		s.okCmds++
		s.mu.Unlock()
		return r, nil
	case <-t.C:
		return codec.Reply{}, report.Errorf(report.Timeout, op, 0, "rpl:%s not received within %s", c.Name, s.d.cfg.Timeout)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return codec.Reply{}, report.Errorf(report.Timeout, op, 0, "rpl:%s not received before the deadline", c.Name)
		}
		return codec.Reply{}, &report.Error{Class: report.Canceled, Op: op, Detail: "cancelled waiting for rpl:" + c.Name, Err: ctx.Err()}
	case <-s.done:
		return codec.Reply{}, report.Errorf(report.Canceled, op, 0, "session of %s closed", s.aor)
	}
}

func (s *session) checkOpen(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return report.Errorf(report.Canceled, op, 0, "session of %s closed", s.aor)
	}
	return nil
}

// resolve turns a room URI or name into its Room: a ma-chan:// URI is taken as
// it is, a name is looked up with cmd:chansrch (once per session).
func (s *session) resolve(ctx context.Context, op, room string) (codec.Room, error) {
	room = strings.TrimSpace(room)
	if len(room) >= len(codec.RoomScheme) && strings.EqualFold(room[:len(codec.RoomScheme)], codec.RoomScheme) {
		r, err := codec.ParseRoom(room)
		if err != nil {
			return codec.Room{}, report.Errorf(report.Protocol, op, 0, "%v", err)
		}
		return r, nil
	}
	name := room
	if len(room) > 4 && strings.EqualFold(room[:4], "sip:") {
		// An imc-style room address (sip:room001@conf.<domain>), as load
		// scenarios name rooms: its user part is the room's name.
		name = scenarios.UserPart(room)
	}
	key := strings.ToLower(name)
	s.mu.Lock()
	r, ok := s.names[key]
	s.mu.Unlock()
	if ok {
		return r, nil
	}
	rpl, err := s.command(ctx, op, codec.NewChanSrch(name))
	if err != nil {
		return codec.Room{}, sipua.Annotate(err, "looking up room "+strconv.Quote(name))
	}
	for _, c := range rpl.Data.Channels {
		if strings.EqualFold(c.Name, name) {
			if r, err := codec.ParseRoom(c.URI); err == nil {
				s.mu.Lock()
				s.names[key] = r
				s.mu.Unlock()
				return r, nil
			}
		}
	}
	return codec.Room{}, &report.Error{Class: report.NotFound, Code: codec.CodeNoSuchNode, Op: op,
		Detail: fmt.Sprintf("room %q not found: rpl:chansrch lists no room of that name", room)}
}

func (s *session) lostDialog() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// recover reconnects after the server dropped the dialog (481): as SIPE does,
// start again from the chat service and join the rooms again (note §2.3).
func (s *session) recover(ctx context.Context) error {
	s.recovering.Lock()
	defer s.recovering.Unlock()
	if !s.lostDialog() {
		return nil // another call recovered meanwhile
	}
	s.d.log.Info("chat dialog lost (481): reconnecting", "user", s.aor)
	if err := s.connect(ctx); err != nil {
		return sipua.Annotate(err, "SESSION_LOST: reconnecting")
	}
	s.mu.Lock()
	rooms := make([]codec.Room, 0, len(s.joined))
	for _, j := range s.joined {
		rooms = append(rooms, j.room)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		if _, err := s.command(ctx, "join", codec.NewJoin(r)); err != nil {
			return sipua.Annotate(err, "SESSION_LOST: joining "+r.String()+" again")
		}
	}
	return nil
}

// retry runs fn, and once more after a reconnect when the server had dropped
// the dialog (481).
func (s *session) retry(ctx context.Context, fn func() error) error {
	err := fn()
	if _, code := report.ClassOf(err); err == nil || code != 481 {
		return err
	}
	if rerr := s.recover(ctx); rerr != nil {
		return rerr
	}
	return fn()
}

// Join enters room (a ma-chan:// URI or a room name) with cmd:join and returns
// on rpl:join 200. After a 481 it reconnects once (see recover).
func (s *session) Join(ctx context.Context, room string) error {
	if err := s.checkOpen("join"); err != nil {
		return err
	}
	var r codec.Room
	err := s.retry(ctx, func() error {
		var err error
		if r, err = s.resolve(ctx, "join", room); err != nil {
			return err
		}
		_, err = s.command(ctx, "join", codec.NewJoin(r))
		return err
	})
	if err != nil {
		return sipua.Annotate(err, "joining "+room)
	}
	s.mu.Lock()
	s.joined[roomKey(r)] = joinedRoom{room: r, as: room}
	s.mu.Unlock()
	return nil
}

func (s *session) joinedRoom(room string) (codec.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.joined {
		if j.as == room {
			return j.room, true
		}
	}
	return codec.Room{}, false
}

// Send posts m.Body as a grpchat (ts now) and returns on the INFO's final
// response: 200 means the server accepted it. The protocol carries no message
// id, so m.ID is not sent; receivers match by the body's token.
func (s *session) Send(ctx context.Context, room string, m engine.Message) error {
	if err := s.checkOpen("send"); err != nil {
		return err
	}
	r, ok := s.joinedRoom(room)
	if !ok {
		var err error
		if r, err = s.resolve(ctx, "send", room); err != nil {
			return err
		}
	}
	err := s.retry(ctx, func() error {
		env := codec.Envelope{EnvID: s.d.envID.Add(1), Items: []codec.Item{codec.NewChat(r, s.aor, time.Now(), m.Body)}}
		return s.info(ctx, "send", env)
	})
	if err != nil {
		return sipua.Annotate(err, "grpchat to "+r.String()+" not delivered")
	}
	return nil
}

// Leave sends cmd:part and returns on rpl:part.
func (s *session) Leave(ctx context.Context, room string) error {
	if err := s.checkOpen("leave"); err != nil {
		return err
	}
	r, ok := s.joinedRoom(room)
	if !ok {
		var err error
		if r, err = s.resolve(ctx, "leave", room); err != nil {
			return err
		}
	}
	return s.part(ctx, r)
}

func (s *session) part(ctx context.Context, r codec.Room) error {
	_, err := s.command(ctx, "leave", codec.NewPart(r))
	s.mu.Lock()
	delete(s.joined, roomKey(r))
	s.mu.Unlock()
	return sipua.Annotate(err, "leaving "+r.String())
}

// Rooms lists the rooms the server shows (cmd:chansrch with empty criteria) as
// ma-chan:// URIs. It implements engine.RoomLister.
func (s *session) Rooms(ctx context.Context) ([]string, error) {
	if err := s.checkOpen("rooms"); err != nil {
		return nil, err
	}
	var r codec.Reply
	err := s.retry(ctx, func() (err error) {
		r, err = s.command(ctx, "rooms", codec.NewChanSrch(""))
		return err
	})
	if err != nil {
		return nil, sipua.Annotate(err, "room list")
	}
	out := make([]string, 0, len(r.Data.Channels))
	for _, c := range r.Data.Channels {
		out = append(out, c.URI)
	}
	return out, nil
}

// History returns the last n messages of room (cmd:bccontext), oldest first,
// as Deliveries (At is the server's ts). It implements engine.HistoryFetcher.
func (s *session) History(ctx context.Context, room string, n int) ([]engine.Delivery, error) {
	if err := s.checkOpen("history"); err != nil {
		return nil, err
	}
	r, ok := s.joinedRoom(room)
	if !ok {
		var err error
		if r, err = s.resolve(ctx, "history", room); err != nil {
			return nil, err
		}
	}
	var rpl codec.Reply
	err := s.retry(ctx, func() (err error) {
		rpl, err = s.command(ctx, "history", codec.NewBCContext(r, n))
		return err
	})
	if err != nil {
		return nil, sipua.Annotate(err, "history of "+r.String())
	}
	var out []engine.Delivery
	for _, c := range rpl.Data.Channels {
		for _, m := range c.Messages {
			out = append(out, engine.Delivery{Room: room, From: m.Author, Body: m.Text, At: m.TS})
		}
	}
	return out, nil
}

// Close parts the joined rooms, BYEs the chat dialog and unregisters. The
// result of the first call is returned to every call.
func (s *session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		rooms := make([]codec.Room, 0, len(s.joined))
		for _, j := range s.joined {
			rooms = append(rooms, j.room)
		}
		s.mu.Unlock()
		for _, r := range rooms {
			if err := s.part(ctx, r); err != nil {
				s.d.log.Debug("part on close failed", "user", s.aor, "room", r.String(), "error", err)
			}
		}
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		s.bye(ctx)
		s.closeErr = s.reg.Unregister(ctx)
		s.release()
	})
	return s.closeErr
}

func (s *session) release() {
	s.mu.Lock()
	s.closed = true
	if s.refresh != nil {
		s.refresh.Stop()
	}
	s.mu.Unlock()
	s.reg.Stop()
	s.acct.Close()
	s.d.byAcct.Delete(s.acct)
	s.d.sessions.Remove(s)
}

// status answers the server's in-dialog requests: 200 on the session's live
// dialog; on another Call-ID (a stale dialog the server still sends to after a
// reconnect) 487 to INFO, which makes the server drop it (SIPE #187, note
// §2.3), and 481 to the rest.
func (d *Driver) status(a *sipua.Account, req *sip.Request) (int, string) {
	v, ok := d.byAcct.Load(a)
	if !ok {
		return sip.StatusOK, "" // closing: answered and dropped
	}
	s := v.(*session)
	s.mu.Lock()
	dlg := s.dlg
	s.mu.Unlock()
	if cid := req.CallID(); dlg != nil && cid != nil && cid.Value() == dlg.CallID() {
		return sip.StatusOK, ""
	}
	if req.Method == sip.INFO {
		return sip.StatusRequestTerminated, "Request Terminated"
	}
	return sip.StatusCallTransactionDoesNotExists, "Call Leg/Transaction Does Not Exist"
}

// onRequest handles an INFO, BYE or UPDATE from the chat server (already
// answered 200 by the UA).
func (s *session) onRequest(req *sip.Request) {
	at := time.Now()
	s.mu.Lock()
	dlg := s.dlg
	s.mu.Unlock()
	if dlg == nil {
		return
	}
	if cid := req.CallID(); cid == nil || cid.Value() != dlg.CallID() {
		return // a stale dialog (SIPE answers 487; the UA has answered 200)
	}
	switch req.Method {
	case sip.BYE:
		s.mu.Lock()
		if s.dlg == dlg && s.ended == "" {
			s.ended = "the chat server sent BYE"
			for env, w := range s.waiters {
				select {
				case w.ch <- codec.Reply{}:
				default:
				}
				delete(s.waiters, env)
			}
		}
		s.mu.Unlock()
		return
	case sip.INFO:
		s.ordered(dlg.CallID(), req, at)
	}
}

// reorderWait is how long an INFO that overtook its predecessor (by CSeq) is
// held: the server sends the next INFO only after the 200 to the previous one,
// but the UA runs handlers concurrently, so two can swap by microseconds; a
// CSeq that never arrives (lost on the server's side) costs this much once.
const reorderWait = 20 * time.Millisecond

// reorderMax bounds the INFOs held; more are handed on at once, in order.
const reorderMax = 256

// inOrder hands the server's INFOs on one dialog to handle in CSeq order.
type inOrder struct {
	mu     sync.Mutex
	callID string
	next   uint32 // CSeq expected next; 0 before the first
	held   map[uint32]held
	timer  *time.Timer
}

type held struct {
	req *sip.Request
	at  time.Time
}

// ordered handles req now when it is the next INFO of the dialog, or holds it
// until its predecessors came (or reorderWait passed).
func (s *session) ordered(callID string, req *sip.Request, at time.Time) {
	cs := req.CSeq()
	if cs == nil {
		return
	}
	o := &s.in
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.callID != callID { // a new dialog: start over
		o.callID, o.next, o.held = callID, 0, nil
	}
	seq := cs.SeqNo
	switch {
	case o.next == 0 || seq == o.next:
		s.handle(req, at)
		o.next = seq + 1
		s.releaseHeld(o)
	case seq < o.next: // late: a predecessor was given up on
		s.handle(req, at)
	default:
		if o.held == nil {
			o.held = map[uint32]held{}
		}
		o.held[seq] = held{req, at}
		if len(o.held) > reorderMax {
			s.flush(o)
			return
		}
		if o.timer == nil {
			o.timer = time.AfterFunc(reorderWait, func() {
				o.mu.Lock()
				defer o.mu.Unlock()
				o.timer = nil
				s.flush(o)
			})
		}
	}
}

// releaseHeld handles the held INFOs that are next in order. Called with o.mu held.
func (s *session) releaseHeld(o *inOrder) {
	for {
		h, ok := o.held[o.next]
		if !ok {
			return
		}
		delete(o.held, o.next)
		s.handle(h.req, h.at)
		o.next++
	}
}

// flush handles every held INFO in CSeq order, skipping the gaps. Called with
// o.mu held.
func (s *session) flush(o *inOrder) {
	for len(o.held) > 0 {
		lowest := uint32(0)
		for seq := range o.held {
			if lowest == 0 || seq < lowest {
				lowest = seq
			}
		}
		o.next = lowest
		s.releaseHeld(o)
	}
}

// handle dispatches the XCCOS items of an INFO from the chat server.
func (s *session) handle(req *sip.Request, at time.Time) {
	env, err := codec.Parse(req.Body())
	if err != nil {
		s.d.log.Debug("unparsable INFO from the chat server", "user", s.aor, "error", err)
		return
	}
	for _, it := range env.Items {
		switch it := it.(type) {
		case codec.Reply:
			s.mu.Lock()
			s.dispatch(it)
			s.mu.Unlock()
		case codec.Chat:
			room := it.ChanURI
			if r, err := codec.ParseRoom(it.ChanURI); err == nil {
				s.mu.Lock()
				if j, ok := s.joined[roomKey(r)]; ok {
					room = j.as
				}
				s.mu.Unlock()
			}
			s.deliver(engine.Delivery{Room: room, From: it.Author, Body: it.Text, At: at})
		}
	}
}

// A waiter is a command in flight, waiting for its rpl.
type waiter struct {
	name   string           // the command's name, lower case
	ch     chan codec.Reply // capacity 1
	byName bool             // ch holds a reply matched by name, not by envid
}

// dispatch hands a reply to the command it answers: by commandid@envid, or,
// when the reply carries no envid, by name to the oldest command of that name
// still unanswered (as SIPE matches). A reply matched by name never takes the
// place of one matched by envid: when the envid match of a waiter arrives
// after a reply by name filled it, the envid one takes its place and the one
// by name moves on to the next command of that name. Called with s.mu held.
func (s *session) dispatch(r codec.Reply) {
	if r.CommandEnvID != 0 {
		w := s.waiters[r.CommandEnvID]
		if w == nil {
			return
		}
		select {
		case w.ch <- r:
			return
		default:
		}
		if !w.byName {
			return // a duplicate
		}
		select {
		case prev := <-w.ch:
			w.ch <- r
			w.byName = false
			s.dispatchByName(prev)
		default: // the command took the reply by name meanwhile
		}
		return
	}
	s.dispatchByName(r)
}

func (s *session) dispatchByName(r codec.Reply) {
	var best uint64
	for env, w := range s.waiters {
		if w.name == r.Name && len(w.ch) == 0 && (best == 0 || env < best) {
			best = env
		}
	}
	if best == 0 {
		s.d.log.Debug("a reply matching no command in flight", "user", s.aor, "reply", r.Name)
		return
	}
	w := s.waiters[best]
	w.byName = true
	w.ch <- r
}

// Protocol describes the xccos driver for validation (scenarios.Config.CheckProtocol):
// tls (its default: Persistent Chat clients use it), tcp and udp; room history
// (HistoryFetcher). It always registers and has no page mode.
func Protocol() scenarios.Protocol {
	// A Lync Server 2013 pool is planned for at most 12 sign-ins a second
	// (Microsoft's Persistent Chat capacity model): the default sign-in rate
	// against one.
	return scenarios.Protocol{Name: "xccos", Transports: []string{"tls", "tcp", "udp"}, History: true, SignInRate: 12}
}

// AuthScheme returns the authentication scheme the driver's users last
// signed in with ("NTLM", "Kerberos", "Digest"; "" before any challenge).
// Safe for concurrent use.
func (d *Driver) AuthScheme() string { return d.ua.AuthScheme() }
