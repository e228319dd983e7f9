//go:build unix && !linux

package main

import "syscall"

// childSysProcAttr: the embedded server's child process (embedded.go) gets its
// own process group, so that a Ctrl-C at the terminal reaches only the
// generator. Without Pdeathsig here, its stdin pipe ending stops it when the
// generator dies.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// childFilesByFD: the child's --stats and --tls-cert-out are /dev/fd/3 and 4,
// unlinked files it inherits (Linux opens /dev/fd/N of a regular file anew).
const childFilesByFD = false
