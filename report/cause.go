package report

import (
	"errors"
	"strconv"
)

// CodeKind says what Error.Code is, so that a diagnosis names it without reading
// the error's text.
type CodeKind uint8

const (
	// CodeSIP: Code is a SIP response status (the zero value).
	CodeSIP CodeKind = iota
	// CodeReply: Code is the chat protocol's own reply code (an XCCOS rpl resp code).
	CodeReply
)

// Cause is a condition a protocol driver recognised behind a failure, beyond its
// class and code, that tells an administrator what to fix. It is a closed set: a
// driver sets one on the *Error it returns; diagnosis reads it with CauseOf.
type Cause uint8

const (
	// CauseNone: the driver recognised nothing beyond the class and code.
	CauseNone Cause = iota
	// CauseNoChatServer: the chat service URI reached no chat server, or the server
	// refused the session (Lync's CHAT_SERVER_NOT_FOUND).
	CauseNoChatServer
	// CauseNotChatEnabled: the chat server ended the user's session right after its
	// first command: the user is not enabled for Persistent Chat (Lync's
	// NOT_AUTHORIZED_FOR_PCHAT).
	CauseNotChatEnabled
	// CauseUnresolved: the target's name has no address in DNS (or no DNS server
	// answered).
	CauseUnresolved
	// CauseNotTLS: the target accepted the connection but the TLS handshake failed:
	// a plain (non-TLS) port, or a TLS server refusing this client.
	CauseNotTLS
	// CauseForeignDomain: the server refused the request for a domain it does not
	// serve (403 Not relaying, Forbidden Domain).
	CauseForeignDomain
)

var causeNames = [...]string{CauseNone: "", CauseNoChatServer: "no-chat-server", CauseNotChatEnabled: "not-chat-enabled",
	CauseUnresolved: "unresolved", CauseNotTLS: "not-tls", CauseForeignDomain: "foreign-domain"}

// String returns the cause's stable name ("" for CauseNone).
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "cause(" + strconv.Itoa(int(c)) + ")"
}

// CauseOf returns the cause and code kind of the first *Error in err's chain
// (CauseNone and CodeSIP when there is none). It is nil-safe.
func CauseOf(err error) (Cause, CodeKind) {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Cause, e.CodeKind
	}
	return CauseNone, CodeSIP
}
