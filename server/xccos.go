package server

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// The XCCOS (Lync/Skype for Business Persistent Chat) front end. A client
// INVITEs the lookup URI sip:ocschat@<domain> or the pool URI
// sip:<PoolUser>@<domain> (digest-authenticated like MESSAGE: this mirrors
// the Front End's trust, note §8; "note §N" is docs/protocols/xccos.md), then sends XML commands and grpchat in INFO
// inside that dialog; the server answers every INFO at once and sends its rpl,
// ntc and grpchat in INFOs of its own on the dialog, in order, one at a time
// per dialog (several queued items are merged into one envelope, as the real
// server merges rpl and ntc, note §3).
//
// Our reply codes (resp@code, note §7.2 [R]; xccos.Code*):
//
//	200 SUCCESS_OK               the command succeeded
//	400 ERR_INVALID_ARGUMENT     a command without the data it needs (no chanid, no chanib uri, ...)
//	403 ERR_PERMISSION           (reserved: room permissions are not modelled)
//	404 ERR_NO_SUCH_NODE         join, part or bccontext of a room that does not exist
//	501 ERR_MSG_NOT_SUPPORTED    a command outside the test subset
//
// SIP statuses to INFO: 200 accepted (a grpchat is stored before it), 400 an
// unparsable body, 403 "Not A Member" a grpchat to a room the dialog has not
// joined, 400 "Missing ts" a grpchat without ts, 404 "No Such Room", 481 an
// INFO outside a live dialog. Users listed in PChatConfig.Denied have no
// Persistent Chat permission: their INVITE succeeds, their first command is
// answered 200 at the SIP level and then the server sends BYE, as a real
// server did to such a user (note §2.3, SIPE #255).
const (
	// PChatLookupUser is the lookup service's user part (note §1) [C].
	PChatLookupUser = "ocschat"
	// PChatPoolUser is the channel server's user part: rpl:requri names it
	// (modelled on a Lync 2013 pool endpoint, note §1) [R].
	PChatPoolUser = "GC-1-PersistentChatService-1"
	// DefaultSessionExpires is the Session-Expires of the server's 200 to an INVITE.
	DefaultSessionExpires = 3600 * time.Second
	// pchatQueue bounds the items waiting to be sent on one dialog. A room's
	// fan-out never waits for a full queue: that member does not keep up and
	// is dropped (xccos_guard.go); its own replies wait (its own requests only).
	pchatQueue = 4096
	// pchatBatch is the most queued items taken at once by a dialog's sender.
	pchatBatch = 32
	// MaxMergeItems bounds PChatConfig.MergeItems.
	MaxMergeItems = pchatBatch
	// ReasonMissingRoute answers an in-dialog request of a Record-Routed
	// dialog that does not carry the route set.
	ReasonMissingRoute = "Missing Route"
)

// PChatConfig configures the XCCOS front end. The zero value is usable.
type PChatConfig struct {
	// Denied are user parts (case-insensitive) without Persistent Chat
	// permission; a user part ending in "-nopchat" is denied too.
	Denied []string
	// SessionExpires is sent in the 200 to an INVITE; the dialog is not timed
	// out by the server (idle dialogs end with BYE or when the server closes).
	// Zero: DefaultSessionExpires; negative: no Session-Expires header.
	SessionExpires time.Duration
	// DataDir holds the durable chat history (history.db); empty: history is
	// kept in memory (the last HistoryKeep messages per room).
	DataDir string
	// NoRecordRoute turns off the Record-Route the front end puts in its 200
	// to an INVITE. With it on (the default, as a Lync Front End does) the
	// dialog's later requests must carry the Route naming this server (RFC
	// 3261 12.2.1.1) or are refused 403 "Missing Route": the check that a
	// client keeps the route set.
	NoRecordRoute bool
	// MergeItems, when above 1, merges up to that many queued items of any kind
	// (grpchat, ntc, rpl) into one envelope: a load setting that lets a busy
	// dialog catch up, which real pools do not do. Zero or 1: as a real pool
	// sends, one item per envelope except several rpl of one command
	// (note §3).
	MergeItems int
	// MaxDialogsPerUser caps the dialogs one user has open at once; more
	// INVITEs are answered 486. Zero: DefaultMaxDialogsPerUser.
	MaxDialogsPerUser int
}

