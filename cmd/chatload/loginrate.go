package main

import "github.com/spf13/pflag"

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
