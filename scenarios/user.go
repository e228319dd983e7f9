// Package scenarios holds what a run is made of: users, rooms, built-in scenarios,
// scenario files and the pure math of pacing and assignment. It does no I/O on the
// network and never reads the clock.
package scenarios

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// User is one account chatload logs on. Its String and GoString never show the password.
type User struct {
	URI      string // address of record, "sip:user0001@example.test"
	AuthUser string // digest username; empty means the user part of URI
	Password string
}

// Username returns the digest username: AuthUser, else the user part of the URI.
func (u User) Username() string {
	if u.AuthUser != "" {
		return u.AuthUser
	}
	return UserPart(u.URI)
}

// String shows the user without its password.
func (u User) String() string {
	if u.AuthUser != "" && u.AuthUser != UserPart(u.URI) {
		return u.URI + " (auth " + u.AuthUser + ")"
	}
	return u.URI
}

// GoString keeps %#v from printing the password.
func (u User) GoString() string {
	return fmt.Sprintf("scenarios.User{URI:%q, AuthUser:%q, Password:<redacted>}", u.URI, u.AuthUser)
}

// UserPart returns the user part of a SIP URI ("sip:alice@host;x" -> "alice"), or
// the whole string without scheme when it has no '@'.
func UserPart(uri string) string {
	s := stripScheme(uri)
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}

// HostPart returns the host part of a SIP URI without port or parameters
// ("sip:alice@example.test:5060;transport=tcp" -> "example.test").
func HostPart(uri string) string {
	s := stripScheme(uri)
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, ";?>"); i >= 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i >= 0 {
			return s[:i+1]
		}
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}

func stripScheme(uri string) string {
	s := strings.TrimSpace(uri)
	s = strings.TrimPrefix(s, "<")
	for _, p := range []string{"sip:", "sips:", "SIP:", "SIPS:"} {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

// NormalizeURI returns uri with a "sip:" scheme when it has none.
func NormalizeURI(uri string) string {
	s := strings.TrimSpace(uri)
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:") {
		return s
	}
	return "sip:" + s
}

// ParseUsers reads a users file: CSV with the header "uri,username,password";
// blank lines and lines starting with '#' are skipped. A bad line is an error naming
// name:line. Passwords never appear in its errors.
func ParseUsers(name string, r io.Reader) ([]User, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var users []User
	header := false
	seen := map[string]int{}
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if !header {
			if len(fields) != 3 || !strings.EqualFold(fields[0], "uri") ||
				!strings.EqualFold(fields[1], "username") || !strings.EqualFold(fields[2], "password") {
				return nil, fmt.Errorf("%s:%d: want the header line \"uri,username,password\"", name, ln)
			}
			header = true
			continue
		}
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s:%d: want 3 fields (uri,username,password), got %d", name, ln, len(fields))
		}
		// A password may itself contain commas: everything after the second comma is it.
		pw := strings.Join(fields[2:], ",")
		uri := fields[0]
		// The file is plain comma-separated: a quote in the URI or user name is a CSV
		// quoting mistake (it would end up in the URI), not part of them.
		for i, col := range []string{"uri", "username"} {
			if strings.ContainsRune(fields[i], '"') {
				return nil, fmt.Errorf("%s:%d: %s %q contains a quote: the users file is plain comma-separated, without quoting", name, ln, col, fields[i])
			}
		}
		if uri == "" || !strings.Contains(uri, "@") {
			return nil, fmt.Errorf("%s:%d: uri %q is not a SIP URI (want sip:user@domain)", name, ln, uri)
		}
		uri = NormalizeURI(uri)
		if pw == "" {
			return nil, fmt.Errorf("%s:%d: empty password for %s", name, ln, uri)
		}
		if prev, ok := seen[strings.ToLower(uri)]; ok {
			return nil, fmt.Errorf("%s:%d: %s already given on line %d", name, ln, uri, prev)
		}
		seen[strings.ToLower(uri)] = ln
		users = append(users, User{URI: uri, AuthUser: fields[1], Password: pw})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !header {
		return nil, fmt.Errorf("%s: no header line \"uri,username,password\"", name)
	}
	return users, nil
}

// SameURI compares SIP URIs loosely (scheme and case), enough to recognize a run's
// own user as --to. It is a pure function.
func SameURI(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "<>"))
		s = strings.TrimPrefix(strings.TrimPrefix(s, "sips:"), "sip:")
		return strings.ToLower(s)
	}
	return a != "" && b != "" && norm(a) == norm(b)
}