// DeniedSuffix marks generated or configured user parts without Persistent
// Chat permission.
const DeniedSuffix = "-nopchat"

// HistoryKeep is how many messages per room the in-memory history keeps.
const HistoryKeep = 1000

// pchat is the front end's state. Safe for concurrent use.
type pchat struct {
	s       *Server
	domain  string
	pool    string // sip:<PoolUser>@<domain>
	denied  map[string]bool
	expires time.Duration
	store   historyStore
	envID   atomic.Uint64

	mu      sync.Mutex
	dialogs map[string]*pdialog // by Call-ID
	perUser map[string]int      // open dialogs by user part
	rooms   map[string]*proom   // by lower-case id
	byName  map[string]*proom   // by lower-case name
	order   []*proom
}

// proom is one room. Its members are guarded by pchat.mu; seq orders posts.
type proom struct {
	name, id, uri string
	members       map[*pdialog]struct{}
	post          sync.Mutex // orders store+fan-out of the room's messages
}

// pdialog is one client's chat dialog.
type pdialog struct {
	callID, localTag, remoteTag string
	user                        string  // user part
	aor                         sip.Uri // the client's From URI
	local                       sip.Uri // the URI the client INVITEd: From of our requests
	rr                          string  // host:port of our Record-Route; "" when not Record-Routed
	b                           binding
	cseq                        atomic.Uint32
	out                         chan codec.Item
	rooms                       map[*proom]struct{} // guarded by pchat.mu
	commands                    atomic.Int32
	seen                        atomic.Int64 // unix ns of the client's last request on the dialog
	denied                      bool
	ended                       chan struct{}
	endOnce                     sync.Once
	// The dialog belongs to the connection (TCP, TLS) or source address (UDP)
	// its INVITE came from, and to the user it authenticated as (xccos_guard.go).
	src      string
	srcTr    string // the INVITE's transport, lower case
	unhook   func() // removes the connection-close hook; nil without one
	dropping atomic.Bool
}

func (d *pdialog) end() { d.endOnce.Do(func() { close(d.ended) }) }

func roomID(name string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	v := h.Sum64()
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(v>>32), uint16(v>>16), uint16(v)&0xfff, uint16(v>>4)&0xfff, v&0xffffffffffff)
}

func newPChat(s *Server) (*pchat, error) {
	cfg := s.cfg.PChat
	p := &pchat{
		s: s, domain: s.cfg.Domain, pool: "sip:" + PChatPoolUser + "@" + s.cfg.Domain,
		denied: map[string]bool{}, expires: cfg.SessionExpires,
		dialogs: map[string]*pdialog{}, rooms: map[string]*proom{}, byName: map[string]*proom{},
		perUser: map[string]int{},
	}
	if p.expires == 0 {
		p.expires = DefaultSessionExpires
	}
	for _, u := range cfg.Denied {
		p.denied[strings.ToLower(u)] = true
	}
	for _, n := range s.names {
		id := roomID(n)
		r := &proom{name: n, id: id, uri: codec.Room{Domain: p.domain, ID: id}.String(), members: map[*pdialog]struct{}{}}
		p.rooms[id] = r
		p.byName[n] = r
		p.order = append(p.order, r)
	}
	if p.expires > 0 {
		s.wg.Add(1)
		go p.janitor()
	}
	var err error
	if cfg.DataDir != "" {
		p.store, err = openBoltHistory(cfg.DataDir)
	} else {
		p.store = newMemHistory(HistoryKeep)
	}
	return p, err
}

// PChatRoomURIs returns the rooms as the XCCOS front end names them
// (ma-chan://<domain>/<id>), in order. Safe for concurrent use.
func (s *Server) PChatRoomURIs() []string {
	out := make([]string, 0, len(s.pc.order))
	for _, r := range s.pc.order {
		out = append(out, r.uri)
	}
	return out
}

