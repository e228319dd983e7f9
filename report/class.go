// Package report holds what a run measures and how it is told: failure classes,
// latency recorders, summaries and their renderings.
package report

import (
	"errors"
	"fmt"
)

// Class is the closed set of failure classes. Every failure chatload counts falls in
// exactly one class, with the SIP status or protocol reply code kept beside it.
type Class uint8

// The failure classes. Their names (String) are part of the JSON report contract.
const (
	// Other is a failure that fits no other class; seeing it is a bug to fix.
	Other Class = iota
	// Timeout: no final answer within the operation's deadline.
	Timeout
	// Transport: the target could not be reached (refused, unreachable, connection lost).
	Transport
	// Auth: the credentials were refused (challenged again, 403 on auth).
	Auth
	// Rejected: the target answered with a failure status (kept as the code).
	Rejected
	// NotFound: the user or room does not exist on the target.
	NotFound
	// Protocol: the target answered something the protocol does not allow.
	Protocol
	// Lost: a message was not delivered before its delivery deadline.
	Lost
	// Duplicate: a message was delivered more than once to the same receiver.
	Duplicate
	// OutOfOrder: a message arrived after a later one of the same stream.
	OutOfOrder
	// Corrupted: a delivered message failed its payload check.
	Corrupted
	// Dropped: the generator skipped an operation because the in-flight cap was reached.
	Dropped
	// Canceled: the run was stopped before the operation finished.
	Canceled

	numClasses
)

var classNames = [numClasses]string{
	Other: "other", Timeout: "timeout", Transport: "transport", Auth: "auth",
	Rejected: "rejected", NotFound: "not-found", Protocol: "protocol", Lost: "lost",
	Duplicate: "duplicate", OutOfOrder: "out-of-order", Corrupted: "corrupted",
	Dropped: "dropped", Canceled: "canceled",
}

// Classes lists every class in a fixed order (for tables and iteration).
func Classes() []Class {
	cs := make([]Class, numClasses)
	for i := range cs {
		cs[i] = Class(i)
	}
	return cs
}

// String returns the class's stable name as used in reports.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ParseClass returns the class with the given name.
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if n == s {
			return Class(i), nil
		}
	}
	return Other, fmt.Errorf("unknown failure class %q", s)
}

// MarshalText implements encoding.TextMarshaler with the class name.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Class) UnmarshalText(b []byte) error {
	v, err := ParseClass(string(b))
	*c = v
	return err
}

// Error is a classified failure. Errors crossing the protocol boundary are (or wrap)
// an *Error so that the engine can count them by class and code without parsing text.
type Error struct {
	Class    Class
	Code     int      // SIP status or protocol reply code; 0 when there is none
	CodeKind CodeKind // what Code is: a SIP status (the zero value) or a protocol reply code
	Cause    Cause    // a condition the driver recognised, for diagnosis; CauseNone when none
	Op       string   // the operation that failed: register, join, send, leave, unregister, ...
	Detail   string   // what happened, for people: "403 Not A Member Of This Room from 127.0.0.1:5090/udp"
	Err      error    // the underlying cause, if any
}

// Error implements error: "op: detail: cause".
func (e *Error) Error() string {
	s := e.Op
	add := func(p string) {
		if p == "" {
			return
		}
		if s != "" {
			s += ": "
		}
		s += p
	}
	add(e.Detail)
	if e.Err != nil {
		add(e.Err.Error())
	}
	if s == "" {
		s = e.Class.String()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the class for op with a formatted detail.
func Errorf(class Class, op string, code int, format string, args ...any) *Error {
	return &Error{Class: class, Code: code, Op: op, Detail: fmt.Sprintf(format, args...)}
}

// ClassOf returns the class of err: the class of the first *Error in its chain,
// Other when there is none and nil-safe (a nil error is Other too).
func ClassOf(err error) (Class, int) {
	// AsType, not As: As makes its target escape, one allocation per failed op.
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Class, e.Code
	}
	return Other, 0
}
