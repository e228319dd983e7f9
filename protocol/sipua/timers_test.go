package sipua

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// restoreTimers puts the timers in force now back when the test ends (after
// the cleanups registered later, such as closing the UAs that use them).
func restoreTimers(t *testing.T) {
	t.Helper()
	saved := LoadTimers()
	t.Cleanup(func() {
		if err := SetTimers(saved); err != nil {
			t.Errorf("restoring timers %s: %v", saved, err)
		}
	})
}

func TestTimers(t *testing.T) {
	restoreTimers(t)
	if got, want := LoadTimers(), DefaultTimers(); got != want {
		t.Fatalf("timers in force at start = %s; want the RFC 3261 defaults %s", got, want)
	}
	if got, want := DefaultTimers().String(), "t1=500ms t2=4s t4=5s timer_j=32s timer_k=5s"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}

	custom := Timers{T1: 100 * time.Millisecond, T2: 2 * time.Second, T4: 3 * time.Second, TimerJ: time.Second, TimerK: 500 * time.Millisecond}
	if err := SetTimers(custom); err != nil {
		t.Fatalf("SetTimers(%s): %v", custom, err)
	}
	if got := LoadTimers(); got != custom {
		t.Errorf("LoadTimers() = %s; want %s as set", got, custom)
	}
	// The timers sipgo derives follow T1 and T4; J and K are as given.
	if sip.Timer_A != custom.T1 || sip.Timer_F != 64*custom.T1 || sip.Timer_I != custom.T4 {
		t.Errorf("derived timers A=%s F=%s I=%s; want %s, %s, %s", sip.Timer_A, sip.Timer_F, sip.Timer_I,
			custom.T1, 64*custom.T1, custom.T4)
	}

	cases := []struct {
		name string
		set  Timers
		want Timers // in force afterwards
	}{
		// Zero fields take the RFC values; J follows T1 and K follows T4.
		{"all zero", Timers{}, DefaultTimers()},
		{"only timer J", Timers{TimerJ: 2 * time.Second},
			Timers{T1: 500 * time.Millisecond, T2: 4 * time.Second, T4: 5 * time.Second, TimerJ: 2 * time.Second, TimerK: 5 * time.Second}},
		{"only T1", Timers{T1: 200 * time.Millisecond},
			Timers{T1: 200 * time.Millisecond, T2: 4 * time.Second, T4: 5 * time.Second, TimerJ: 64 * 200 * time.Millisecond, TimerK: 5 * time.Second}},
		{"only T4", Timers{T4: time.Second},
			Timers{T1: 500 * time.Millisecond, T2: 4 * time.Second, T4: time.Second, TimerJ: 32 * time.Second, TimerK: time.Second}},
		// A T1 above the default T2 lifts the defaulted T2 with it.
		{"large T1", Timers{T1: 5 * time.Second}, Timers{T1: 5 * time.Second, T2: 5 * time.Second, T4: 5 * time.Second, TimerJ: 5*time.Minute + 20*time.Second, TimerK: 5 * time.Second}},
	}
	for _, c := range cases {
		if err := SetTimers(c.set); err != nil {
			t.Errorf("%s: SetTimers(%s): %v", c.name, c.set, err)
			continue
		}
		if got := LoadTimers(); got != c.want {
			t.Errorf("%s: in force %s; want %s", c.name, got, c.want)
		}
	}

	if err := SetTimers(custom); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		set  Timers
		says string
	}{
		{"negative T1", Timers{T1: -time.Millisecond}, "T1"},
		{"negative timer J", Timers{TimerJ: -time.Second}, "Timer J"},
		{"T2 below T1", Timers{T1: time.Second, T2: 500 * time.Millisecond}, "T2"},
		{"T1 in the wrong unit", Timers{T1: 500 * time.Second}, "T1"},
		{"timer J beyond ten minutes", Timers{TimerJ: time.Hour}, "Timer J"},
		{"T1 so large that the derived timer J is too", Timers{T1: 10 * time.Second, T2: 10 * time.Second}, "Timer J"},
	}
	for _, c := range bad {
		err := SetTimers(c.set)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: SetTimers(%+v) = %v; want an error naming %s", c.name, c.set, err, c.says)
		}
		if err := c.set.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil", c.name)
		}
		if got := LoadTimers(); got != custom {
			t.Errorf("%s: a refused SetTimers changed the timers to %s", c.name, got)
		}
	}
}

// TestTimerJApplies: a server transaction created after SetTimers lingers for
// the new Timer J: a retransmission within it is absorbed (answered again, not
// handed on), the same request after it is a new request. With the default
// 32 s the second hand-over would never come within the guard.
func TestTimerJApplies(t *testing.T) {
	restoreTimers(t)
	const timerJ = 200 * time.Millisecond
	if err := SetTimers(Timers{TimerJ: timerJ}); err != nil {
		t.Fatal(err)
	}
	// The test is the target: the UA's socket only hears its target.
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	ua := newUA(t, Config{Target: peer.LocalAddr().String(), Transport: "udp", Timeout: time.Second})
	handed := make(chan struct{}, 8)
	if _, err := ua.NewAccount("sip:alice@test.example", "alice", "x", func(*sip.Request) { handed <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	uaAddr, err := net.ResolveUDPAddr("udp", ua.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Appendf(nil, "MESSAGE sip:alice@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-timer-j-test\r\n"+
		"From: <sip:room@conf.test.example>;tag=f1\r\n"+
		"To: <sip:alice@test.example>\r\n"+
		"Call-ID: timer-j-test\r\n"+
		"CSeq: 10 MESSAGE\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Type: text/plain\r\n"+
		"Content-Length: 2\r\n\r\nhi", ua.LocalAddr(), peer.LocalAddr())
	buf := make([]byte, 4096)
	// send sends the request and waits for the UA's 200 (the first answer or the
	// transaction's copy of it).
	send := func(what string) {
		t.Helper()
		if _, err := peer.WriteTo(msg, uaAddr); err != nil {
			t.Fatal(err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(guard))
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%s: no answer: %v", what, err)
		}
		if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			t.Fatalf("%s: answer %q; want 200", what, buf[:min(n, 40)])
		}
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-handed:
		case <-time.After(guard):
			t.Fatalf("%s: not handed to the account within %s", what, guard)
		}
	}

	send("request")
	answered := time.Now()
	wait("request")
	send("retransmission")
	select {
	case <-handed:
		t.Fatal("a retransmission within Timer J was handed on as a new request")
	default:
	}
	// Bounded poll: retransmit until the transaction is gone and the request is
	// new again.
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	tick := time.NewTicker(timerJ / 4)
	defer tick.Stop()
	for {
		select {
		case <-handed:
			if took := time.Since(answered); took < timerJ*3/4 {
				t.Errorf("transaction gone after %s; want about Timer J = %s", took, timerJ)
			}
			return
		case <-tick.C:
			send("retransmission after Timer J")
		case <-deadline.C:
			t.Fatalf("the transaction still absorbs retransmissions after %s; Timer J %s not applied", guard, timerJ)
		}
	}
}
