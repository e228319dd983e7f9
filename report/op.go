package report

import (
	"fmt"
	"strings"
)

// Op identifies a measured operation. Its names (String) are the JSON report's
// operation keys. An Op is a plain value, safe for concurrent use.
type Op uint8

// The measured operations, in the order tables list them. Op values are constants,
// safe for concurrent use.
const (
	// OpRegister is a log-on (SIP REGISTER with its digest round trips).
	OpRegister Op = iota
	// OpJoin is joining a room.
	OpJoin
	// OpSend is posting a chat line: post -> the server's final response.
	OpSend
	// OpDelivery is one received copy: intended post time -> received, per receiver.
	OpDelivery
	// OpIdleDelivery is the copies of OpDelivery received by idle members: in
	// a room, members who never post there (a population's lurkers). Its
	// records are a subset of OpDelivery's, made by RecordSubset: its lost
	// copies are errors here, while their failure class is tallied once, under
	// OpDelivery.
	OpIdleDelivery
	// OpHistory is fetching a room's history.
	OpHistory
	// OpLeave is leaving a room.
	OpLeave
	// OpUnregister is a log-off.
	OpUnregister
	// OpCycle is one whole iteration of a looping scenario (pair-cycle).
	OpCycle
	// OpReconnect is logging a user on again and re-joining its rooms after the
	// target lost them (a server restart): one attempt.
	OpReconnect

	// NumOps is the number of operations; valid Ops are below it.
	NumOps
)

var opNames = [NumOps]string{
	OpRegister: "register", OpJoin: "join", OpSend: "send", OpDelivery: "delivery",
	OpIdleDelivery: "delivery-idle",
	OpHistory:      "history", OpLeave: "leave", OpUnregister: "unregister", OpCycle: "cycle",
	OpReconnect: "reconnect",
}

// String returns the operation's report key ("register", "join", ...). It is safe
// for concurrent use.
func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// ParseOp returns the operation named s (a report key). It is safe for concurrent use.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("unknown operation %q (known: %s)", s, strings.Join(opNames[:], ", "))
}
