package sipua

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/engine"
)

// echoUAS answers every request datagram with a 200 built from its Via, From,
// To, Call-ID and CSeq lines, allocating nothing per request: a benchmark's
// allocations are then the client's. It stops when the test ends.
func echoUAS(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	_ = pc.(*net.UDPConn).SetReadBuffer(4 << 20)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in := make([]byte, 65535)
		out := make([]byte, 0, 2048)
		keep := [][]byte{[]byte("Via:"), []byte("From:"), []byte("To:"), []byte("Call-ID:"), []byte("CSeq:")}
		for {
			n, addr, err := pc.ReadFrom(in)
			if err != nil {
				return
			}
			out = append(out[:0], "SIP/2.0 200 OK\r\n"...)
			for _, line := range bytes.Split(in[:n], []byte("\r\n")) {
				if len(line) == 0 {
					break
				}
				for _, k := range keep {
					if bytes.HasPrefix(line, k) {
						out = append(append(out, line...), "\r\n"...)
					}
				}
			}
			out = append(out, "Content-Length: 0\r\n\r\n"...)
			_, _ = pc.WriteTo(out, addr)
		}
	}()
	b.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// BenchmarkDoAsync is the load engine's hot path in this package: MESSAGEs
// started with DoAsync and Hold, 16 per Flush as the pacer does at 16,000/s,
// against echoUAS, each batch answered before the next starts (an unpaced
// flood would overrun the UAS and time retransmissions instead). allocs/op
// are the client's but for echoUAS's 3; cpu-ns/op is the process's CPU per
// MESSAGE, the UAS's included; the CPU profile tells the two apart.
//
//	go test -run '^$' -bench DoAsync -benchmem -cpuprofile cpu.out ./protocol/sipua/
func BenchmarkDoAsync(b *testing.B) {
	ua, err := New(Config{Target: echoUAS(b), Transport: "udp", Timeout: 5 * time.Second, UserAgent: "chatload/bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ua.Close() })
	a, err := ua.NewAccount("sip:alice@example.test", "alice", "x", nil)
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Method: sip.MESSAGE, URI: sip.Uri{Scheme: "sip", User: "service", Host: "example.test"},
		ContentType: "text/plain", Body: bytes.Repeat([]byte("x"), 64), Hold: true}
	var wg sync.WaitGroup
	var failed sync.Once
	done := func(_ *sip.Response, err error) {
		if err != nil {
			failed.Do(func() { b.Error(err) })
		}
		wg.Done()
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, _ := engine.ProcessCPU()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		a.DoAsync(ctx, "send", req, done)
		if i%16 == 15 {
			ua.Flush()
			wg.Wait()
		}
	}
	ua.Flush()
	wg.Wait()
	cpu1, _ := engine.ProcessCPU()
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDialogRequest: building one in-dialog INFO of an endpoint account
// with a GRUU Contact and a one-hop route set, as the xccos driver sends
// every command and chat line.
func BenchmarkDialogRequest(b *testing.B) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	ua, err := New(Config{Target: pc.LocalAddr().String(), Transport: "udp", UserAgent: "chatload/bench", Endpoint: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ua.Close()
	a, err := ua.NewAccount("sip:alice@example.test", "alice", "pw", nil)
	if err != nil {
		b.Fatal(err)
	}
	var g, rr, target sip.Uri
	_ = sip.ParseUri("sip:alice@example.test;opaque=user:epid:4uEG_XMJWDmLIwPVi0WUDw;gruu", &g)
	_ = sip.ParseUri("sip:127.0.0.1:5061;transport=tls;lr", &rr)
	_ = sip.ParseUri("sip:GC-1-PersistentChatService-1@example.test", &target)
	a.setGRUU(&g)
	d := newDialog(a, "call-1", "tag-1", target, target, "rtag", "", []sip.Uri{rr}, 1)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = d.request(sip.INFO, 2, "", nil)
	}
}

// BenchmarkRefresh is an idle population's only work: registration refreshes,
// taken off the Registrar's queue in batches of 64 (the refreshes falling due
// within refreshBatch of each other), held and flushed together on one UDP
// socket and completed on its reader, against echoUAS. An op is one refresh;
// cpu-ns/op is the process's CPU per refresh, the UAS's included.
//
//	go test -run '^$' -bench Refresh -benchmem -cpuprofile cpu.out ./protocol/sipua/
func BenchmarkRefresh(b *testing.B) {
	const users, batch = 1024, 64
	ua, err := New(Config{Target: echoUAS(b), Transport: "udp", Timeout: 5 * time.Second, UserAgent: "chatload/bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ua.Close() })
	ua.sendNow = false // a shared socket's: requests held for Flush
	var wg sync.WaitGroup
	r := &Registrar{Expires: time.Hour, Timeout: 5 * time.Second,
		Registered: func(*Account, *sip.Response) { wg.Done() }}
	regs := make([]*Registration, users)
	for i := range regs {
		a, err := ua.NewAccount(fmt.Sprintf("sip:u%04d@example.test", i), fmt.Sprintf("u%04d", i), "x", nil)
		if err != nil {
			b.Fatal(err)
		}
		regs[i] = r.NewRegistration(a)
		wg.Add(1)
		if _, err := regs[i].Register(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, g := range regs {
			g.Stop()
		}
	})
	// due makes the next batch of queued refreshes due now.
	due := func(n int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		now := time.Since(r.epoch)
		for i := 0; i < n && i < len(r.queue); i++ {
			r.queue[i].due = now // the heap's first n stay a heap: all equal, all least
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, _ := engine.ProcessCPU()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		due(n)
		wg.Add(n)
		r.refresh()
		wg.Wait()
	}
	cpu1, _ := engine.ProcessCPU()
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
}
