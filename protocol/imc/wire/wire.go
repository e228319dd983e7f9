// Package wire is the wire model of chat rooms over SIP MESSAGE in the dialect of
// Kamailio's imc module (commands, notifications, the "[user]: " prefix), shared by
// the imc driver and the embedded server. It imports nothing of chatload.
package wire

import (
	"strings"
)

// Wire constants of the imc dialect (Kamailio 5.6).
const (
	// CmdChar starts a command body; a chat line starting with it is never relayed.
	CmdChar = '#'
	// SupportedTag is the Supported header value imc puts on every copy.
	SupportedTag = "kamailio/imc"
	// HeaderInReplyTo carries the sender's Call-ID on every fan-out copy.
	HeaderInReplyTo = "In-Reply-To"
	// FanoutCSeq is the CSeq number imc uses on every copy it sends.
	FanoutCSeq = 10

	// ReasonNotMember is the reason phrase of the 403 for a line from a non-member
	// (or to a room that does not exist).
	ReasonNotMember = "Not A Member Of This Room"
	// ReasonCommandFailed is the reason phrase of the 500 for a failed command.
	ReasonCommandFailed = "Chat Command Failed"
	// ReasonBadCommand is the reason phrase of the 400 for an unparsable command.
	ReasonBadCommand = "Bad Chat Command"
)

// Notification bodies, exactly as imc sends them.
const (
	NoticeRoomNotFound = "*** Room not found"
	NoticeAlreadyIn    = "*** You are in the room already"
	NoticeCreated      = "*** Room was created"
	NoticeDestroyed    = "*** Room has been destroyed"
	NoticeOwnerNoLeave = "*** You are the room's owner and cannot leave. Use #destroy if you wish to destroy the room."
)

// Command is a parsed command body ("#join room001").
type Command struct {
	Name string   // lower case, aliases resolved: join, exit, rooms, members, reject, ...
	Args []string // the whitespace-separated arguments
}

// commandAliases maps every accepted spelling to the canonical name.
var commandAliases = map[string]string{
	"create": "create", "join": "join", "invite": "invite", "add": "add",
	"accept": "accept", "reject": "reject", "deny": "reject", "remove": "remove",
	"leave": "exit", "exit": "exit", "members": "members", "list": "members",
	"rooms": "rooms", "destroy": "destroy", "help": "help",
}

// IsCommand reports whether body is a command (starts with CmdChar).
func IsCommand(body string) bool { return len(body) > 0 && body[0] == CmdChar }

// ParseCommand parses a command body. known is false for a name imc does not know;
// Name then holds the word as given, for NoticeInvalidCommand.
func ParseCommand(body string) (c Command, known bool) {
	if !IsCommand(body) {
		return Command{}, false
	}
	line := body[1:]
	if i := strings.IndexAny(line, "\r\n"); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return Command{}, false
	}
	name, ok := commandAliases[strings.ToLower(f[0])]
	if !ok {
		return Command{Name: f[0], Args: f[1:]}, false
	}
	return Command{Name: name, Args: f[1:]}, true
}

// JoinBody, ExitBody and RoomsBody are the command bodies the driver sends.
const (
	JoinBody  = "#join"
	ExitBody  = "#exit"
	RoomsBody = "#rooms"
)

// FormatLine returns a fan-out copy's body: "[user]: text".
func FormatLine(user, text string) string { return "[" + user + "]: " + text }

// ParseLine splits a fan-out copy's body into the author's user part and the text.
// ok is false for notifications and anything else without the prefix.
func ParseLine(body string) (user, text string, ok bool) {
	if len(body) < 4 || body[0] != '[' {
		return "", "", false
	}
	i := strings.Index(body, "]: ")
	if i < 2 || strings.ContainsAny(body[1:i], "[]\n") {
		return "", "", false
	}
	return body[1:i], body[i+3:], true
}

// NoticeJoined and NoticeLeft return the membership notifications for user.
func NoticeJoined(user string) string { return "*** [" + user + "] has joined the room" }

// NoticeLeft is sent to every member, the leaver included, before removal.
func NoticeLeft(user string) string { return "*** [" + user + "] has left the room" }

