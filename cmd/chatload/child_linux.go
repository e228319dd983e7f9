package main

import "syscall"

// childSysProcAttr: the embedded server's child process (embedded.go) gets its
// own process group, so that a Ctrl-C at the terminal reaches only the
// generator (which stops the child once its report is drained), and is killed
// by the kernel when the generator's thread that started it ends (the
// generator is killed).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childFilesByFD: the child's --stats and --tls-cert-out are /dev/fd/3 and 4,
// unlinked files it inherits (Linux opens /dev/fd/N of a regular file anew).
const childFilesByFD = true
