//go:build linux

package sipua

import (
	"net"
	"syscall"
	"unsafe"
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
