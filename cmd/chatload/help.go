package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chatload/chatload/scenarios"
)

// flagGroup is a titled group of a command's flags in its help.
type flagGroup struct {
	title string
	names []string
}

// runFlagGroups groups chatload run's flags in its help; a flag in no group is listed
// under "Other flags".
var runFlagGroups = []flagGroup{
	{"Load model", []string{"rate", "ramp", "concurrency", "think-time", "max-in-flight", "duration", "iterations", "logon-rate", "logon-parallel", "expires", "procs", "find-max"}},
	{"Scenario", []string{"scenario", "profile", "pairs", "rooms", "room-size", "users", "history", "message-size", "delivery-timeout", "timeout", "to", "no-register", "domain", "seed"}},
	{"Target and auth", []string{"target", "protocol", "transport", "transport-sharing", "users-file", "auth", "krb5-conf", "krb5-keytab"}},
	{"TLS", []string{"tls-ca", "tls-server-name", "tls-insecure"}},
	{"Soak and outputs", []string{"out", "quiet", "interval", "checkpoint", "hlog", "metrics-addr", "trace", "trace-max-bytes", "threshold", "allow-failures", "max-shortfall", "max-dropped", "segment"}},
	{"Fault injection (embedded server only)", []string{"fault-drop", "fault-dup", "fault-delay", "fault-stall", "fault-seed"}},
}

var inlineDefault = regexp.MustCompile(`\s*\(default:? [^)]*\)`)

// showScenarioDefaults makes the help of the scenario-setting flags (strings, unset
// until given) show their defaults: the steady scenario's, which a bare chatload run
// uses; other scenarios' differ where their text says so.
func showScenarioDefaults(cmd *cobra.Command) {
	def, err := scenarios.Default("steady")
	if err != nil {
		return
	}
	b, _ := json.Marshal(def)
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return
	}
	for _, s := range scenarioFlags {
		fl := cmd.Flags().Lookup(s.name)
		v, ok := m[s.name]
		if fl == nil || !ok {
			continue
		}
		text := fmt.Sprint(v)
		switch text {
		case "", "0", "0s", "false", "[]":
			continue
		}
		if s.name == "transport" {
			text = "udp (tls for --protocol xccos)"
		}
		fl.DefValue = text
		fl.Usage = inlineDefault.ReplaceAllString(fl.Usage, "")
	}
	if fl := cmd.Flags().Lookup("scenario"); fl != nil {
		fl.DefValue = "steady (or the file's)"
		fl.Usage = inlineDefault.ReplaceAllString(fl.Usage, "")
	}
}

// setGroupedUsage replaces cmd's usage with one that lists its flags by group, each
// with its default.
func setGroupedUsage(cmd *cobra.Command, groups []flagGroup) {
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		return writeGroupedUsage(c.OutOrStderr(), c, groups)
	})
}

func writeGroupedUsage(w io.Writer, c *cobra.Command, groups []flagGroup) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  %s\n", c.UseLine())
	if c.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", c.Example)
	}
	done := map[string]bool{}
	all := c.LocalFlags()
	section := func(title string, names []string) {
		fs := pflag.NewFlagSet(title, pflag.ContinueOnError)
		fs.SortFlags = false
		for _, n := range names {
			if fl := all.Lookup(n); fl != nil && !done[n] {
				fs.AddFlag(fl)
				done[n] = true
			}
		}
		if fs.HasFlags() {
			fmt.Fprintf(&b, "\n%s:\n%s", title, withDefaults(fs))
		}
	}
	for _, g := range groups {
		section(g.title, g.names)
	}
	var rest []string
	all.VisitAll(func(fl *pflag.Flag) { rest = append(rest, fl.Name) })
	section("Other flags", rest)
	_, err := io.WriteString(w, b.String())
	return err
}

// withDefaults is fs's flag usages with every default shown, also the zero ones
// pflag leaves out (a bool's false, a string's "": shown as none).
func withDefaults(fs *pflag.FlagSet) string {
	fs.VisitAll(func(fl *pflag.Flag) {
		if inlineDefault.MatchString(fl.Usage) || fl.Name == "help" {
			return
		}
		switch fl.DefValue {
		case "", "[]":
			fl.Usage += " (default: none)"
		case "false", "0", "0s":
			fl.Usage += " (default " + fl.DefValue + ")"
		}
	})
	return fs.FlagUsagesWrapped(100)
}
