package scenarios

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	in := "# test users\nuri,username,password\n\nsip:a@x.test,,pa\nb@x.test,bauth,p,b\n"
	us, err := ParseUsers("u.csv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 {
		t.Fatalf("got %d users; want 2", len(us))
	}
	if got, want := us[0].Username(), "a"; got != want {
		t.Errorf("Username = %q; want %q (user part when username empty)", got, want)
	}
	if got, want := us[1].URI, "sip:b@x.test"; got != want {
		t.Errorf("URI = %q; want %q (scheme added)", got, want)
	}
	if got, want := us[1].Password, "p,b"; got != want {
		t.Errorf("Password = %q; want %q (commas kept)", got, want)
	}
}

func TestParseUsersErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"sip:a@x,,p\n", "u.csv:1: want the header"},                      // no header
		{"uri,username,password\nsip:a@x,,\n", "u.csv:2: empty password"}, // no password
		{"uri,username,password\nnot-a-uri,,p\n", "u.csv:2: uri"},         // no @
		{"uri,username,password\n\na@x,,p\na@x,,q\n", "u.csv:4: sip:a@x already given on line 3"},
		{"uri,username,password\na@x\n", "u.csv:2: want 3 fields"},
		{"", "no header"},
	}
	for _, c := range cases {
		_, err := ParseUsers("u.csv", strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseUsers(%q) error = %v; want containing %q", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "q\n") {
			t.Errorf("error shows a password: %v", err)
		}
	}
}

func TestUserNeverPrintsPassword(t *testing.T) {
	u := User{URI: "sip:a@x", AuthUser: "other", Password: "s3cret"}
	for _, s := range []string{fmt.Sprint(u), fmt.Sprintf("%v %+v %#v %s", u, u, u, u)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("formatted user shows password: %s", s)
		}
	}
}

func TestURIParts(t *testing.T) {
	cases := []struct{ in, user, host string }{
		{"sip:alice@example.test", "alice", "example.test"},
		{"<sip:alice@example.test:5060;transport=tcp>", "alice", "example.test"},
		{"bob@[::1]:5090", "bob", "[::1]"},
		{"sip:room001@conf.example.test", "room001", "conf.example.test"},
	}
	for _, c := range cases {
		if got := UserPart(c.in); got != c.user {
			t.Errorf("UserPart(%q) = %q; want %q", c.in, got, c.user)
		}
		if got := HostPart(c.in); got != c.host {
			t.Errorf("HostPart(%q) = %q; want %q", c.in, got, c.host)
		}
	}
}
