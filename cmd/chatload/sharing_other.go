//go:build !unix

package main

func systemFileLimit() (uint64, bool) { return 0, false }
