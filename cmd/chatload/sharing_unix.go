//go:build unix

package main

import "syscall"

func systemFileLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= 1<<62 {
		return 0, false
	}
	return uint64(rl.Cur), true
}
