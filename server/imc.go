package server

import (
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/imc/wire"
)

// helpText answers #help. imc's own wording is not part of what clients rely on.
const helpText = "*** Commands:\n" +
	"#join [room] - join the room (default: the one addressed)\n" +
	"#exit|#leave [room] - leave the room\n" +
	"#members|#list [room] - list the members\n" +
	"#rooms - list the rooms\n" +
	"#help - this text"

// member is a room member, identified like imc does: the From URI's user@host,
// without port or parameters.
type member struct {
	user string
	host string // as it joined
	key  string // user@host, host in lower case: what membership compares
}

func newMember(user, host string) member {
	return member{user: user, host: host, key: user + "@" + strings.ToLower(host)}
}

func (m member) uri() sip.Uri { return sip.Uri{Scheme: "sip", User: m.user, Host: m.host} }

// room is one provisioned room. Its mutex orders membership changes with the
// deliveries they cause, as imc holds its bucket lock during a broadcast.
type room struct {
	name string
	uri  string  // "sip:room001@conf.example.test"
	addr sip.Uri // uri, parsed: the From of everything the room sends

	mu      sync.Mutex
	members members // join order; imc lists them newest first (all, list)

	rng *faultRand // fault decisions for the room's copies; nil when faults draw nothing
}

func newRoom(name, confHost string) *room {
	a := sip.Uri{Scheme: "sip", User: name, Host: confHost}
	return &room{name: name, uri: a.String(), addr: a}
}

// all returns a copy of the members newest first (imc's order), optionally
// without the one keyed skip. Caller holds r.mu.
func (r *room) all(skip string) []member { return r.members.NewestFirst(skip) }

// announced returns who is told of a join or leave by m: every member, or only
// m in a room larger than Config.AnnounceMax. Caller holds r.mu.
func (s *Server) announced(r *room, m member) []member {
	if s.cfg.AnnounceMax > 0 && r.members.Len() > s.cfg.AnnounceMax {
		return []member{m}
	}
	return r.all("")
}

// roomRequest runs imc_manager for an authenticated MESSAGE to the conference host
// and answers it the way our Kamailio config maps imc's return codes.
func (s *Server) roomRequest(req *sip.Request, tx sip.ServerTransaction, _ *account) {
	from := req.From().Address
	sender := newMember(from.User, from.Host)
	if sender.user == "" || sender.host == "" {
		s.respond(req, tx, sip.StatusBadRequest, "Bad From")
		return
	}
	body := string(req.Body())
	name := strings.ToLower(req.Recipient.User)
	callID := req.CallID().Value()
	if body == "" { // imc rc -1
		s.respond(req, tx, sip.StatusInternalServerError, wire.ReasonCommandFailed)
		return
	}
	if wire.IsCommand(body) {
		s.command(req, tx, sender, name, callID, body)
		return
	}
	if s.gate != nil {
		// The whole line waits, answer included, as in a server that stopped.
		defer s.gate.pass(s.ctx)()
	}
	r := s.rooms[name]
	if r == nil { // imc rc -200
		s.respond(req, tx, sip.StatusForbidden, wire.ReasonNotMember)
		return
	}
	r.mu.Lock()
	if !r.members.Has(sender.key) {
		r.mu.Unlock()
		s.respond(req, tx, sip.StatusForbidden, wire.ReasonNotMember)
		return
	}
	s.stats.lines.Add(1)
	// Queued before the 200 so that a sender waiting for each 200 keeps its order.
	s.enqueue(r.name, delivery{from: r.addr, inReplyTo: callID,
		body: wire.FormatLine(sender.user, body), targets: r.all(sender.key), rng: r.rng})
	r.mu.Unlock()
	s.respond(req, tx, sip.StatusOK, "OK")
}

