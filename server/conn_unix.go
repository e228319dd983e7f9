//go:build unix

package server

import "syscall"

// autoMaxConnections is the per-listener cap when Config.MaxConnections is 0:
// what the file limit leaves after fdReserve, at least 16.
func autoMaxConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 16
	}
	return max(int(rl.Cur)-fdReserve, 16)
}
