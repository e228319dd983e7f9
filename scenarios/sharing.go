package scenarios

import (
	"fmt"
	"strconv"
	"strings"
)

// maxShared bounds shared:N (the protocols' sipua.MaxShared; scenarios imports
// no protocol).
const maxShared = 1024

// ParseSharing reads a transport-sharing setting: "per-user" (-1), "shared"
// (0: N chosen by the load) or "shared:N" (N from 1 to 1024). Errors do not
// repeat the key. It is a pure function.
func ParseSharing(s string) (int, error) {
	switch t := strings.ToLower(strings.TrimSpace(s)); {
	case t == "per-user":
		return -1, nil
	case t == "shared":
		return 0, nil
	case strings.HasPrefix(t, "shared:"):
		n, err := strconv.Atoi(t[len("shared:"):])
		if err != nil || n < 1 || n > maxShared {
			return 0, fmt.Errorf("%q: want shared:N with N from 1 to %d", s, maxShared)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%q: want per-user, shared or shared:N", s)
}

// SharingText is the setting ParseSharing reads as n. It is a pure function.
func SharingText(n int) string {
	switch {
	case n < 0:
		return "per-user"
	case n == 0:
		return "shared"
	}
	return "shared:" + strconv.Itoa(n)
}
