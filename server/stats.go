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
	AuthFailures   uint64 `json:"auth_failures"`   // wrong password, unknown user, auth user mismatch, refused signatures

	// MS-SIPAE (NTLM, Kerberos; zero when only digest is offered). Every
	// request but OPTIONS that passes the basic checks (well-formed, not
	// rate-limited) counts in exactly one of SignedRequests (its
	// signature and cnum verified), UnsignedRequests (no MS-SIPAE
	// signature: a sign-in's first two legs, digest, a challenged request)
	// and SignatureRefused. An NTLM sign-in costs two unsigned requests
	// (the challenged one and the one asking for the CHALLENGE_MESSAGE), a
	// Kerberos one one, so with NTLM only "every request after sign-in was
	// signed" reads UnsignedRequests == 2*SecurityAssociations.
	SignedRequests       uint64 `json:"signed_requests"`
	UnsignedRequests     uint64 `json:"unsigned_requests"`
	SignatureRefused     uint64 `json:"signature_refused"`     // bad signature or replayed cnum
	SecurityAssociations uint64 `json:"security_associations"` // NTLM/Kerberos sign-ins completed
	SignedSent           uint64 `json:"signed_sent"`           // requests the server sent signed (copies, notices, INFOs, relays)

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

	// Hardening (conn.go, limits.go): what hostile or broken peers cost.
	ConnectionsAccepted uint64 `json:"connections_accepted"`      // tcp and tls connections accepted within the caps
	ConnectionsOpen     uint64 `json:"connections_open"`          // of those, open now
	ConnectionsRejected uint64 `json:"connections_rejected"`      // closed at accept: over --max-connections or the per-address cap
	AcceptErrors        uint64 `json:"accept_errors"`             // failed accepts (out of file descriptors, ...), retried after a backoff
	IdleClosed          uint64 `json:"idle_closed"`               // connections closed after IdleTimeout without traffic
	HandshakeFailed     uint64 `json:"tls_handshakes_failed"`     // tls handshakes that failed or timed out
	MembersDropped      uint64 `json:"members_dropped"`           // connections dropped because the peer did not read (send queue full, write timeout)
	RateLimited         uint64 `json:"rate_limited"`              // unauthenticated requests over the per-source rate, dropped or answered 503
	ParseErrors         uint64 `json:"parse_errors"`              // unparsable messages (datagrams, or streams then closed)
	Oversize            uint64 `json:"oversize_datagrams"`        // UDP datagrams over 32 KiB, dropped
	DialogsOpen         uint64 `json:"dialogs_open"`              // XCCOS dialogs open now
	DialogsRefused      uint64 `json:"dialogs_refused"`           // XCCOS INVITEs refused: the user's dialog cap
	DialogsClosed       uint64 `json:"dialogs_ended_conn_closed"` // XCCOS dialogs ended because their connection closed
	InDialogRefused     uint64 `json:"in_dialog_refused"`         // in-dialog requests not from the dialog's connection or owner
	HistoryErrors       uint64 `json:"history_errors"`            // history store failures (append or read)
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

	connsAccepted, connsOpen, connsRejected, acceptErrors atomic.Uint64
	idleClosed, handshakeFailed, slowDropped              atomic.Uint64
	rateLimited, parseErrors, oversize                    atomic.Uint64
	dialogsOpen, dialogsRefused, dialogsClosed            atomic.Uint64
	inDialogRefused, historyErrors                        atomic.Uint64
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
	s.ConnectionsAccepted = c.connsAccepted.Load()
	s.ConnectionsOpen = c.connsOpen.Load()
	s.ConnectionsRejected = c.connsRejected.Load()
	s.AcceptErrors = c.acceptErrors.Load()
	s.IdleClosed = c.idleClosed.Load()
	s.HandshakeFailed = c.handshakeFailed.Load()
	s.MembersDropped = c.slowDropped.Load()
	s.RateLimited = c.rateLimited.Load()
	s.ParseErrors = c.parseErrors.Load()
	s.Oversize = c.oversize.Load()
	s.DialogsOpen = c.dialogsOpen.Load()
	s.DialogsRefused = c.dialogsRefused.Load()
	s.DialogsClosed = c.dialogsClosed.Load()
	s.InDialogRefused = c.inDialogRefused.Load()
	s.HistoryErrors = c.historyErrors.Load()
	return s
}

// withSIPAE adds the MS-SIPAE counters of st to s.
func (s Stats) withSIPAE(st *sipaeState) Stats {
	s.SignedRequests = st.signed.Load()
	s.UnsignedRequests = st.unsigned.Load()
	s.SignatureRefused = st.refused.Load()
	s.SecurityAssociations = st.handshakes.Load()
	s.SignedSent = st.signedOut.Load()
	return s
}