func (p *pchat) isDenied(user string) bool {
	u := strings.ToLower(user)
	return p.denied[u] || strings.HasSuffix(u, DeniedSuffix)
}

func (p *pchat) isService(user string) bool {
	return strings.EqualFold(user, PChatLookupUser) || strings.EqualFold(user, PChatPoolUser)
}

// request handles INVITE, INFO, BYE and UPDATE for the front end.
func (s *Server) pchatRequest(req *sip.Request, tx sip.ServerTransaction) {
	p := s.pc
	if req.Method == sip.INVITE {
		if toTag, _ := req.To().Params.Get("tag"); toTag == "" {
			if !p.isService(req.Recipient.User) {
				s.respond(req, tx, sip.StatusNotFound, "Not Found")
				return
			}
			a := s.authenticate(req, tx)
			if a == nil {
				return
			}
			p.invite(req, tx, a)
			return
		}
	}
	d := p.dialog(req)
	if d == nil {
		s.reject(req, tx, sip.StatusCallTransactionDoesNotExists, "Call Leg/Transaction Does Not Exist")
		return
	}
	if !p.owner(req, tx, d) {
		return
	}
	if d.rr != "" && !routedVia(req, d.rr) {
		s.respond(req, tx, sip.StatusForbidden, ReasonMissingRoute)
		return
	}
	d.seen.Store(s.now().UnixNano())
	switch req.Method {
	case sip.INVITE, sip.UPDATE: // re-INVITE or session refresh
		s.respond(req, tx, sip.StatusOK, "OK", p.sessionHeaders(d)...)
	case sip.BYE:
		p.drop(d)
		s.respond(req, tx, sip.StatusOK, "OK")
	case sip.INFO:
		p.info(req, tx, d)
	}
}

// routedVia reports whether req's first Route names hostport: the route set
// of a dialog this server Record-Routed as hostport (a loose router removes
// its own Route, RFC 3261 16.4, which is all there is to do here: the
// Request-URI is the chat service, this same server).
func routedVia(req *sip.Request, hostport string) bool {
	h := req.GetHeader("Route")
	if h == nil {
		return false
	}
	var u sip.Uri
	if r, ok := h.(*sip.RouteHeader); ok {
		u = r.Address
	} else if err := sip.ParseUri(strings.Trim(strings.TrimSpace(h.Value()), "<>"), &u); err != nil {
		return false
	}
	return strings.EqualFold(u.HostPort(), hostport)
}

// dialog finds the live dialog of an in-dialog request: Call-ID and the
// client's tag must match.
func (p *pchat) dialog(req *sip.Request) *pdialog {
	p.mu.Lock()
	d := p.dialogs[req.CallID().Value()]
	p.mu.Unlock()
	if d == nil {
		return nil
	}
	if tag, _ := req.From().Params.Get("tag"); tag != d.remoteTag {
		return nil
	}
	return d
}

func (p *pchat) sessionHeaders(d *pdialog) []sip.Header {
	h := []sip.Header{&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: PChatPoolUser, Host: p.domain}}}
	if p.expires > 0 {
		h = append(h, sip.NewHeader("Session-Expires", strconv.Itoa(int(p.expires/time.Second))+";refresher=uac"))
	}
	return h
}

