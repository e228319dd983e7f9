package server

import "testing"

// TestMaxNoncesSizedToUsers: the nonce table's default holds two nonces per user
// once there are more users than DefaultMaxNonces/2 (a table smaller than the users
// evicts the oldest users' nonces, and each of their refreshes is challenged stale);
// a set MaxNonces is kept.
func TestMaxNoncesSizedToUsers(t *testing.T) {
	for _, tc := range []struct{ users, set, want int }{
		{10, 0, DefaultMaxNonces},
		{100000, 0, 200000},
		{100000, 5000, 5000},
	} {
		c := Config{Users: GeneratedUsers(tc.users, DefaultDomain), MaxNonces: tc.set}.withDefaults()
		if c.MaxNonces != tc.want {
			t.Errorf("%d users, MaxNonces %d: default %d; want %d", tc.users, tc.set, c.MaxNonces, tc.want)
		}
	}
}
