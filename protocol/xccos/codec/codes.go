package codec

import (
	"strconv"

	"github.com/chatload/chatload/report"
)

// Reply codes (resp@code). Only 200 SUCCESS_OK is confirmed on the wire [C]. The
// server's error codes and strings are unknown, so the others are ours [R]: HTTP-like
// numbers named after the Persistent Chat SDK's PersistentChatErrorCode (note §7.2).
// A client should treat every code but 200 as failure and keep the text.
const (
	CodeOK                 = 200 // SUCCESS_OK [C]
	CodeInvalidArgument    = 400 // ERR_INVALID_ARGUMENT: a malformed command (SDK InvalidArgument) [R]
	CodePermission         = 403 // ERR_PERMISSION: not authorized on the room (SDK ErrorPermission) [R]
	CodeNoSuchNode         = 404 // ERR_NO_SUCH_NODE: the room does not exist (SDK NoSuchNode) [R]
	CodeDataCollision      = 409 // ERR_DATA_COLLISION: conflicting update (SDK DataCollision) [R]
	CodeNodeDisabled       = 410 // ERR_NODE_DISABLED: the room is disabled (SDK NodeDisabled) [R]
	CodeLimitExceeded      = 413 // ERR_LIMIT_EXCEEDED: a size or count limit (SDK LimitExceeded) [R]
	CodeDatabaseConnection = 500 // ERR_DATABASE_CONNECTION (SDK DatabaseConnection) [R]; also a rpl without resp [C]
	CodeMsgNotSupported    = 501 // ERR_MSG_NOT_SUPPORTED: unknown command (SDK MsgNotSupported) [R]
)

// StatusText returns the resp text of code ("SUCCESS_OK", "ERR_NO_SUCH_NODE") or ""
// for a code not listed above. It is a pure function.
func StatusText(code int) string {
	switch code {
	case CodeOK:
		return "SUCCESS_OK"
	case CodeInvalidArgument:
		return "ERR_INVALID_ARGUMENT"
	case CodePermission:
		return "ERR_PERMISSION"
	case CodeNoSuchNode:
		return "ERR_NO_SUCH_NODE"
	case CodeDataCollision:
		return "ERR_DATA_COLLISION"
	case CodeNodeDisabled:
		return "ERR_NODE_DISABLED"
	case CodeLimitExceeded:
		return "ERR_LIMIT_EXCEEDED"
	case CodeDatabaseConnection:
		return "ERR_DATABASE_CONNECTION"
	case CodeMsgNotSupported:
		return "ERR_MSG_NOT_SUPPORTED"
	}
	return ""
}

// Meaning returns what code means, for people (a report's Diagnosis), or "" for a
// code not listed above. It is a pure function.
func Meaning(code int) string {
	switch code {
	case CodeOK:
		return "success"
	case CodeInvalidArgument:
		return "the command was malformed"
	case CodePermission:
		return "the user is not authorized on the room"
	case CodeNoSuchNode:
		return "the room does not exist"
	case CodeDataCollision:
		return "the change collided with another"
	case CodeNodeDisabled:
		return "the room is disabled"
	case CodeLimitExceeded:
		return "a size or count limit was exceeded"
	case CodeDatabaseConnection:
		return "the chat server failed, or sent no resp"
	case CodeMsgNotSupported:
		return "the server does not support the command"
	}
	return ""
}

// A ReplyError is a failed command: a rpl whose resp code is not 200 (note §7.1
// COMMAND_FAILED) [C]. It keeps the code and text for a report's Error Message and
// Diagnosis. It is a plain value.
type ReplyError struct {
	Name string // the command ("join")
	Code int
	Text string // resp text as sent; "" when there was none
}

// Error returns "rpl:join 404 ERR_NO_SUCH_NODE (the room does not exist)".
func (e *ReplyError) Error() string {
	s := "rpl:" + e.Name + " " + strconv.Itoa(e.Code)
	if e.Text != "" {
		s += " " + e.Text
	} else {
		s += " without text"
	}
	if m := Meaning(e.Code); m != "" {
		s += " (" + m + ")"
	}
	return s
}

// Class returns the failure class of the reply code: NotFound for 404, Rejected for
// other 4xx and 5xx, Protocol for a code outside them (not a failure status at all).
func (e *ReplyError) Class() report.Class {
	switch {
	case e.Code == CodeNoSuchNode:
		return report.NotFound
	case e.Code >= 400 && e.Code < 600:
		return report.Rejected
	}
	return report.Protocol
}

// Err returns a *ReplyError when r's code is not 200, else nil. It is a pure function.
func (r Reply) Err() error {
	if r.Code == CodeOK {
		return nil
	}
	return &ReplyError{Name: r.Name, Code: r.Code, Text: r.Text}
}
