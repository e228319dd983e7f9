package main

import (
	"io"
	"testing"

	"github.com/chatload/chatload/scenarios"
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

// TestLogonParallelSizedToRate: a --logon-rate without --logon-parallel allows a
// second's worth of sign-ins in flight (at least 64, at most 20,000); a given
// --logon-parallel, as a flag or in the file, is kept.
func TestLogonParallelSizedToRate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--login-rate", "5000/s"}, 5000},
		{[]string{"--login-rate", "12/s"}, 64},
		{[]string{"--login-rate", "1M/s"}, 20000},
		{[]string{"--login-rate", "5000/s", "--logon-parallel", "10"}, 10},
		{nil, 64},
	} {
		cfg := runConfigOf(t, append([]string{"--scenario", "fanout"}, tc.args...))
		if cfg.LogonParallel != tc.want {
			t.Errorf("%v: logon-parallel %d; want %d", tc.args, cfg.LogonParallel, tc.want)
		}
	}
}

// TestLogonRateSizedToTarget: against a --target, a protocol that declares the
// sign-in rate its servers are sized for (xccos: a Lync pool's 12/s) paces
// sign-ins at it unless --login-rate says otherwise; imc, and the embedded
// server, sign in unpaced.
func TestLogonRateSizedToTarget(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want float64
	}{
		{[]string{"--protocol", "xccos", "--target", "pool.example.test:5061", "--users-file", "u.csv"}, 12},
		{[]string{"--protocol", "xccos", "--target", "pool.example.test:5061", "--users-file", "u.csv", "--login-rate", "50/s"}, 50},
		{[]string{"--protocol", "xccos"}, 0},
		{[]string{"--protocol", "imc", "--target", "127.0.0.1:5060", "--users-file", "u.csv"}, 0},
	} {
		cfg := runConfigOf(t, append([]string{"--scenario", "steady"}, tc.args...))
		if got := float64(cfg.LogonRate); got != tc.want {
			t.Errorf("%v: logon-rate %v/s; want %v/s", tc.args, got, tc.want)
		}
	}
}

// runConfigOf is the scenario configuration chatload run makes of args.
func runConfigOf(t *testing.T, args []string) scenarios.Config {
	t.Helper()
	cmd := newRunCmd(&env{stdout: io.Discard, stderr: io.Discard})
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	f := runFlags{settings: map[string]*string{}}
	for _, s := range scenarioFlags {
		if fl := cmd.Flags().Lookup(s.name); fl != nil {
			v := fl.Value.String()
			f.settings[s.name] = &v
		}
	}
	cfg, err := f.config(cmd.Flags(), nil)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return cfg
}