func (p *pchat) invite(req *sip.Request, tx sip.ServerTransaction, a *account) {
	s := p.s
	c := req.Contact()
	if c == nil || c.Address.Host == "" {
		s.respond(req, tx, sip.StatusBadRequest, "Missing Contact")
		return
	}
	tag, _ := req.From().Params.Get("tag")
	d := &pdialog{
		callID: req.CallID().Value(), localTag: sip.GenerateTagN(16), remoteTag: tag,
		user: a.user, aor: *req.From().Address.Clone(), local: *req.To().Address.Clone(), denied: p.isDenied(a.user),
		out: make(chan codec.Item, pchatQueue), rooms: map[*proom]struct{}{}, ended: make(chan struct{}),
	}
	d.local.UriParams, d.local.Headers = nil, nil
	d.b = binding{contact: *c.Address.Clone(), transport: strings.ToLower(req.Transport())}
	if rb, ok := s.gruuBinding(c.Address); ok {
		// A GRUU we issued: our requests go where the endpoint registered
		// from (its flow), whatever its Contact names (note §1.1).
		d.b.transport, d.b.dest, d.b.laddr = rb.transport, rb.dest, rb.laddr
	} else if d.b.transport == "udp" {
		d.b.dest = contactDest(c.Address, req.Source())
		if d.b.laddr = localAddr(tx); d.b.laddr == "" {
			d.b.laddr = s.Addr("udp")
		}
	} else {
		d.b.dest = req.Source()
	}
	rr, recordRoute := p.recordRoute(req, tx)
	if recordRoute {
		d.rr = rr.HostPort()
	}
	d.src, d.srcTr = req.Source(), strings.ToLower(req.Transport())
	p.mu.Lock()
	if old := p.dialogs[d.callID]; old != nil {
		p.mu.Unlock()
		s.respond(req, tx, sip.StatusBadRequest, "Call-ID In Use") // a retransmission is absorbed by the transaction
		return
	}
	if p.perUser[d.user] >= s.cfg.PChat.MaxDialogsPerUser {
		p.mu.Unlock()
		s.stats.dialogsRefused.Add(1)
		s.diag(slog.LevelError, "xccos: dialog refused, the user's dialog cap is reached", "user", d.user, "max", s.cfg.PChat.MaxDialogsPerUser)
		s.reject(req, tx, sip.StatusBusyHere, "Too Many Dialogs")
		return
	}
	p.dialogs[d.callID] = d
	p.perUser[d.user]++
	s.stats.dialogsOpen.Add(1)
	p.mu.Unlock()
	p.hookConn(d)
	d.seen.Store(s.now().UnixNano())

	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5061 sip " + p.pool + "\r\na=accept-types:text/plain\r\n"
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", []byte(sdp))
	res.To().Params.Add("tag", d.localTag)
	if recordRoute {
		res.AppendHeader(&sip.RecordRouteHeader{Address: rr})
	}
	res.AppendHeader(sip.NewHeader("Server", userAgent))
	for _, h := range p.sessionHeaders(d) {
		res.AppendHeader(h)
	}
	ct := sip.ContentTypeHeader("application/sdp")
	res.AppendHeader(&ct)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "request", req.StartLine(), "error", err)
		p.drop(d)
		return
	}
	if !s.spawn(func() { p.sender(d) }) {
		p.drop(d) // closing
	}
}

// recordRoute is the Record-Route URI of the 200 to req: the listening
// address req came in on, with lr (RFC 3261 16.6 item 4); false when
// Record-Route is off or that address is unknown.
func (p *pchat) recordRoute(req *sip.Request, tx sip.ServerTransaction) (sip.Uri, bool) {
	if p.s.cfg.PChat.NoRecordRoute {
		return sip.Uri{}, false
	}
	la := localAddr(tx)
	if la == "" {
		la = p.s.Addr(strings.ToLower(req.Transport()))
	}
	host, port, err := sip.ParseAddr(la)
	if err != nil || host == "" {
		return sip.Uri{}, false
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = p.domain // a wildcard listener: name the server by its domain
	}
	return sip.Uri{Scheme: "sip", Host: host, Port: port,
		UriParams: sip.HeaderParams{{K: "transport", V: strings.ToLower(req.Transport())}, {K: "lr"}}}, true
}

