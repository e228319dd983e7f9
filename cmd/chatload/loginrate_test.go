package main

import (
	"io"
	"testing"
)

// TestLoginRateAlias: --login-rate sets the one sign-in limit, --logon-rate.
func TestLoginRateAlias(t *testing.T) {
	cmd := newRunCmd(&env{stdout: io.Discard, stderr: io.Discard})
	if err := cmd.ParseFlags([]string{"--login-rate", "12/s"}); err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags().Lookup("logon-rate")
	if f == nil || !f.Changed || f.Value.String() != "12/s" {
		t.Fatalf("--login-rate 12/s: --logon-rate = %v; want 12/s, changed", f)
	}
	if cmd.Flags().Lookup("login-rate") != f {
		t.Error("--login-rate is not the same flag as --logon-rate")
	}
}
