package main

import (
	"math"

	"github.com/spf13/pflag"

	"github.com/chatload/chatload/scenarios"
)

// aliasLoginRate makes --login-rate another name of --logon-rate (the sign-in
// rate limit during setup): operators coming from Lync say "sign-in" or "login",
// and one limit under two flags would only let them disagree.
func aliasLoginRate(fl *pflag.FlagSet) {
	prev := fl.GetNormalizeFunc()
	fl.SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "login-rate" {
			name = "logon-rate"
		}
		return prev(f, name)
	})
}

// defaultLogonRate gives a run against a --target the sign-in rate its
// protocol's servers are sized for (scenarios.Protocol.SignInRate: 12/s for a
// Lync pool) when neither a flag nor the scenario file set --logon-rate; the
// embedded server, and protocols that declare none, sign in unpaced.
func defaultLogonRate(cfg *scenarios.Config, given map[string]string) {
	if _, ok := given["logon-rate"]; ok || cfg.Target == "" {
		return
	}
	if p, ok := protocolNamed(cfg.Protocol); ok && p.SignInRate > 0 {
		cfg.LogonRate = p.SignInRate
	}
}

// sizeLogonParallel sizes the sign-ins in flight to a --logon-rate when neither a
// flag nor the scenario file set --logon-parallel: a second's worth of sign-ins
// (at least the default 64, at most 20,000). A paced wave is an open model: with the
// default 64 in flight and sign-ins taking 25 ms (register and join on a loaded
// machine), a wave could not pass 2,560/s whatever rate was asked for.
func sizeLogonParallel(cfg *scenarios.Config, given map[string]string) {
	if _, ok := given["logon-parallel"]; ok || cfg.LogonRate <= 0 {
		return
	}
	cfg.LogonParallel = max(cfg.LogonParallel, min(20000, int(math.Ceil(float64(cfg.LogonRate)))))
}