// janitor ends the dialogs whose client sent nothing (no INFO, no UPDATE
// refresh) for the Session-Expires interval, with a BYE (note §2.3).
func (p *pchat) janitor() {
	s := p.s
	defer s.wg.Done()
	t := time.NewTicker(min(max(p.expires/4, 100*time.Millisecond), 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		cutoff := s.now().Add(-p.expires).UnixNano()
		var idle []*pdialog
		p.mu.Lock()
		for _, d := range p.dialogs {
			if d.seen.Load() < cutoff {
				idle = append(idle, d)
			}
		}
		p.mu.Unlock()
		for _, d := range idle {
			s.log.Debug("xccos: session expired", "user", d.user)
			select {
			case d.out <- byeItem{}:
			default: // a full queue: the client is not keeping up either
				p.drop(d)
			}
		}
	}
}

// drop ends d: leaves its rooms (ntc:part to the others) and stops its sender.
func (p *pchat) drop(d *pdialog) {
	p.mu.Lock()
	if p.dialogs[d.callID] == d {
		delete(p.dialogs, d.callID)
		if n := p.perUser[d.user] - 1; n > 0 {
			p.perUser[d.user] = n
		} else {
			delete(p.perUser, d.user)
		}
		p.s.stats.dialogsOpen.Add(^uint64(0))
	}
	unhook := d.unhook
	d.unhook = nil
	rooms := make([]*proom, 0, len(d.rooms))
	for r := range d.rooms {
		rooms = append(rooms, r)
		delete(r.members, d)
	}
	d.rooms = map[*proom]struct{}{}
	p.mu.Unlock()
	if unhook != nil {
		unhook()
	}
	for _, r := range rooms {
		p.notifyPart(r, d)
	}
	d.end()
}

// enqueue queues an item for d's sender; it waits while the queue is full and
// gives up when d ends or the server closes.
func (p *pchat) enqueue(d *pdialog, it codec.Item) {
	select {
	case d.out <- it:
	case <-d.ended:
	case <-p.s.ctx.Done():
	}
}

// sender sends d's queued items in order, merging what is queued into one
// envelope, one INFO at a time.
func (p *pchat) sender(d *pdialog) {
	s := p.s
	for {
		var items []codec.Item
		select {
		case it := <-d.out:
			items = append(items, it)
		case <-d.ended:
			return
		case <-s.ctx.Done():
			return
		}
	more:
		for len(items) < pchatBatch {
			select {
			case it := <-d.out:
				items = append(items, it)
			default:
				break more
			}
		}
		bye := false
		for i, it := range items {
			if _, ok := it.(byeItem); ok {
				items, bye = items[:i], true
				break
			}
		}
		for _, group := range p.groups(items) {
			for _, body := range p.envelopes(d, group) {
				res, err := p.sendInDialog(d, sip.INFO, body)
				if s.ctx.Err() != nil {
					return
				}
				// A client that does not answer, or answers 481 or 487 (SIPE's
				// answer on a stale dialog, note §2.3), is gone: its dialog is
				// dropped, so one dead member never holds its rooms back.
				if err != nil || res.StatusCode == sip.StatusCallTransactionDoesNotExists || res.StatusCode == sip.StatusRequestTerminated {
					s.log.Debug("xccos: dialog dropped", "user", d.user, "error", err)
					p.drop(d)
					return
				}
			}
		}
		if bye {
			_, _ = p.sendInDialog(d, sip.BYE, nil)
			p.drop(d)
			return
		}
	}
}

// groups splits queued items into the envelopes they are sent in. As a real
// pool sends: one item per envelope, except that consecutive rpl answering
// one command go together (note §3; a client like SIPE shows only the first
// grpchat of an envelope and drops an ntc beside a rpl). With
// PChatConfig.MergeItems above 1: up to that many items of any kind.
func (p *pchat) groups(items []codec.Item) [][]codec.Item {
	if n := p.s.cfg.PChat.MergeItems; n > 1 {
		out := make([][]codec.Item, 0, (len(items)+n-1)/n)
		for len(items) > n {
			out = append(out, items[:n])
			items = items[n:]
		}
		if len(items) > 0 {
			out = append(out, items)
		}
		return out
	}
	out := make([][]codec.Item, 0, len(items))
	for i := 0; i < len(items); {
		j := i + 1
		if r, ok := items[i].(codec.Reply); ok {
			for j < len(items) {
				r2, ok := items[j].(codec.Reply)
				if !ok || r2.CommandEnvID != r.CommandEnvID || r2.Name != r.Name {
					break
				}
				j++
			}
		}
		out = append(out, items[i:j])
		i = j
	}
	return out
}

// udpBody is the largest merged envelope sent over UDP: sipgo refuses UDP
// messages over 1300 bytes (docs/design.md), headers (~450 bytes) included, so merged items that get
// larger are sent one per INFO. A single larger item fails: big room lists
// and histories need tcp or tls.
const udpBody = 800

// envelopes encodes items as one envelope, or one per item when that is too
// big for d's UDP transport.
func (p *pchat) envelopes(d *pdialog, items []codec.Item) [][]byte {
	if len(items) == 0 {
		return nil
	}
	body, err := codec.Marshal(codec.Envelope{EnvID: p.envID.Add(1), Items: items})
	if err != nil {
		p.s.log.Debug("xccos: cannot encode", "error", err)
		return nil
	}
	if d.b.transport != "udp" || len(body) <= udpBody || len(items) == 1 {
		return [][]byte{body}
	}
	out := make([][]byte, 0, len(items))
	for _, it := range items {
		if b, err := codec.Marshal(codec.Envelope{EnvID: p.envID.Add(1), Items: []codec.Item{it}}); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// byeItem in a dialog's queue makes the sender end the dialog with BYE after
// what was queued before it.
type byeItem struct{ codec.Notice }

func (p *pchat) sendInDialog(d *pdialog, method sip.RequestMethod, body []byte) (*sip.Response, error) {
	s := p.s
	req := sip.NewRequest(method, *d.b.contact.Clone())
	// From is the dialog's local URI, the one the client INVITEd (RFC 3261
	// 12.2.1.1): the lookup's for the rpl:requri of a lookup dialog, which
	// SIPE looks its session up by.
	req.AppendHeader(&sip.FromHeader{Address: *d.local.Clone(), Params: sip.HeaderParams{{K: "tag", V: d.localTag}}})
	req.AppendHeader(&sip.ToHeader{Address: *d.aor.Clone(), Params: sip.HeaderParams{{K: "tag", V: d.remoteTag}}})
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq.Add(1), MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("User-Agent", userAgent))
	if body != nil {
		ct := sip.ContentTypeHeader(codec.ContentType)
		req.AppendHeader(&ct)
	}
	req.SetBody(body)
	select {
	case s.pending <- struct{}{}:
	case <-s.ctx.Done():
		return nil, context.Canceled
	}
	defer func() { <-s.pending }()
	tx, err := s.copyTx(req, d.b)
	if err != nil {
		s.log.Debug("xccos: INFO not sent", "to", d.user, "error", err)
		return nil, err
	}
	return s.await(tx)
}

// info answers an INFO on d: the XCCOS items it carries.
func (p *pchat) info(req *sip.Request, tx sip.ServerTransaction, d *pdialog) {
	s := p.s
	env, err := codec.Parse(req.Body())
	if err != nil {
		s.respond(req, tx, sip.StatusBadRequest, "Bad XCCOS Body")
		return
	}
	// grpchat first: it decides the SIP answer (non-200: not delivered, note §3).
	now := s.now()
	var chats []codec.Chat
	var cmds []struct {
		env uint64
		c   codec.Command
	}
	for _, it := range env.Items {
		switch it := it.(type) {
		case codec.Chat:
			chats = append(chats, it)
		case codec.Command:
			cmds = append(cmds, struct {
				env uint64
				c   codec.Command
			}{env.EnvID, it})
		}
	}
	if d.denied {
		s.respond(req, tx, sip.StatusOK, "OK")
		p.enqueue(d, byeItem{})
		return
	}
	for _, c := range chats {
		code, reason := p.post(d, c, now)
		if code != sip.StatusOK {
			s.respond(req, tx, code, reason)
			return
		}
	}
	s.respond(req, tx, sip.StatusOK, "OK")
	for _, c := range cmds {
		d.commands.Add(1)
		p.command(d, c.env, c.c)
	}
}

// post stores a grpchat and fans it out to every member including the author;
// it returns the SIP status for the INFO.
func (p *pchat) post(d *pdialog, c codec.Chat, now time.Time) (int, string) {
	r := p.roomOf(c.ChanURI)
	if r == nil {
		return sip.StatusNotFound, "No Such Room"
	}
	if c.TS.IsZero() {
		return sip.StatusBadRequest, "Missing ts"
	}
	if strings.ContainsAny(c.Text, "\x00") {
		return sip.StatusBadRequest, "Bad Text"
	}
	p.mu.Lock()
	_, member := r.members[d]
	p.mu.Unlock()
	if !member {
		return sip.StatusForbidden, "Not A Member Of This Room"
	}
	out := codec.Chat{SeqID: "1", ChanURI: r.uri, Author: d.aor.String(), TS: now.UTC(), Text: c.Text}
	r.post.Lock()
	defer r.post.Unlock()
	if err := p.store.append(r.id, out); err != nil {
		p.s.stats.historyErrors.Add(1)
		p.s.diag(slog.LevelError, "xccos: history not stored (--data)", "room", r.name, "error", err)
		return sip.StatusInternalServerError, "History Store Failed"
	}
	p.mu.Lock()
	targets := make([]*pdialog, 0, len(r.members))
	for m := range r.members {
		targets = append(targets, m)
	}
	p.mu.Unlock()
	for _, m := range targets {
		p.offer(m, out)
	}
	return sip.StatusOK, "OK"
}

func (p *pchat) roomOf(uri string) *proom {
	room, err := codec.ParseRoom(uri)
	if err != nil || !strings.EqualFold(room.Domain, p.domain) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rooms[strings.ToLower(room.ID)]
}

func (p *pchat) channel(r *proom) codec.Channel {
	return codec.Channel{Name: r.name, URI: r.uri,
		Info: []codec.Property{
			{ID: codec.InfoUserCount, Value: strconv.Itoa(len(r.members))},
			{ID: codec.InfoVisibility, Value: "open"},
		},
		Props: []codec.Property{
			{ID: codec.PropFilePost, Value: "false"},
			{ID: codec.PropInvite, Value: "false"},
			{ID: codec.PropLogged, Value: "true"},
		}}
}

// command runs one command and queues its rpl.
func (p *pchat) command(d *pdialog, env uint64, c codec.Command) {
	reply := func(code int, data codec.Data) { p.enqueue(d, codec.NewReply(env, c, code, data)) }
	switch c.Name {
	case codec.NameRequri:
		reply(codec.CodeOK, codec.Data{Users: []codec.User{{URI: p.pool}}})
	case codec.NameGetServerInfo:
		reply(codec.CodeOK, codec.Data{Servers: []codec.ServerInfo{{
			InfoType: codec.ServerInfoType, ServerTime: p.s.now().UTC(), SearchLimit: 999,
			MessageSizeLimit: 8192, StorySizeLimit: 65536,
			RootURI: "ma-cat://" + p.domain + "/" + roomID("root"), DBVersion: roomID("chatload-db"),
		}}})
	case codec.NameGetInv:
		reply(codec.CodeOK, codec.Data{})
	case codec.NameChanSrch:
		crit := ""
		if len(c.Data.Queries) > 0 {
			crit = strings.ToLower(strings.TrimSpace(c.Data.Queries[0].Criteria))
		}
		var data codec.Data
		p.mu.Lock()
		for _, r := range p.order {
			if crit == "" || strings.Contains(r.name, crit) {
				ch := p.channel(r)
				if d.b.transport == "udp" { // keep the list within a datagram as long as possible
					ch.Info, ch.Props = nil, nil
				}
				data.Channels = append(data.Channels, ch)
			}
			if len(data.Channels) >= 999 {
				break
			}
		}
		p.mu.Unlock()
		reply(codec.CodeOK, data)
	case codec.NameJoin, codec.NameBJoin:
		p.join(d, c, reply)
	case codec.NamePart:
		if len(c.Data.Channels) == 0 {
			reply(codec.CodeInvalidArgument, codec.Data{})
			return
		}
		r := p.roomOf(c.Data.Channels[0].URI)
		if r == nil {
			reply(codec.CodeNoSuchNode, codec.Data{})
			return
		}
		p.mu.Lock()
		_, was := r.members[d]
		delete(r.members, d)
		delete(d.rooms, r)
		p.mu.Unlock()
		reply(codec.CodeOK, codec.Data{Channels: []codec.Channel{{URI: r.uri}}})
		if was {
			p.notifyPart(r, d)
		}
	case codec.NameBCContext:
		if len(c.Data.Channels) == 0 {
			reply(codec.CodeInvalidArgument, codec.Data{})
			return
		}
		r := p.roomOf(c.Data.Channels[0].URI)
		if r == nil {
			reply(codec.CodeNoSuchNode, codec.Data{})
			return
		}
		p.mu.Lock()
		_, member := r.members[d]
		p.mu.Unlock()
		if !member { // history is the room's, as posting is: members only
			reply(codec.CodePermission, codec.Data{})
			return
		}
		n := 25
		if len(c.Data.History) > 0 && c.Data.History[0].Last > 0 {
			n = min(c.Data.History[0].Last, HistoryKeep)
		}
		msgs, err := p.store.last(r.id, n)
		if err != nil {
			p.s.stats.historyErrors.Add(1)
			p.s.diag(slog.LevelError, "xccos: history not read (--data)", "room", r.name, "error", err)
			reply(codec.CodeDatabaseConnection, codec.Data{})
			return
		}
		reply(codec.CodeOK, codec.Data{Channels: []codec.Channel{{URI: r.uri, Messages: msgs}}})
	default:
		reply(codec.CodeMsgNotSupported, codec.Data{})
	}
}

func (p *pchat) join(d *pdialog, c codec.Command, reply func(int, codec.Data)) {
	if len(c.Data.ChanIDs) == 0 {
		reply(codec.CodeInvalidArgument, codec.Data{})
		return
	}
	var data codec.Data
	var joined []*proom
	failed := 0
	for _, id := range c.Data.ChanIDs {
		var r *proom
		if strings.EqualFold(id.Domain, p.domain) {
			p.mu.Lock()
			r = p.rooms[strings.ToLower(id.Value)]
			p.mu.Unlock()
		}
		if r == nil {
			failed++
			data.Failures = append(data.Failures, codec.Failure{Key: codec.OperationFailed, Value: id.Value, Domain: id.Domain})
			continue
		}
		joined = append(joined, r)
	}
	if c.Name == codec.NameJoin && failed > 0 {
		reply(codec.CodeNoSuchNode, codec.Data{})
		return
	}
	ids := map[*pdialog]string{}
	p.mu.Lock()
	for _, r := range joined {
		r.members[d] = struct{}{}
		d.rooms[r] = struct{}{}
		var list []string
		for m := range r.members {
			id, ok := ids[m]
			if !ok {
				id = strconv.Itoa(len(ids))
				ids[m] = id
				data.Users = append(data.Users, codec.User{ID: id, URI: m.aor.String()})
			}
			list = append(list, id)
		}
		ch := p.channel(r)
		ch.Info, ch.Props = nil, nil
		ch.Roles = []codec.Role{{Key: codec.RoleMember, Value: strings.Join(list, ",")}}
		data.Channels = append(data.Channels, ch)
	}
	p.mu.Unlock()
	reply(codec.CodeOK, data)
	for _, r := range joined {
		p.notifyJoin(r, d)
	}
}

func (p *pchat) others(r *proom, d *pdialog) []*pdialog {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*pdialog, 0, len(r.members))
	for m := range r.members {
		if m != d {
			out = append(out, m)
		}
	}
	return out
}

func (p *pchat) notifyJoin(r *proom, d *pdialog) {
	n := codec.NewNotice("join", codec.Data{Users: []codec.User{{URI: d.aor.String(),
		Roles: []codec.Role{{Key: codec.RoleMember, Domain: p.domain, Value: r.id}}}}})
	for _, m := range p.others(r, d) {
		p.offer(m, n)
	}
}

func (p *pchat) notifyPart(r *proom, d *pdialog) {
	n := codec.NewNotice("part", codec.Data{Channels: []codec.Channel{{URI: r.uri,
		Users: []codec.User{{URI: d.aor.String()}}}}})
	for _, m := range p.others(r, d) {
		p.offer(m, n)
	}
}
