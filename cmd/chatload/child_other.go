//go:build !unix

package main

import "syscall"

// childSysProcAttr: nothing special; the embedded server's child process
// (embedded.go) stops when its stdin pipe ends, the generator gone.
func childSysProcAttr() *syscall.SysProcAttr { return nil }

// childFilesByFD: the child's --stats and --tls-cert-out are /dev/fd/3 and 4,
// unlinked files it inherits (Linux opens /dev/fd/N of a regular file anew).
const childFilesByFD = false
