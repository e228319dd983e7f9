package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chatload/chatload/scenarios"
)

func newRunForTest(t *testing.T) (*cobra.Command, *runFlags) {
	t.Helper()
	e, _, _ := testEnv(nil)
	root := newRoot(e)
	cmd, _, err := root.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	f := &runFlags{settings: map[string]*string{}}
	for _, s := range scenarioFlags {
		f.settings[s.name] = new(string)
	}
	return cmd, f
}

// TestEveryRunFlagHasAYAMLKey: no run flag is refused as an unknown key of a scenario file.
func TestEveryRunFlagHasAYAMLKey(t *testing.T) {
	cmd, f := newRunForTest(t)
	n := 0
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Name == "help" || fl.Name == "threshold" { // the file's is "thresholds", a list
			return
		}
		n++
		data := []byte("scenario: steady\n" + fl.Name + ": " + sampleValue(fl.Name, fl.Value.Type()) + "\n")
		keys, rest, err := commandKeys(cmd.Flags(), f.settings, "x.yaml", data)
		if err != nil {
			t.Errorf("%s: %v", fl.Name, err)
			return
		}
		if _, ok := keys[fl.Name]; ok {
			if strings.Count(string(rest), "\n") != 2 {
				t.Errorf("%s: blanking the key changed the line count: %q", fl.Name, rest)
			}
			return
		}
		var c scenarios.Config
		if err := scenarios.Load("x.yaml", rest, &c); err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("run flag --%s has no YAML key: %v", fl.Name, err)
		}
	})
	if n < 40 {
		t.Errorf("checked %d flags; want all of run's", n)
	}
}

func sampleValue(name, typ string) string {
	switch typ {
	case "bool":
		return "true"
	case "duration":
		return "1s"
	case "int", "int64":
		return "1"
	}
	switch name {
	case "rate", "logon-rate":
		return "10/s"
	case "ramp":
		return "1s:10/s"
	case "segment":
		return "0/2"
	}
	return "x"
}

// TestScenarioFileRunKeys: a file's interval, out and quiet keys act as the flags
// (the issue's `interval: 1s`), and the command line wins over the file.
func TestScenarioFileRunKeys(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	file := filepath.Join(dir, "soak.yaml")
	os.WriteFile(file, []byte("scenario: steady\nrate: 20/s\nduration: 1500ms\ninterval: 500ms\nquiet: true\nout: "+out+"\n"), 0o644)
	code, stdout, errb := runCLI(t, nil, "run", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errb)
	}
	if strings.Contains(errb, "steady ") {
		t.Errorf("quiet: true in the file, but a progress line:\n%s", errb)
	}
	var r struct {
		Intervals []json.RawMessage `json:"intervals"`
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("out: in the file, no report: %v", err)
	}
	json.Unmarshal(b, &r)
	if len(r.Intervals) < 3 {
		t.Errorf("interval: 500ms over 1.5s gave %d intervals; want 3", len(r.Intervals))
	}
	// A flag beats the file; a bad value names file:line.
	code, _, errb = runCLI(t, nil, "run", file, "--duration", "500ms", "--interval", "1m", "--out", filepath.Join(dir, "r2.json"))
	if b, _ := os.ReadFile(filepath.Join(dir, "r2.json")); code != 0 || strings.Count(string(b), `"phase"`) > 2 {
		t.Errorf("--interval 1m over the file's 500ms: exit %d; want one interval\n%s", code, errb)
	}
	os.WriteFile(file, []byte("scenario: steady\n\ninterval: soon\n"), 0o644)
	if code, _, errb := runCLI(t, nil, "run", file); code != 2 || !strings.Contains(errb, "soak.yaml:3: interval:") {
		t.Errorf("interval: soon: exit %d %q; want 2 naming soak.yaml:3", code, errb)
	}
	os.WriteFile(file, []byte("scenario: steady\ninterval: 1s\nbogus: 2\n"), 0o644)
	if code, _, errb := runCLI(t, nil, "run", file); code != 2 || !strings.Contains(errb, `soak.yaml:3: unknown key "bogus"`) {
		t.Errorf("bogus key after a command key: exit %d %q; want soak.yaml:3 (lines kept)", code, errb)
	}
}

// TestExamplesLoad: every examples/*.yaml loads as chatload run would load it.
func TestExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 4 {
		t.Fatalf("examples: %v", files)
	}
	readme, _ := os.ReadFile("../../README.md")
	for _, file := range files {
		if data, _ := os.ReadFile(file); scenarios.IsMix(file, data) {
			// A mixed run (workloads:) loads through its own path (mix.go).
			if _, err := scenarios.LoadMix(file, data); err != nil {
				t.Errorf("%s: %v", file, err)
			}
			if !strings.Contains(string(readme), "examples/"+filepath.Base(file)) {
				t.Errorf("README does not name examples/%s", filepath.Base(file))
			}
			continue
		}
		cmd, f := newRunForTest(t)
		for _, s := range scenarioFlags {
			*f.settings[s.name] = ""
		}
		if err := applyFileFlags(cmd.Flags(), f.settings, []string{file}); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if _, err := f.config(cmd.Flags(), []string{file}); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		if !strings.Contains(string(readme), "examples/"+filepath.Base(file)) {
			t.Errorf("README does not name examples/%s", filepath.Base(file))
		}
	}
}
