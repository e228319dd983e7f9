package sipua

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// targetConn is the UA's UDP socket, connected to the target.
//
// Why connected: Linux reports an ICMP port/host unreachable only to a connected
// UDP socket (an unconnected one, which is what sipgo listens on, never learns of
// it), so a closed target port would look like a silent server and cost the whole
// transaction timeout. Connected, the refusal arrives within a millisecond and
// fails the transactions in flight as Transport errors. The price is that only
// the target can reach this socket, which is what an outbound-proxy client wants
// anyway: every request goes to the target, and the target sends the copies.
//
// It adapts the connected socket to what sipgo's UDP transport calls: ReadFrom
// swallows the asynchronous ICMP errors (sipgo would otherwise close the socket
// on the first read error) and reports them through refused; WriteTo writes to
// the connected peer.
type targetConn struct {
	*net.UDPConn
	rc      syscall.RawConn // for sysRead and sysWrite
	batch   *batchScratch   // sysWriteBatch's, made on first use
	rd      *rawOp          // sysRead's (Linux), made on first use
	peer    net.Addr        // the target: every datagram comes from it
	refused func(syscall.Errno)
	// intercept, when set before serving starts, sees every datagram read
	// first and reports whether it consumed it (a response to one of the UA's
	// own transactions, an incoming MESSAGE or OPTIONS): sipgo then never
	// sees it.
	intercept func([]byte) bool
	// trace, when set before serving starts, records every datagram.
	trace         *Trace
	local, remote string

	readyOnce sync.Once
	ready     chan struct{} // closed on the first ReadFrom: sipgo has pooled the socket
}

func newTargetConn(c *net.UDPConn, refused func(syscall.Errno)) (*targetConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &targetConn{
		UDPConn: c,
		rc:      rc,
		peer:    c.RemoteAddr(),
		refused: refused,
		ready:   make(chan struct{}),
	}, nil
}

// ReadFrom implements net.PacketConn.
func (c *targetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	// sipgo's UDP Serve adds the socket to its connection pool and then starts
	// reading: the first call means requests can now find the socket.
	c.readyOnce.Do(func() { close(c.ready) })
	for {
		n, err := c.sysRead(b)
		if err != nil {
			if errno, ok := icmpErrno(err); ok {
				c.refused(errno)
				continue
			}
			return 0, nil, err
		}
		if c.trace != nil {
			c.trace.Record(false, "UDP", c.local, c.remote, b[:n])
		}
		if c.intercept != nil && c.intercept(b[:n]) {
			continue
		}
		return n, c.peer, nil
	}
}

// WriteTo implements net.PacketConn. Everything goes to the one peer: the
// target is the only party this UA talks to, and a response whose Via names
// another port (a server behind NAT) still belongs to the target that sent the
// request, which is where rport would send it too.
//
// The trace records a datagram before it is written, as the batched writes do:
// recorded after, a writer preempted between the two could see the answer to
// its datagram, and the request that answer makes (a challenged request sent
// again with credentials), recorded first.
func (c *targetConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	if c.trace != nil {
		c.trace.Record(true, "UDP", c.local, c.remote, b)
	}
	n, err := c.sysWrite(b)
	if err != nil {
		c.noteErr(err)
	}
	return n, err
}

// noteErr reports a write error that is an ICMP refusal as one.
func (c *targetConn) noteErr(err error) {
	if errno, ok := icmpErrno(err); ok {
		c.refused(errno)
	}
}

// write sends b to the target (the UA's own transactions).
func (c *targetConn) write(b []byte) error {
	_, err := c.WriteTo(b, nil)
	return err
}

// icmpErrno reports whether err is an asynchronous ICMP error on the socket.
func icmpErrno(err error) (syscall.Errno, bool) {
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN} {
		if errors.Is(err, e) {
			return e, true
		}
	}
	return 0, false
}
