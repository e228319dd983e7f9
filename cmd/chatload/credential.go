package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// credential is an auth user (optional) and a password, from a credential flag.
type credential struct {
	authUser string
	password string
}

// readCredential resolves a credential flag value (docs/spec/test-serve-run.md, Credentials): prompt,
// env:NAME, file:PATH or [authuser:]password. flag names the flag in errors; who is
// shown at the prompt. Errors never contain the password.
func readCredential(e *env, flag, spec, who string) (credential, error) {
	var raw string
	switch {
	case spec == "":
		return credential{}, fmt.Errorf("%s is required", flag)
	case spec == "prompt":
		p, err := promptPassword(e, who)
		if err != nil {
			return credential{}, fmt.Errorf("%s prompt: %w", flag, err)
		}
		// The prompt asks for the password only: a ':' in it is part of it.
		return credential{password: p}, nil
	case strings.HasPrefix(spec, "env:"):
		name := spec[len("env:"):]
		if name == "" {
			return credential{}, fmt.Errorf("%s env:NAME: no variable name given", flag)
		}
		raw = e.getenv(name)
		if raw == "" {
			return credential{}, fmt.Errorf("%s env:%s: the variable is not set or empty", flag, name)
		}
	case strings.HasPrefix(spec, "file:"):
		path := spec[len("file:"):]
		line, err := firstLine(path)
		if err != nil {
			return credential{}, fmt.Errorf("%s file:%s: %w", flag, path, err)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(e.stderr, "WARNING: credential file %s is readable by group or others (mode %04o); chmod 600 it\n",
				path, fi.Mode().Perm())
		}
		raw = line
		if raw == "" {
			return credential{}, fmt.Errorf("%s file:%s: the first line is empty", flag, path)
		}
	default:
		// Only the literal form takes an auth user, [authuser:]password; from a
		// variable, a file or the prompt the whole value is the password, so that a
		// password with a ':' works there (the auth user: --*-auth-user or the URI).
		c := credential{password: spec}
		if i := strings.IndexByte(spec, ':'); i >= 0 {
			c.authUser, c.password = spec[:i], spec[i+1:]
		}
		if c.password == "" {
			return credential{}, fmt.Errorf("%s: the password is empty", flag)
		}
		return c, nil
	}
	c := credential{password: raw}
	if c.password == "" {
		return credential{}, fmt.Errorf("%s: the password is empty", flag)
	}
	return c, nil
}

func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		// The path is the user's own input; the error names it, not its content.
		return "", errors.Unwrap(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		return strings.TrimRight(sc.Text(), "\r"), nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", nil
}

// promptPassword asks on the terminal without echo, like Get-Credential.
func promptPassword(e *env, who string) (string, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("standard input is not a terminal; use env:NAME or file:PATH in scripts")
	}
	fmt.Fprintf(e.stderr, "Password for %s: ", who)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
