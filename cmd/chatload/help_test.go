package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestRunHelpGroupedWithDefaults(t *testing.T) {
	code, out, _ := runCLI(t, nil, "run", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	prev := -1
	for _, g := range runFlagGroups {
		i := strings.Index(out, "\n"+g.title+":\n")
		if i < 0 || i < prev {
			t.Errorf("no group %q (in order) in run --help", g.title)
		}
		prev = i
	}
	// A bare chatload run runs 10/s for 30 s with 10 pairs: the help says so.
	for _, want := range []string{`--rate string .*\(default "10/s"\)`, `--duration string .*\(default "30s"\)`,
		`--pairs string .*\(default "10"\)`, `--quiet .*\(default false\)`} {
		if !regexp.MustCompile(want).MatchString(strings.Join(strings.Fields(out), " ")) {
			t.Errorf("run --help lacks %s", want)
		}
	}
	// Every flag is listed once, with a default.
	groups := out[strings.Index(out, "Load model:"):] // the flag sections (the long help may quote flags too)
	flags := regexp.MustCompile(`(?m)^ {1,8}(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(groups, -1)
	seen := map[string]bool{}
	for _, f := range flags {
		if seen[f[1]] {
			t.Errorf("--%s listed twice", f[1])
		}
		seen[f[1]] = true
	}
	if len(seen) < 40 {
		t.Errorf("%d flags in run --help; want all", len(seen))
	}
	for _, entry := range regexp.MustCompile(`(?m)^ {1,8}--`).Split(out[strings.Index(out, "Load model:"):], -1)[1:] {
		if !strings.Contains(entry, "default") && !strings.HasPrefix(entry, "help") {
			t.Errorf("no default shown: --%s", strings.TrimSpace(entry))
		}
	}
}

func TestCompletionOfFlagValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "run", "--scenario", ""}, []string{"steady", "fanout", "pair-cycle"}},
		{[]string{"__complete", "run", "--protocol", ""}, []string{"imc", "xccos"}},
		{[]string{"__complete", "test", "--transport", ""}, []string{"udp", "tcp", "tls"}},
		{[]string{"__complete", "report", "x.json", "--format", ""}, []string{"html", "markdown", "junit"}},
		{[]string{"__complete", "compare", "--format", ""}, []string{"markdown"}},
	} {
		code, out, errb := runCLI(t, nil, c.args...)
		for _, w := range c.want {
			if code != 0 || !strings.Contains(out, w+"\n") {
				t.Errorf("%v: exit %d, completions %q (%s); want %s", c.args[1:], code, out, errb, w)
			}
		}
	}
}
