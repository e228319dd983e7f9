package engine_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/engine/enginetest"
	"github.com/chatload/chatload/report"
)

const (
	alice = "sip:alice@example.test"
	bob   = "sip:bob@example.test"
	room  = "sip:room001@conf.example.test"
)

func newFake() *enginetest.FakeDriver {
	return &enginetest.FakeDriver{
		Passwords: map[string]string{alice: "pa", bob: "pb"},
		Rooms:     []string{room, "sip:room002@conf.example.test"},
		Latency:   40 * time.Millisecond,
	}
}

func cfg() engine.ProbeConfig {
	return engine.ProbeConfig{
		Sender:   engine.User{URI: alice, Password: "pa"},
		Receiver: engine.User{URI: bob, Password: "pb"},
		Room:     room,
		Timeout:  10 * time.Second,
	}
}

func stepNames(r engine.ProbeResult) []string {
	var ns []string
	for _, s := range r.Steps {
		ns = append(ns, s.Name)
	}
	return ns
}

func TestProbeSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFake()
		r := engine.Probe(t.Context(), d, cfg())
		if !r.Success || r.Err != nil {
			t.Fatalf("Success = %v, Err = %v; want success", r.Success, r.Err)
		}
		want := []string{"logon-sender", "logon-receiver", "join-sender", "join-receiver",
			"send-sender", "delivery-sender", "send-receiver", "delivery-receiver",
			"leave-sender", "leave-receiver", "logoff-sender", "logoff-receiver"}
		if got := stepNames(r); !reflect.DeepEqual(got, want) {
			t.Errorf("steps = %v; want %v", got, want)
		}
		// Two deliveries of 40ms each, nothing else takes time in the fake.
		if r.Latency != 80*time.Millisecond {
			t.Errorf("Latency = %v; want 80ms (two deliveries)", r.Latency)
		}
		for _, s := range r.Steps {
			if s.Name == "delivery-sender" && s.Duration != 40*time.Millisecond {
				t.Errorf("delivery-sender took %v; want 40ms", s.Duration)
			}
		}
	})
}

func TestProbeFindsFirstRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cfg()
		c.Room = ""
		r := engine.Probe(t.Context(), newFake(), c)
		if !r.Success || r.Room != room {
			t.Fatalf("Success = %v, Room = %q, Err = %v; want success in %s", r.Success, r.Room, r.Err, room)
		}
		if got := stepNames(r)[2]; got != "find-room" {
			t.Errorf("third step = %q; want find-room", got)
		}
	})
}

func TestProbeFailures(t *testing.T) {
	cases := []struct {
		name      string
		mutate    func(*engine.ProbeConfig, *enginetest.FakeDriver)
		step      string
		class     report.Class
		wantCalls []string // what was done, teardown included
	}{
		{
			name:   "wrong password of the receiver: the sender is logged off again",
			mutate: func(c *engine.ProbeConfig, d *enginetest.FakeDriver) { c.Receiver.Password = "bad" },
			step:   "logon-receiver", class: report.Auth,
			wantCalls: []string{"connect " + alice, "connect " + bob, "close " + alice},
		},
		{
			name:   "room missing: nobody stays logged on",
			mutate: func(c *engine.ProbeConfig, d *enginetest.FakeDriver) { c.Room = "sip:nope@conf.example.test" },
			step:   "join-sender", class: report.NotFound,
			wantCalls: []string{"connect " + alice, "connect " + bob, "join " + alice + " sip:nope@conf.example.test",
				"close " + alice, "close " + bob},
		},
		{
			name: "message lost: the probe times out at delivery and still leaves and logs off",
			mutate: func(c *engine.ProbeConfig, d *enginetest.FakeDriver) {
				d.Drop = func(engine.Message, string) bool { return true }
			},
			step: "delivery-sender", class: report.Lost,
			wantCalls: []string{"connect " + alice, "connect " + bob, "join " + alice + " " + room,
				"join " + bob + " " + room, "send " + alice + " " + room,
				"leave " + alice + " " + room, "leave " + bob + " " + room, "close " + alice, "close " + bob},
		},
		{
			name: "send refused",
			mutate: func(c *engine.ProbeConfig, d *enginetest.FakeDriver) {
				d.Fail = func(op, user string) error {
					if op == "send" {
						return report.Errorf(report.Rejected, "send", 403, "403 Not A Member Of This Room")
					}
					return nil
				}
			},
			step: "send-sender", class: report.Rejected,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFake()
				pc := cfg()
				c.mutate(&pc, d)
				r := engine.Probe(t.Context(), d, pc)
				if r.Success {
					t.Fatal("Success; want failure")
				}
				if r.FailedStep != c.step {
					t.Errorf("FailedStep = %q; want %q", r.FailedStep, c.step)
				}
				if cl, _ := report.ClassOf(r.Err); cl != c.class {
					t.Errorf("class = %v (%v); want %v", cl, r.Err, c.class)
				}
				if c.wantCalls != nil && !reflect.DeepEqual(d.Calls(), c.wantCalls) {
					t.Errorf("calls = %q\nwant %q", d.Calls(), c.wantCalls)
				}
			})
		})
	}
}

func TestProbeTimeoutBoundsTheTransaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFake()
		d.Latency = time.Hour // never in time
		c := cfg()
		c.Timeout = 3 * time.Second
		r := engine.Probe(t.Context(), d, c)
		if r.Success || r.Latency != 3*time.Second {
			t.Errorf("Success = %v, Latency = %v; want failure after exactly 3s", r.Success, r.Latency)
		}
		if !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Errorf("Err = %v; want it to wrap the deadline", r.Err)
		}
	})
}

func TestProbeConfigValidate(t *testing.T) {
	c := cfg()
	c.Receiver = c.Sender
	if err := c.Validate(); err == nil {
		t.Error("same sender and receiver: want an error")
	}
	if err := cfg().Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
