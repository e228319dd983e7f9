package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; otherwise the
// module version from the build info is used.
var version = ""

// buildVersions returns chatload's version and the sipgo version it was built with.
func buildVersions() (self, sipgo string) {
	self, sipgo = version, "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return orDev(self), sipgo
	}
	if self == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		self = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/emiago/sipgo" {
			sipgo = d.Version
		}
	}
	return orDev(self), sipgo
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print chatload's version, the Go version and the sipgo version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			self, sipgo := buildVersions()
			fmt.Fprintf(e.stdout, "chatload %s\ngo %s %s/%s\nsipgo %s\n", self, runtime.Version(), runtime.GOOS, runtime.GOARCH, sipgo)
			return nil
		},
	}
}
