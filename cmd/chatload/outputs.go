package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// checkOutputPath checks, before any work, that a file can be written at path: not
// a directory, in a directory that exists and takes new files (tried with a temporary
// file, removed at once), and writable when it exists. A soak must not lose its report
// to a typo found only at the end. "-" (standard output) passes. Errors are usage
// errors naming the flag.
func checkOutputPath(flag, path string) error {
	if path == "" || path == "-" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return usageErr("%s %s: is a directory; want a file name", flag, path)
		}
		fh, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return usageErr("%s %s: cannot be written: %v", flag, path, unwrapPath(err))
		}
		return fh.Close()
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return usageErr("%s %s: directory %s: %v", flag, path, dir, unwrapPath(err))
	} else if !fi.IsDir() {
		return usageErr("%s %s: %s is not a directory", flag, path, dir)
	}
	fh, err := os.CreateTemp(dir, ".chatload-check-*")
	if err != nil {
		return usageErr("%s %s: cannot create files in %s: %v", flag, path, dir, unwrapPath(err))
	}
	name := fh.Name()
	fh.Close()
	os.Remove(name)
	return nil
}

// unwrapPath drops the *PathError's repetition of the path.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%w", pe.Err)
	}
	return err
}
