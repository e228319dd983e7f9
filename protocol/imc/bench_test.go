package imc_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/server"
)

// The benchmarks measure the load engine's hot path: one Driver over UDP
// carrying concurrent Sends (and the copies they cause) against the embedded
// server in this process. allocs/op and the CPU profile therefore include the
// server's share; `go tool pprof -top` tells them apart (server/ versus
// protocol/ versus sipgo).
//
//	go test -run '^$' -bench Send -benchtime 20000x -cpuprofile cpu.out -memprofile mem.out ./protocol/imc/

// benchBody is a typical chat line (the engine's default message size).
var benchBody = strings.Repeat("x", 64)

// benchTimers shortens Timer J as a load run does (the CLI sets timers at
// start-up): with the RFC's 32 s every copy's server transaction would stay
// for the whole benchmark, and ns/op would grow with b.N.
func benchTimers(b *testing.B) {
	saved := sipua.LoadTimers()
	if err := sipua.SetTimers(sipua.Timers{TimerJ: time.Second}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sipua.SetTimers(saved) })
}

func benchServer(b *testing.B, users int) *server.Server {
	srv, err := server.New(server.Config{Users: server.GeneratedUsers(users, "example.test"), Generated: true, Rooms: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}

func benchDriver(b *testing.B, addr string, noRegister bool) *imc.Driver {
	d, err := imc.New(imc.Config{DriverConfig: sipua.DriverConfig{Target: addr, Transport: "udp", Timeout: 5 * time.Second}, NoRegister: noRegister})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// counter counts deliveries; it never blocks the driver.
type counter struct{ n atomic.Int64 }

func (c *counter) deliver(engine.Delivery) { c.n.Add(1) }

// run sends b.N messages concurrently (GOMAXPROCS goroutines) with send, then
// waits (bounded) for copies*b.N deliveries and reports the missing ones. Besides
// ns/op (wall time, send and delivery included) it reports cpu-ns/op, the
// process's CPU time per op: the work done, which other processes on the
// machine disturb much less than the wall time.
func run(b *testing.B, c *counter, copies int, send func(ctx context.Context, m engine.Message) error) {
	var seq atomic.Int64
	var failed atomic.Int64
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, _ := engine.ProcessCPU()
	defer func() {
		cpu1, _ := engine.ProcessCPU()
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "b" + strconv.FormatInt(seq.Add(1), 10)
			if err := send(ctx, engine.Message{ID: id, Body: benchBody}); err != nil {
				if failed.Add(1) == 1 {
					b.Errorf("send: %v", err)
				}
			}
		}
	})
	want := int64(b.N-int(failed.Load())) * int64(copies)
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for c.n.Load() < want {
		select {
		case <-tick.C:
		case <-deadline.C:
			b.ReportMetric(float64(want-c.n.Load())/float64(b.N), "lost/op")
			return
		}
	}
	b.StopTimer()
}

// BenchmarkSend: posts to a room of 5 members on one Driver; each post is one
// MESSAGE from the sender and 4 copies to the other members.
func BenchmarkSend(b *testing.B) {
	const members = 5
	benchTimers(b)
	srv := benchServer(b, members)
	d := benchDriver(b, srv.Addr("udp"), false)
	tg := target{domain: "example.test"}
	var c counter
	sessions := make([]engine.Session, members)
	for i := range sessions {
		s, err := d.Connect(context.Background(), tg.user(1+i), c.deliver)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Join(context.Background(), "room001"); err != nil {
			b.Fatal(err)
		}
		sessions[i] = s
	}
	c.n.Store(0)
	sender := sessions[0]
	run(b, &c, members-1, func(ctx context.Context, m engine.Message) error {
		return sender.Send(ctx, "room001", m)
	})
}

// BenchmarkSendTo: page mode from one registered user to another through the
// embedded server's relay: per op one MESSAGE out and its relayed copy in.
func BenchmarkSendTo(b *testing.B) {
	benchTimers(b)
	srv := benchServer(b, 2)
	d := benchDriver(b, srv.Addr("udp"), false)
	tg := target{domain: "example.test"}
	var c counter
	sender, err := d.Connect(context.Background(), tg.user(1), nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Connect(context.Background(), tg.user(2), c.deliver); err != nil {
		b.Fatal(err)
	}
	to := tg.user(2).URI
	p := sender.(engine.Pager)
	run(b, &c, 1, func(ctx context.Context, m engine.Message) error { return p.SendTo(ctx, to, m) })
}

// BenchmarkSendToUAS: page mode with NoRegister to a UAS that only answers
// 200 (the message scenario against SIPp): the least the server adds, so the
// driver's own cost shows most.
func BenchmarkSendToUAS(b *testing.B) {
	benchTimers(b)
	u := newUAS(b, false).addr["udp"]
	d := benchDriver(b, u, true)
	s, err := d.Connect(context.Background(), engine.User{URI: "sip:alice@example.test", Password: "x"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := s.(engine.Pager)
	to := fmt.Sprintf("sip:service@%s", u)
	run(b, &counter{}, 0, func(ctx context.Context, m engine.Message) error { return p.SendTo(ctx, to, m) })
}
