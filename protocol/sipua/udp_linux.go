//go:build linux

package sipua

import (
	"net"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The UA's socket is read and written with raw system calls on Linux: the Go
// runtime's syscall entry (entersyscall) wakes its sysmon thread whenever
// every P was idle, and sysmon then polls every 20 us for the next
// millisecond. A load generator is idle between the pacer's ticks and makes a
// syscall right after each, so sysmon never backed off: on the 2-vCPU VM it
// was a quarter of chatload's CPU at 4,000 MESSAGEs/s (docs/performance.md).
// A read or write on a non-blocking UDP socket never blocks (EAGAIN instead,
// and then the runtime's poller waits, as for any Go socket), which is the
// condition for a raw system call.

// rawOp is one read or write through RawConn: its callback is bound once, so
// a call allocates nothing (a closure capturing the buffer and results would
// escape on every call).
type rawOp struct {
	sysno uintptr // SYS_READ or SYS_WRITE
	b     []byte
	n     uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newRawOp(sysno uintptr) *rawOp {
	op := &rawOp{sysno: sysno}
	op.fn = op.call
	return op
}

func (op *rawOp) call(fd uintptr) bool {
	op.n, _, op.errno = syscall.RawSyscall(op.sysno, fd, uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)))
	return op.errno != syscall.EAGAIN
}

// result ends a call: the count, or the error of RawConn or of the system call.
func (op *rawOp) result(err error, name string) (int, error) {
	n, errno := int(op.n), op.errno
	op.b = nil
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: name, Net: "udp", Err: errno}
	}
	return n, nil
}

var writeOps = sync.Pool{New: func() any { return newRawOp(syscall.SYS_WRITE) }}

// sysWrite writes b to the connected socket. Safe for concurrent use.
func (c *targetConn) sysWrite(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	op := writeOps.Get().(*rawOp)
	defer writeOps.Put(op)
	op.b = b
	return op.result(c.rc.Write(op.fn), "write")
}

// sysRead reads one datagram from the connected socket into b. Only the one
// reading goroutine (sipgo's UDP reader) calls it.
func (c *targetConn) sysRead(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if c.rd == nil {
		c.rd = newRawOp(syscall.SYS_READ)
	}
	c.rd.b = b
	return c.rd.result(c.rc.Read(c.rd.fn), "read")
}

// batchMax is the most datagrams one sendmmsg takes here.
const batchMax = 64

// batchScratch is sysWriteBatch's reusable headers.
type batchScratch struct {
	msgs  [batchMax]unix.Mmsghdr
	iovs  [batchMax]unix.Iovec
	k     int // messages to send
	n     uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool // call, bound once
}

func (s *batchScratch) call(fd uintptr) bool {
	s.n, _, s.errno = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.msgs[0])), uintptr(s.k), 0, 0, 0)
	return s.errno != syscall.EAGAIN
}

// sysWriteBatch sends bufs to the connected socket with sendmmsg, batchMax at
// a time, and calls failed for each datagram the kernel refused (the call
// then goes on with the next one). Not safe for concurrent use (the scratch
// headers are the conn's): the UA's flush is serialized.
func (c *targetConn) sysWriteBatch(bufs [][]byte, failed func(i int, err error)) {
	if c.batch == nil {
		c.batch = new(batchScratch)
		c.batch.fn = c.batch.call
	}
	msgs, iovs := &c.batch.msgs, &c.batch.iovs
	for done := 0; done < len(bufs); {
		k := min(len(bufs)-done, batchMax)
		for j := range k {
			b := bufs[done+j]
			iovs[j] = unix.Iovec{Base: &b[0]}
			iovs[j].SetLen(len(b))
			msgs[j] = unix.Mmsghdr{Hdr: unix.Msghdr{Iov: &iovs[j]}}
			msgs[j].Hdr.SetIovlen(1)
		}
		c.batch.k = k
		err := c.rc.Write(c.batch.fn)
		n, errno := c.batch.n, c.batch.errno
		clear(iovs[:k]) // no references to sent buffers stay behind
		clear(msgs[:k])
		switch {
		case err != nil: // closed: everything left fails
			for j := done; j < len(bufs); j++ {
				failed(j, err)
			}
			return
		case errno != 0: // the first datagram of this call was refused
			err := &net.OpError{Op: "write", Net: "udp", Err: errno}
			c.noteErr(err)
			failed(done, err)
			done++
		default:
			done += int(n)
		}
	}
}
