package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/report"
)

// Set at build time, as the Dockerfile and .ci/run do:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.date=2026-12-02T05:00:00Z"
//
// Unset, the build info gives what it has: the module version (go install ...@v1.2.3)
// and the VCS revision and time (go build in a git checkout).
var version, commit, date string

// buildInfo is chatload's version, commit and build date, and the sipgo version.
type buildInfo struct {
	version, commit, date, sipgo string
}

func readBuildInfo() buildInfo {
	b := buildInfo{version: version, commit: commit, date: date, sipgo: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.version = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/emiago/sipgo" {
				b.sipgo = d.Version
			}
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.commit == "":
				b.commit = s.Value
			case s.Key == "vcs.time" && b.date == "":
				b.date = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && commit == "" && b.commit != "":
				b.commit += "-dirty"
			}
		}
	}
	if b.version == "" {
		b.version = "dev"
	}
	return b
}

// buildVersions returns chatload's version and the sipgo version it was built with.
func buildVersions() (self, sipgo string) {
	b := readBuildInfo()
	return b.version, b.sipgo
}

// toolInfo is the report's tool section.
func toolInfo() report.Tool {
	b := readBuildInfo()
	return report.Tool{Name: "chatload", Version: b.version, Commit: b.commit, BuildDate: b.date}
}

// versionLine is what --version prints.
func versionLine() string {
	b := readBuildInfo()
	s := "chatload " + b.version
	if b.commit != "" {
		s += " (commit " + b.commit
		if b.date != "" {
			s += ", built " + b.date
		}
		s += ")"
	}
	return s
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print chatload's version, commit and build date, the Go version and the sipgo version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := readBuildInfo()
			fmt.Fprintf(e.stdout, "chatload %s\ncommit %s\nbuilt %s\ngo %s %s/%s\nsipgo %s\n",
				b.version, orUnknown(b.commit), orUnknown(b.date), runtime.Version(), runtime.GOOS, runtime.GOARCH, b.sipgo)
			return nil
		},
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
