package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestLoadLineSignIn: the load line gives the sign-in wave, its achieved rate beside
// the rate asked for; an unpaced wave under a second has no rate (it says little).
func TestLoadLineSignIn(t *testing.T) {
	for _, tc := range []struct {
		s    *SignIn
		want string
	}{
		{&SignIn{Users: 25000, Seconds: 5.0012, TargetRate: 5000, AchievedRate: 4993.2}, ", sign-in 25000 users in 5.0 s at 4993.2/s of 5000.0/s\n"},
		{&SignIn{Users: 4, Seconds: 0.00002, AchievedRate: 160539.4}, ", sign-in 4 users in 0.0 s\n"},
		{&SignIn{Users: 100000, Seconds: 50, AchievedRate: 1999.98}, ", sign-in 100000 users in 50.0 s at 2000.0/s\n"},
		{nil, ", dropped 0\n"},
	} {
		r := &Report{Load: Load{Model: "open", TargetRate: 10, AchievedRate: 10, SignIn: tc.s}}
		var b bytes.Buffer
		r.writeLoad(&b)
		if !strings.HasSuffix(b.String(), tc.want) {
			t.Errorf("%+v: %q; want it to end in %q", tc.s, b.String(), tc.want)
		}
	}
}