// NoticeInvalidCommand is the answer to an unknown command word.
func NoticeInvalidCommand(word string) string {
	return "*** Invalid command '" + word + "' (send '#help' for help)"
}

// NoticeKind says what a notification reports.
type NoticeKind int

// The notifications a client acts on; NoticeOther covers the rest (created, help...).
const (
	NoticeNone NoticeKind = iota // not a notification (a chat line or a list)
	NoticeJoin
	NoticeLeave
	NoticeNotFound
	NoticeAlready
	NoticeInvalid
	NoticeOther
)

// ParseNotice classifies a body sent by a room. user is set for join and leave.
func ParseNotice(body string) (kind NoticeKind, user string) {
	if !strings.HasPrefix(body, "*** ") {
		return NoticeNone, ""
	}
	switch body {
	case NoticeRoomNotFound:
		return NoticeNotFound, ""
	case NoticeAlreadyIn:
		return NoticeAlready, ""
	}
	rest := body[4:]
	if strings.HasPrefix(rest, "[") {
		if i := strings.Index(rest, "] has "); i > 1 {
			switch rest[i+6:] {
			case "joined the room":
				return NoticeJoin, rest[1:i]
			case "left the room":
				return NoticeLeave, rest[1:i]
			}
		}
	}
	if strings.HasPrefix(rest, "Invalid command ") {
		return NoticeInvalid, ""
	}
	return NoticeOther, ""
}

// FormatRooms returns the answer to #rooms: "Rooms:\n[room001]\n[room002]".
func FormatRooms(rooms []string) string {
	var b strings.Builder
	b.WriteString("Rooms:")
	for _, r := range rooms {
		b.WriteString("\n[")
		b.WriteString(r)
		b.WriteString("]")
	}
	return b.String()
}

// ParseRooms parses the answer to #rooms into room names (user parts, as imc gives them).
func ParseRooms(body string) (rooms []string, ok bool) {
	return parseList(body, "Rooms:")
}

// Member is one row of a #members answer.
type Member struct {
	User  string
	Owner bool
	Admin bool
}

// FormatMembers returns the answer to #members: "Members:\n*[owner]\n~[admin]\n[user]".
func FormatMembers(ms []Member) string {
	var b strings.Builder
	b.WriteString("Members:")
	for _, m := range ms {
		b.WriteString("\n")
		if m.Owner {
			b.WriteString("*")
		} else if m.Admin {
			b.WriteString("~")
		}
		b.WriteString("[" + m.User + "]")
	}
	return b.String()
}

// ParseMembers parses the answer to #members.
func ParseMembers(body string) (ms []Member, ok bool) {
	lines, ok := parseList(body, "Members:")
	if !ok {
		return nil, false
	}
	for _, l := range lines {
		ms = append(ms, Member{User: l, Owner: false})
	}
	// parseList drops the markers; recover them from the raw lines.
	raw := strings.Split(strings.TrimPrefix(body, "Members:"), "\n")
	i := 0
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		ms[i].Owner = strings.HasPrefix(r, "*")
		ms[i].Admin = strings.HasPrefix(r, "~")
		i++
	}
	return ms, true
}

func parseList(body, head string) ([]string, bool) {
	if !strings.HasPrefix(body, head) {
		return nil, false
	}
	var out []string
	for _, l := range strings.Split(body[len(head):], "\n") {
		l = strings.TrimSpace(l)
		l = strings.TrimLeft(l, "*~")
		if l == "" {
			continue
		}
		if len(l) < 2 || l[0] != '[' || l[len(l)-1] != ']' {
			return nil, false
		}
		out = append(out, l[1:len(l)-1])
	}
	return out, true
}

// RoomURI returns the URI of room name on domain's conference host:
// ("room001", "example.test") -> "sip:room001@conf.example.test". A name that is
// already a URI (has '@') gets only the scheme added when missing.
func RoomURI(name, domain string) string {
	if strings.Contains(name, "@") {
		if strings.HasPrefix(strings.ToLower(name), "sip:") || strings.HasPrefix(strings.ToLower(name), "sips:") {
			return name
		}
		return "sip:" + name
	}
	return "sip:" + name + "@conf." + domain
}
