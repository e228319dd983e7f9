//go:build !unix

package main

import "syscall"

// childSysProcAttr: nothing special; the embedded server's child process
// (embedded.go) stops when its stdin pipe ends, the generator gone.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
