package server

import (
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// Stats is a snapshot of the server's counters. It is a plain value; the JSON field
// names are part of the `chatload serve --stats` contract.
type Stats struct {
	// Requests counts received requests by method (retransmissions absorbed by
	// transactions are not counted); methods never seen are left out, and
	// methods outside the usual set are counted as "OTHER".
	Requests map[string]uint64 `json:"requests"`

	RegistersOK    uint64 `json:"registers_ok"`    // bindings added or refreshed
	Unregisters    uint64 `json:"unregisters"`     // bindings removed (Expires: 0)
	AuthChallenges uint64 `json:"auth_challenges"` // 401/407 sent, stale ones included
	AuthFailures   uint64 `json:"auth_failures"`   // wrong password, unknown user, auth user mismatch

	Joins  uint64 `json:"joins"`  // members added by #join
	Leaves uint64 `json:"leaves"` // members removed by #exit/#leave
	Lines  uint64 `json:"lines"`  // chat lines accepted (answered 200) for fan-out

	// Copies of chat lines. Each line owes one copy to each other member. A copy to
	// a member with no live registration counts in CopiesUnregistered (no fault is
	// decided for it); for the others fault injection decides first: dropped ones
	// count in FaultDropped and are never sent. CopiesSent counts copy requests
	// handed to the transport, the extra ones of duplication included; each ends
	// in exactly one of CopiesOK and CopiesFailed. So, once every copy sent has
	// been answered, and unless the server closed meanwhile (copies held by Delay
	// or waiting for a pending slot then are counted nowhere):
	//
	//	copies owed = CopiesUnregistered + FaultDropped + CopiesSent - FaultDuplicated
	//	CopiesSent  = CopiesOK + CopiesFailed
	//
	// When CopiesUnregistered and CopiesFailed are 0, the members received exactly
	// the copies owed minus FaultDropped plus FaultDuplicated: a load tool that
	// lost nothing else counts lost == FaultDropped and duplicated ==
	// FaultDuplicated.
	CopiesSent         uint64 `json:"copies_sent"`         // copy requests sent to a registered member, extra (duplicate) ones included
	CopiesOK           uint64 `json:"copies_ok"`           // of those, answered 2xx
	CopiesFailed       uint64 `json:"copies_failed"`       // answered non-2xx, timed out or not sendable
	CopiesUnregistered uint64 `json:"copies_unregistered"` // not sent: the member has no live registration (no fault decided)

	NoticesSent         uint64 `json:"notices_sent"` // notifications (joined, left, lists, ...) sent
	NoticesOK           uint64 `json:"notices_ok"`
	NoticesFailed       uint64 `json:"notices_failed"`
	NoticesUnregistered uint64 `json:"notices_unregistered"`

	Relays       uint64 `json:"relays"`        // user-to-user MESSAGEs relayed to a registered contact
	RelaysOK     uint64 `json:"relays_ok"`     // answered 2xx by the callee
	RelaysFailed uint64 `json:"relays_failed"` // non-2xx, timeout or send error

	// Fault injection (Config.Faults); all zero without it.
	FaultDropped    uint64 `json:"fault_dropped"`    // copies not sent by Drop (not in copies_sent)
	FaultDuplicated uint64 `json:"fault_duplicated"` // extra copies sent by Dup, one per duplicated copy (also in copies_sent)
	FaultDelayed    uint64 `json:"fault_delayed"`    // copy requests sent after being held by Delay/Jitter, extra ones included (also in copies_sent)
	FaultStalls     uint64 `json:"fault_stalls"`     // stall windows that held at least one line
}

// numMethods is the number of request counters: the methods of methodName, then "OTHER".
const numMethods = 15

func methodName(i int) string {
	return [numMethods]string{"REGISTER", "MESSAGE", "OPTIONS", "INVITE", "ACK", "CANCEL", "BYE",
		"SUBSCRIBE", "NOTIFY", "REFER", "INFO", "PRACK", "UPDATE", "PUBLISH", "OTHER"}[i]
}

func methodIndex(m sip.RequestMethod) int {
	for i := range numMethods - 1 {
		if string(m) == methodName(i) {
			return i
		}
	}
	return numMethods - 1
}

// counters are the live counters behind Stats. Safe for concurrent use.
type counters struct {
	requests [numMethods]atomic.Uint64

	registersOK, unregisters, authChallenges, authFailures atomic.Uint64
	joins, leaves, lines                                   atomic.Uint64
	copiesSent, copiesOK, copiesFailed, copiesUnregistered atomic.Uint64
	noticesSent, noticesOK, noticesFailed, noticesUnreg    atomic.Uint64
	relays, relaysOK, relaysFailed                         atomic.Uint64
	faultDropped, faultDuplicated, faultDelayed            atomic.Uint64
	faultStalls                                            atomic.Uint64
}

func (c *counters) request(m sip.RequestMethod) { c.requests[methodIndex(m)].Add(1) }

func (c *counters) snapshot() Stats {
	s := Stats{Requests: map[string]uint64{}}
	for i := range c.requests {
		n := c.requests[i].Load()
		if n == 0 {
			continue
		}
		s.Requests[methodName(i)] = n
	}
	s.RegistersOK = c.registersOK.Load()
	s.Unregisters = c.unregisters.Load()
	s.AuthChallenges = c.authChallenges.Load()
	s.AuthFailures = c.authFailures.Load()
	s.Joins = c.joins.Load()
	s.Leaves = c.leaves.Load()
	s.Lines = c.lines.Load()
	s.CopiesSent = c.copiesSent.Load()
	s.CopiesOK = c.copiesOK.Load()
	s.CopiesFailed = c.copiesFailed.Load()
	s.CopiesUnregistered = c.copiesUnregistered.Load()
	s.NoticesSent = c.noticesSent.Load()
	s.NoticesOK = c.noticesOK.Load()
	s.NoticesFailed = c.noticesFailed.Load()
	s.NoticesUnregistered = c.noticesUnreg.Load()
	s.Relays = c.relays.Load()
	s.RelaysOK = c.relaysOK.Load()
	s.RelaysFailed = c.relaysFailed.Load()
	s.FaultDropped = c.faultDropped.Load()
	s.FaultDuplicated = c.faultDuplicated.Load()
	s.FaultDelayed = c.faultDelayed.Load()
	s.FaultStalls = c.faultStalls.Load()
	return s
}