// command handles a body starting with '#'.
func (s *Server) command(req *sip.Request, tx sip.ServerTransaction, sender member, name, callID, body string) {
	if len(body) == 1 || strings.ContainsRune(" \t\r\n", rune(body[1])) { // imc rc -20
		s.respond(req, tx, sip.StatusBadRequest, wire.ReasonBadCommand)
		return
	}
	ok := func() { s.respond(req, tx, sip.StatusOK, "OK") }
	failed := func() { s.respond(req, tx, sip.StatusInternalServerError, wire.ReasonCommandFailed) }
	self := sip.Uri{Scheme: "sip", User: name, Host: s.confHost}
	tell := func(from sip.Uri, text string) {
		s.enqueue(from.User, delivery{from: from, inReplyTo: callID, body: text, notice: true, targets: []member{sender}})
	}
	cmd, known := wire.ParseCommand(body)
	if !known {
		tell(self, wire.NoticeInvalidCommand(cmd.Name))
		ok()
		return
	}
	switch cmd.Name {
	case "join":
		r, addr := s.roomArg(cmd.Args, name)
		if r == nil {
			tell(addr, wire.NoticeRoomNotFound)
			ok()
			return
		}
		r.mu.Lock()
		if !r.members.Add(sender) {
			s.enqueue(r.name, delivery{from: r.addr, inReplyTo: callID, body: wire.NoticeAlreadyIn, notice: true, targets: []member{sender}})
		} else {
			s.stats.joins.Add(1)
			s.enqueue(r.name, delivery{from: r.addr, inReplyTo: callID, body: wire.NoticeJoined(sender.user), notice: true, targets: s.announced(r, sender)})
		}
		r.mu.Unlock()
		ok()
	case "exit":
		r, _ := s.roomArg(cmd.Args, name)
		if r == nil { // imc rc -90
			failed()
			return
		}
		r.mu.Lock()
		if !r.members.Has(sender.key) {
			r.mu.Unlock()
			failed()
			return
		}
		// The leaver is told too: imc sends before it removes.
		s.enqueue(r.name, delivery{from: r.addr, inReplyTo: callID, body: wire.NoticeLeft(sender.user), notice: true, targets: s.announced(r, sender)})
		r.members.Remove(sender.key)
		s.stats.leaves.Add(1)
		r.mu.Unlock()
		ok()
	case "members":
		r, _ := s.roomArg(cmd.Args, name)
		if r == nil { // imc rc -100
			failed()
			return
		}
		r.mu.Lock()
		if !r.members.Has(sender.key) {
			r.mu.Unlock()
			failed()
			return
		}
		all := r.all("")
		ms := make([]wire.Member, 0, len(all))
		for _, m := range all { // newest first, as imc lists them
			ms = append(ms, wire.Member{User: m.user})
		}
		s.enqueue(r.name, delivery{from: r.addr, inReplyTo: callID, body: wire.FormatMembers(ms), notice: true, targets: []member{sender}})
		r.mu.Unlock()
		ok()
	case "rooms":
		tell(self, wire.FormatRooms(s.names))
		ok()
	case "help":
		tell(self, helpText)
		ok()
	default:
		// create, invite, add, accept, reject, remove, destroy: rooms are provisioned
		// and owned by the silent admin, so imc refuses these to every user.
		failed()
	}
}

// roomArg resolves a command's room argument like imc: none means the addressed
// room; a name without '@' is on the conference host. It returns the room (nil when
// it does not exist) and the URI to name it by.
func (s *Server) roomArg(args []string, name string) (*room, sip.Uri) {
	user, host := name, s.confHost
	if len(args) > 0 {
		a := args[0]
		if l := strings.ToLower(a); strings.HasPrefix(l, "sip:") {
			a = a[4:]
		} else if strings.HasPrefix(l, "sips:") {
			a = a[5:]
		}
		user = a
		if u, h, ok := strings.Cut(a, "@"); ok {
			user, host = u, h
		}
		user = strings.ToLower(user)
	}
	addr := sip.Uri{Scheme: "sip", User: user, Host: host}
	if !strings.EqualFold(host, s.confHost) {
		return nil, addr
	}
	r := s.rooms[user]
	if r == nil {
		return nil, addr
	}
	return r, r.addr
}
