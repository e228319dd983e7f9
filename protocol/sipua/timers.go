package sipua

import (
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Timers are the SIP transaction timers (RFC 3261 section 17) that decide how a
// load run behaves: T1, T2 and T4, from which sipgo derives the others, and
// Timer J and Timer K, which set how long a finished transaction lingers to
// absorb retransmissions. It is a plain value.
//
// Timer J is the one that costs memory: every UDP request this process answers
// (each chat line copy a user receives) leaves a server transaction behind for
// Timer J, 64*T1 = 32 s by default, about 3.9 KiB each. At thousands of copies
// per second that is hundreds of MiB to GiBs. A shorter Timer J frees them
// sooner; the price is that a peer's retransmission arriving after it (the
// peer lost our 200 and retransmits at T1, 2*T1, ... up to T2) is taken as a
// new request and handed on again, a duplicate delivery.
//
// Timer K is kept for completeness: sipgo v1.7.3 sets it but never reads it (a
// non-INVITE client transaction lingers for Timer D instead, and sipgo's
// Client.Do, which this package uses, terminates the transaction as soon as the
// final response arrives, so nothing lingers on the sending side).
type Timers struct {
	// T1 is the round-trip estimate: the first retransmission interval over
	// UDP, and the base of Timers B, F, H, J, L, M (64*T1). RFC 3261: 500 ms.
	T1 time.Duration
	// T2 caps the retransmission interval of non-INVITE requests. RFC: 4 s.
	T2 time.Duration
	// T4 is the longest a message stays in the network (Timer I). RFC: 5 s.
	T4 time.Duration
	// TimerJ (sipgo's sip.Timer_J) is how long a UDP non-INVITE server
	// transaction lingers after its final response. RFC: 64*T1.
	TimerJ time.Duration
	// TimerK (sipgo's sip.Timer_K) is how long a UDP non-INVITE client
	// transaction would linger after its final response. RFC: T4.
	TimerK time.Duration
}

// maxT1 and maxTimer bound the timers: anything longer is a unit mistake
// ("500" read as seconds), not a SIP setting.
const (
	maxT1    = 10 * time.Second
	maxTimer = 10 * time.Minute
)

// DefaultTimers returns the RFC 3261 values: T1 500 ms, T2 4 s, T4 5 s, Timer J
// 64*T1 = 32 s, Timer K = T4. It is a pure function.
func DefaultTimers() Timers {
	return Timers{
		T1:     500 * time.Millisecond,
		T2:     4 * time.Second,
		T4:     5 * time.Second,
		TimerJ: 32 * time.Second,
		TimerK: 5 * time.Second,
	}
}

// withDefaults fills zero fields: T1, T2, T4 with the RFC values, Timer J with
// 64*T1 and Timer K with T4 (of the filled values).
func (t Timers) withDefaults() Timers {
	d := DefaultTimers()
	if t.T1 == 0 {
		t.T1 = d.T1
	}
	if t.T2 == 0 {
		t.T2 = max(d.T2, t.T1)
	}
	if t.T4 == 0 {
		t.T4 = d.T4
	}
	if t.TimerJ == 0 {
		t.TimerJ = 64 * t.T1
	}
	if t.TimerK == 0 {
		t.TimerK = t.T4
	}
	return t
}

// Validate reports the first problem with t, after zero fields are given their
// defaults as SetTimers does: a negative timer, T1 over 10 s, another timer
// over 10 minutes, or T2 below T1. It is a pure function.
func (t Timers) Validate() error {
	t = t.withDefaults()
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"T1", t.T1}, {"T2", t.T2}, {"T4", t.T4}, {"Timer J", t.TimerJ}, {"Timer K", t.TimerK}} {
		if f.v < 0 {
			return fmt.Errorf("sip timer %s is negative (%s)", f.name, f.v)
		}
		limit := maxTimer
		if f.name == "T1" {
			limit = maxT1
		}
		if f.v > limit {
			return fmt.Errorf("sip timer %s %s: want at most %s", f.name, f.v, limit)
		}
	}
	if t.T2 < t.T1 {
		return fmt.Errorf("sip timer T2 %s is below T1 %s", t.T2, t.T1)
	}
	return nil
}

// String shows the timers for reports and logs: "t1=500ms t2=4s t4=5s
// timer_j=32s timer_k=5s". It is a pure function.
func (t Timers) String() string {
	return fmt.Sprintf("t1=%s t2=%s t4=%s timer_j=%s timer_k=%s", t.T1, t.T2, t.T4, t.TimerJ, t.TimerK)
}

// LoadTimers returns the timers in force (sipgo's process-wide values). Like
// SetTimers it must not run concurrently with SetTimers.
func LoadTimers() Timers {
	return Timers{T1: sip.T1, T2: sip.T2, T4: sip.T4, TimerJ: sip.Timer_J, TimerK: sip.Timer_K}
}

// SetTimers validates t and makes it sipgo's timers: sip.SetTimers(T1, T2, T4)
// derives Timers A to M from them, and Timer J and Timer K are then set as
// given. Zero fields take their defaults (see Validate), so
// SetTimers(Timers{TimerJ: 2 * time.Second}) only shortens the linger of server
// transactions. On error nothing is changed.
//
// The timers are process-wide (sipgo keeps them in package variables, read
// without synchronization), so SetTimers applies to every UA, client and
// server in the process, the embedded server's included. It must be called
// once at start-up, before any UA (or any other sipgo user) exists: changing
// them while transactions run is a data race. sipgo reads them when it creates
// a transaction (Timers A, B, D on a client transaction; G, I, J on a server
// transaction), so a value set later would apply to new transactions only; T2
// and Timers H, L, M are read while transactions run, which is why "later" is
// not an option. Not safe for concurrent use.
func SetTimers(t Timers) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t = t.withDefaults()
	sip.SetTimers(t.T1, t.T2, t.T4)
	sip.Timer_J = t.TimerJ
	sip.Timer_K = t.TimerK
	return nil
}
