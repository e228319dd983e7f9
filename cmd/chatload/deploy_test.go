package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The examples in deploy/ must work as written: every chatload command line in them
// parses with this chatload (flags known, values valid), and the Kubernetes manifests
// agree with each other. .ci/run also builds them with kubectl kustomize.

const deployDir = "../../deploy"

// parseOnly parses a chatload command line as the CLI would, without running it:
// the command must exist and every flag and value must be accepted.
func parseOnly(t *testing.T, where string, args []string) {
	t.Helper()
	e, _, _ := testEnv(nil)
	root := newRoot(e)
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: %q: no such command (%v)", where, args, err)
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: %q: %v", where, args, err)
		return
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		t.Errorf("%s: %q: %v", where, args, err)
	}
	switch cmd.Name() {
	case "test", "watch":
		// The transaction's own checks (what test and watch run before anything else).
		var f testFlags
		f.protocol, _ = cmd.Flags().GetString("protocol")
		f.transport, _ = cmd.Flags().GetString("transport")
		f.target, _ = cmd.Flags().GetString("target")
		f.sender, _ = cmd.Flags().GetString("sender")
		f.senderCred, _ = cmd.Flags().GetString("sender-credential")
		f.receiver, _ = cmd.Flags().GetString("receiver")
		f.receiverCred, _ = cmd.Flags().GetString("receiver-credential")
		f.output = "text" // watch has no --output
		if cmd.Flags().Lookup("output") != nil {
			f.output, _ = cmd.Flags().GetString("output")
		}
		f.timeout, _ = cmd.Flags().GetDuration("timeout")
		if err := f.validate(); err != nil {
			t.Errorf("%s: %q: %v", where, args, err)
		}
	}
}

