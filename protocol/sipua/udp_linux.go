//go:build linux

package sipua

import (
	"net"
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

// sysWrite writes b to the connected socket.
func (c *targetConn) sysWrite(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		n, _, errno = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		return errno != syscall.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Err: errno}
	}
	return int(n), nil
}

// sysRead reads one datagram from the connected socket into b.
func (c *targetConn) sysRead(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		return errno != syscall.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: errno}
	}
	return int(n), nil
}

// batchMax is the most datagrams one sendmmsg takes here.
const batchMax = 64

// batchScratch is sysWriteBatch's reusable headers.
type batchScratch struct {
	msgs [batchMax]unix.Mmsghdr
	iovs [batchMax]unix.Iovec
}

// sysWriteBatch sends bufs to the connected socket with sendmmsg, batchMax at
// a time, and calls failed for each datagram the kernel refused (the call
// then goes on with the next one). Not safe for concurrent use (the scratch
// headers are the conn's): the UA's flush is serialized.
func (c *targetConn) sysWriteBatch(bufs [][]byte, failed func(i int, err error)) {
	if c.batch == nil {
		c.batch = new(batchScratch)
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
		var n uintptr
		var errno syscall.Errno
		err := c.rc.Write(func(fd uintptr) bool {
			n, _, errno = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(k), 0, 0, 0)
			return errno != syscall.EAGAIN
		})
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
