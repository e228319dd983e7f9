package server

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// BenchmarkConnWrite: 600-byte writes (a copy) to a loopback TCP peer that
// reads everything, straight on the socket vs through guardConn's send queue
// and writer goroutine. The ratio is the cost of the queue on the hot path.
func BenchmarkConnWrite(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		name := "direct"
		if guarded {
			name = "guarded"
		}
		b.Run(name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, c)
			}()
			raw, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			var w net.Conn = raw
			if guarded {
				// A queue the tight loop cannot overrun: this measures its cost, not the drop.
				s := &Server{cfg: Config{SendQueue: 1 << 30, WriteTimeout: DefaultWriteTimeout}, conns: map[string]*guardConn{},
					log: slog.New(slog.DiscardHandler), diags: newDiagLimiter(time.Now)}
				gl := &guardListener{s: s, transport: "tcp", max: 1 << 20, byAddr: map[string]int{}, closed: make(chan struct{})}
				gl.open, gl.byAddr["127.0.0.1"] = 1, 1
				w = s.newGuardConn(raw, gl, "127.0.0.1")
			}
			defer w.Close()
			msg := make([]byte, 600)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
