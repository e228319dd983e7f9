package report

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassNamesRoundTrip(t *testing.T) {
	for _, c := range Classes() {
		got, err := ParseClass(c.String())
		if err != nil || got != c {
			t.Errorf("ParseClass(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	if _, err := ParseClass("nope"); err == nil {
		t.Error("ParseClass(nope): want error")
	}
}

func TestClassOfWrapped(t *testing.T) {
	base := Errorf(Auth, "register", 401, "challenged again")
	err := fmt.Errorf("sender: %w", base)
	c, code := ClassOf(err)
	if c != Auth || code != 401 {
		t.Errorf("ClassOf = %v %d; want auth 401", c, code)
	}
	if c, _ := ClassOf(errors.New("x")); c != Other {
		t.Errorf("ClassOf(plain) = %v; want other", c)
	}
	if got, want := base.Error(), "register: challenged again"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}
