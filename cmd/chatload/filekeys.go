package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// A scenario file takes every run flag as a key of the same name. The scenario's
// own settings (rate, duration, pairs, ...) are scenarios.Config's; the others
// (interval, checkpoint, hlog, metrics-addr, out, quiet, procs, tls-*, fault-*) are
// the command's: they are taken out of the file here, before scenarios.Load sees it,
// and set as the flags would be. A flag given on the command line wins.

// commandKeys returns the file's top-level keys that are run flags but not scenario
// settings, with their values and lines, and data with those entries blanked out
// (lines kept, so that scenarios.Load's file:line errors stay right).
func commandKeys(fl *pflag.FlagSet, settings map[string]*string, path string, data []byte) (map[string]fileValue, []byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, data, nil // scenarios.Load says what is wrong with the file
	}
	root := doc.Content[0]
	keys := map[string]fileValue{}
	lines := strings.SplitAfter(string(data), "\n")
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		if _, isSetting := settings[name]; isSetting || name == "no-register" || name == "threshold" || name == "help" || fl.Lookup(name) == nil {
			continue
		}
		if prev, dup := keys[name]; dup {
			return nil, nil, usageErr("%s:%d: duplicate key %q (first on line %d)", path, k.Line, name, prev.line)
		}
		if v.Kind != yaml.ScalarNode {
			return nil, nil, usageErr("%s:%d: %s: want a single value, as for --%s", path, k.Line, name, name)
		}
		keys[name] = fileValue{value: v.Value, line: k.Line}
		last := v.Line
		if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			last += strings.Count(strings.TrimRight(v.Value, "\n"), "\n") + 1
		}
		for l := k.Line; l <= last && l <= len(lines); l++ {
			nl := ""
			if strings.HasSuffix(lines[l-1], "\n") {
				nl = "\n"
			}
			lines[l-1] = "#" + nl // a comment: the line is kept, its content gone
		}
	}
	return keys, []byte(strings.Join(lines, "")), nil
}

type fileValue struct {
	value string
	line  int
}

// applyFileFlags sets the run flags the scenario file at args[0] gives, unless the
// command line gave them. Relative paths in them are relative to the working
// directory, as on the command line (the users file, a scenario setting, is relative
// to the scenario file). Errors name file:line.
func applyFileFlags(fl *pflag.FlagSet, settings map[string]*string, args []string) error {
	if len(args) != 1 {
		return nil
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return usageErr("scenario file: %v", err)
	}
	keys, _, err := commandKeys(fl, settings, args[0], data)
	if err != nil {
		return err
	}
	for name, v := range keys {
		if fl.Changed(name) {
			continue
		}
		if err := fl.Set(name, v.value); err != nil {
			return usageErr("%s:%d: %s: %v", args[0], v.line, name, err)
		}
	}
	return nil
}