// chatloadArgs finds the args of every container running the chatload image.
func chatloadArgs(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found [][]string
	var walk func(n any)
	walk = func(n any) {
		switch v := n.(type) {
		case map[string]any:
			if img, _ := v["image"].(string); strings.HasPrefix(img, "chatload:") {
				var args []string
				for _, a := range v["args"].([]any) {
					args = append(args, a.(string))
				}
				found = append(found, args)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var doc any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		walk(doc)
	}
	return found
}

// substitute fills Kubernetes' $(VAR) references with plausible values.
func substitute(args []string) []string {
	r := strings.NewReplacer("$(SEGMENT)", "0", "$(SEGMENTS)", "4", "$(RUN)", "run-001")
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

func TestDeployKubernetesCommandLines(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(deployDir, "*", "*.yaml"))
	n := 0
	for _, f := range files {
		for _, args := range chatloadArgs(t, f) {
			n++
			parseOnly(t, f, substitute(args))
		}
	}
	if n < 4 {
		t.Errorf("found %d chatload containers in deploy/*/*.yaml; want the segments, merge, CronJob and watch ones", n)
	}
}

var execStart = regexp.MustCompile(`(?ms)^ExecStart=/usr/local/bin/chatload (.*?[^\\])$`)

func TestDeploySystemdCommandLines(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(deployDir, "systemd", "*.service"))
	if len(files) < 2 {
		t.Fatalf("want the test and watch units in deploy/systemd, found %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := execStart.FindStringSubmatch(string(data))
		if m == nil {
			t.Errorf("%s: no ExecStart=/usr/local/bin/chatload", f)
			continue
		}
		line := strings.ReplaceAll(m[1], "\\\n", " ")
		line = strings.ReplaceAll(line, "${CREDENTIALS_DIRECTORY}", "/run/credentials/x")
		parseOnly(t, f, strings.Fields(line))
	}
}

// TestDeployKubernetesConsistent: the distributed run's manifests agree on N, on the
// run's directory, and the scenario loads; the Secret is not applied by kustomize.
func TestDeployKubernetesConsistent(t *testing.T) {
	dir := filepath.Join(deployDir, "kubernetes")
	read := func(name string) map[string]any {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	get := func(m any, path ...any) any {
		for _, p := range path {
			switch k := p.(type) {
			case string:
				m = m.(map[string]any)[k]
			case int:
				m = m.([]any)[k]
			}
		}
		return m
	}
	envValue := func(c any, name string) string {
		for _, e := range get(c, "env").([]any) {
			if get(e, "name") == name {
				if v, ok := get(e, "value").(string); ok {
					return v
				}
				return "from " + strings.Join(slices.Sorted(func(yield func(string) bool) {
					for k := range get(e, "valueFrom").(map[string]any) {
						if !yield(k) {
							return
						}
					}
				}), ",")
			}
		}
		return ""
	}

	seg := read("segments-job.yaml")
	completions, parallelism := get(seg, "spec", "completions").(int), get(seg, "spec", "parallelism").(int)
	segC := get(seg, "spec", "template", "spec", "containers", 0)
	if n, _ := strconv.Atoi(envValue(segC, "SEGMENTS")); completions != parallelism || n != completions {
		t.Errorf("segments Job: completions %d, parallelism %d, SEGMENTS %d; want all equal", completions, parallelism, n)
	}
	if envValue(segC, "RUN") != "from configMapKeyRef" {
		t.Errorf("segments Job: RUN %q; want it from the ConfigMap", envValue(segC, "RUN"))
	}
	mj := read("merge-job.yaml")
	mc := get(mj, "spec", "template", "spec", "containers", 0)
	if n, _ := strconv.Atoi(envValue(mc, "SEGMENTS")); n != completions {
		t.Errorf("merge Job SEGMENTS %d; want the segments Job's %d", n, completions)
	}
	var reports []string
	for _, a := range get(mc, "args").([]any) {
		if s := a.(string); strings.HasPrefix(s, "/results/$(RUN)/seg-") {
			reports = append(reports, s)
		}
	}
	for i := range completions {
		if want := "/results/$(RUN)/seg-" + strconv.Itoa(i) + ".json"; !slices.Contains(reports, want) {
			t.Errorf("merge Job does not merge %s (merges %v)", want, reports)
		}
	}
	if len(reports) != completions {
		t.Errorf("merge Job merges %d reports; want %d", len(reports), completions)
	}
	for _, a := range get(segC, "args").([]any) {
		if s := a.(string); strings.HasPrefix(s, "/results/") && !strings.HasPrefix(s, "/results/$(RUN)/") {
			t.Errorf("segments Job writes %s outside the run's directory /results/$(RUN)/", s)
		}
	}

	kust := read("kustomization.yaml")
	for _, r := range get(kust, "resources").([]any) {
		if strings.Contains(r.(string), "secret") {
			t.Errorf("kustomization applies %s: it would overwrite the users Secret the README has you create", r)
		}
		if _, err := os.Stat(filepath.Join(dir, r.(string))); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}

	// The scenario loads, and the README's user count is the scenario's.
	cm := read("scenario-configmap.yaml")
	if get(cm, "data", "run") == nil {
		t.Errorf("ConfigMap has no run name")
	}
	tmp := filepath.Join(t.TempDir(), "scenario.yaml")
	os.WriteFile(tmp, []byte(get(cm, "data", "scenario.yaml").(string)), 0o644)
	e, _, _ := testEnv(nil)
	root := newRoot(e)
	runCmd, _, _ := root.Find([]string{"run"})
	f := runFlags{settings: map[string]*string{}}
	for _, s := range scenarioFlags {
		f.settings[s.name] = new(string)
	}
	cfg, err := f.config(runCmd.Flags(), []string{tmp})
	if err != nil {
		t.Fatalf("the ConfigMap's scenario.yaml: %v", err)
	}
	need := cfg.UserCount()
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.Contains(string(readme), "needs "+strconv.Itoa(need)+" users") {
		t.Errorf("README does not say the scenario needs %d users", need)
	}
}

// TestDeployPrometheusRules: the alert rules use metrics chatload watch exports.
func TestDeployPrometheusRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "chatload-watch-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	// What the watcher exports, after one transaction.
	w := newWatchMetrics(0)
	w.record(sampleWatchResult())
	fams, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	names := regexp.MustCompile(`chatload_\w+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, m := range names.FindAllString(r.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
				if !exported[base] {
					t.Errorf("alert %s uses %s; chatload watch exports no such metric", r.Alert, m)
				}
			}
		}
	}
	if n < 3 {
		t.Errorf("%d rules; want failing, stale, slow and down", n)
	}
}

// TestRepositoryStandsAlone: nothing in the repository points outside it (to the
// folders beside the checkout, such as the notes it was started from, and their
// documents, which a user's clone never has); relative links in the docs resolve.
func TestRepositoryStandsAlone(t *testing.T) {
	root := "../.."
	bad := besideCheckout(t, root)
	link := regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "run", "out":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".sh", ".yaml", ".yml", ".xml", ".cfg", ".service", ".timer", "":
		default:
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil || len(data) > 1<<20 {
			return nil
		}
		if bad != nil {
			if m := bad.Find(data); m != nil {
				t.Errorf("%s points outside the repository: %q", path, m)
			}
		}
		if filepath.Ext(path) == ".md" {
			for _, l := range link.FindAllStringSubmatch(string(data), -1) {
				if strings.HasPrefix(l[1], "http") {
					continue
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(path), l[1])); err != nil {
					t.Errorf("%s: link %s: %v", path, l[1], err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"docs/design.md", "docs/spec/contract.md", "docs/protocols/xccos.md", "docs/protocols/kamailio-imc.md"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// besideCheckout returns a pattern of what lies beside the checkout root: for each
// folder of notes next to it (one holding documents named in capitals, such as the
// notes the project was started from), "../D", "/D/", "D/x.md" and those documents'
// names. nil when there is none (a user's lone clone).
func besideCheckout(t *testing.T, root string) *regexp.Regexp {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Dir(abs)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var alts []string
	for _, d := range entries {
		if !d.IsDir() || d.Name() == filepath.Base(abs) {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(parent, d.Name()))
		var docs []string
		for _, f := range files {
			base, ok := strings.CutSuffix(f.Name(), ".md")
			if ok && !f.IsDir() && base == strings.ToUpper(base) && base != "README" {
				docs = append(docs, `\b`+regexp.QuoteMeta(f.Name())+`\b`)
			}
		}
		if len(docs) == 0 {
			continue // not a folder of notes
		}
		name := regexp.QuoteMeta(d.Name())
		alts = append(append(alts, `\.\./`+name+`\b`, `/`+name+`/`, `\b`+name+`/[A-Za-z-]+\.md\b`), docs...)
	}
	if len(alts) == 0 {
		return nil
	}
	return regexp.MustCompile(strings.Join(alts, "|"))
}
