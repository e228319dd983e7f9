package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds a scenario file: a real one is a few dozen lines.
const maxFileSize = 1 << 20

// LoadFile reads the YAML scenario file at path onto c, as Load does. A relative
// users-file in it is taken relative to the scenario file's directory (as a script's
// includes are), so that "chatload run dir/s.yaml" works from anywhere.
func LoadFile(path string, c *Config) error {
	data, err := readFile(path)
	if err != nil {
		return err
	}
	set, err := load(path, data, c)
	if err != nil {
		return err
	}
	if set["users-file"] && c.UsersFile != "" && !filepath.IsAbs(c.UsersFile) {
		c.UsersFile = filepath.Join(filepath.Dir(path), c.UsersFile)
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scenario file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("scenario file %s: %w", path, err)
	}
	return data, nil
}

// Load reads a YAML scenario file's content (name is used in errors) onto c: the
// settings in the file replace c's, the others are kept. Keys are the flag names
// (scenario, rate, ramp, concurrency, duration, rooms, ...; see Config); values are
// written as for the flags ("rate: 200/s", "duration: 20s"), and also:
//
//	rooms: 5                     # a count, or a list of room URIs:
//	rooms: [sip:a@conf.example.test, sip:b@conf.example.test]
//	ramp: 30s:100/s,1m:500/s     # or a list of stages:
//	ramp:
//	  - {duration: 30s, rate: 100/s}
//	  - {duration: 1m, rate: 500/s}
//	thresholds:                  # pass/fail criteria, a list (or one text)
//	  - delivery.p99 < 250ms
//	  - messages.lost == 0
//
// Settings the file gives replace the defaults they are an alternative to (see
// Config.Apply): "concurrency: 5" alone makes a closed model, "iterations: 1000" alone
// drops the default duration, "ramp" alone ends the run with its last stage.
//
// A "scenario" key sets Scenario but not the defaults: the caller chooses them first
// with PeekScenario. Errors name name:line and the key: unknown keys, bad values,
// wrong types, duplicate keys, an empty file or one that is not a mapping. On error c
// is unchanged.
func Load(name string, data []byte, c *Config) error {
	_, err := load(name, data, c)
	return err
}

// PeekScenario returns the value of the file's "scenario" key, "" when it has none,
// so that the caller can start from that scenario's defaults:
//
//	name := "steady"                                        // or --scenario when given
//	if !scenarioFlagSet { if s, _ := PeekScenario(path, data); s != "" { name = s } }
//	c, err := Default(name)
//	err = Load(path, data, &c)                              // the file
//	err = c.Apply(flagsSet)                                 // then the flags
//	err = c.Validate()
//
// Its errors are Load's (name:line) for a file that does not parse or names an unknown
// scenario.
func PeekScenario(name string, data []byte) (string, error) {
	root, err := parseRoot(name, data)
	if err != nil {
		return "", err
	}
	found := ""
	line := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Value != "scenario" {
			continue
		}
		if line != 0 {
			return "", fmt.Errorf("%s:%d: duplicate key \"scenario\" (first on line %d)", name, k.Line, line)
		}
		line = k.Line
		if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return "", fmt.Errorf("%s:%d: scenario: want one of %s", name, k.Line, strings.Join(Names(), ", "))
		}
		var c Config
		if err := c.set("scenario", v.Value); err != nil {
			return "", fmt.Errorf("%s:%d: scenario: %v", name, v.Line, err)
		}
		found = c.Scenario
	}
	return found, nil
}

// lineError is a bad value at a line of its own (inside a list).
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }

func load(name string, data []byte, c *Config) (map[string]bool, error) {
	root, err := parseRoot(name, data)
	if err != nil {
		return nil, err
	}
	return loadNode(name, root, c, nil)
}

// loadNode applies the settings of the mapping root onto c, as Load does, leaving
// out the keys skip names (a mixed file's own keys).
func loadNode(name string, root *yaml.Node, c *Config, skip map[string]bool) (map[string]bool, error) {
	next := *c
	set := map[string]bool{}
	lines := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return nil, fmt.Errorf("%s:%d: want a setting name as key, such as \"rate\"", name, k.Line)
		}
		key := k.Value
		if first, dup := lines[key]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate key %q (first on line %d)", name, k.Line, key, first)
		}
		lines[key] = k.Line
		if skip[key] {
			continue
		}
		if err := next.setNode(key, v); err != nil {
			var le *lineError
			switch {
			case errors.Is(err, errUnknownKey):
				return nil, fmt.Errorf("%s:%d: unknown key %q%s", name, k.Line, key, suggest(key, ""))
			case errors.As(err, &le):
				return nil, fmt.Errorf("%s:%d: %s: %v", name, le.line, key, le.err)
			default:
				return nil, fmt.Errorf("%s:%d: %s: %v", name, v.Line, key, err)
			}
		}
		set[key] = true
	}
	next.settle(set)
	*c = next
	return set, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseRoot parses data as one YAML document whose root is a mapping.
func parseRoot(name string, data []byte) (*yaml.Node, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: more than %d bytes: not a scenario file", name, maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:1: empty scenario file: want settings such as \"scenario: steady\"", name)
		}
		return nil, yamlError(name, data, err)
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: a second YAML document: a scenario file holds one", name, max(more.Line, 1))
	case !errors.Is(err, io.EOF):
		return nil, yamlError(name, data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = deref(root)
	switch {
	case root == nil || (root.Kind == yaml.ScalarNode && root.Tag == "!!null"):
		return nil, fmt.Errorf("%s:%d: empty scenario file: want settings such as \"scenario: steady\"", name, max(doc.Line, 1))
	case root.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%s:%d: want a mapping of settings (key: value), got %s", name, root.Line, describe(root))
	}
	return root, nil
}

var yamlAnchor = regexp.MustCompile(`^yaml: unknown anchor '([^']*)' referenced$`)

// yamlError turns a YAML syntax error into name:line: message.
func yamlError(name string, data []byte, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], m[2])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	// The parser knows no line for an alias to an unknown anchor: find its first use.
	if m := yamlAnchor.FindStringSubmatch(err.Error()); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			return fmt.Errorf("%s:%d: %s", name, 1+bytes.Count(data[:i], []byte("\n")), msg)
		}
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// deref follows an alias (*name) to its node; nil for a broken one.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("the value %q", v)
	}
	return "nothing"
}

// setNode applies one setting from its YAML value: a scalar as for the flag, or a
// list for rooms and ramp.
func (c *Config) setNode(key string, n *yaml.Node) error {
	if !isKey(key) {
		return errUnknownKey
	}
	v := deref(n)
	if v == nil {
		return errors.New("a broken alias")
	}
	if v.Kind == yaml.SequenceNode && (key == "rooms" || key == "ramp" || key == "thresholds") {
		switch key {
		case "rooms":
			return c.setRoomList(v)
		case "thresholds":
			return c.setThresholdList(v)
		}
		return c.setRampList(v)
	}
	s, err := scalar(v)
	if err != nil {
		if key == "rooms" || key == "ramp" || key == "thresholds" {
			return fmt.Errorf("want a value or a list, got %s", describe(v))
		}
		return err
	}
	return c.set(key, s)
}

func isKey(key string) bool {
	for _, k := range settingKeys() {
		if k == key {
			return true
		}
	}
	return false
}

// scalar returns a scalar node's text; a list, a mapping or no value is an error.
func scalar(v *yaml.Node) (string, error) {
	switch {
	case v.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("want a single value, got %s", describe(v))
	case v.Tag == "!!null":
		return "", errors.New("no value (write \"\" for an empty text)")
	}
	return v.Value, nil
}

func (c *Config) setRoomList(seq *yaml.Node) error {
	var list []string
	for i, item := range seq.Content {
		it := deref(item)
		if it == nil {
			return &lineError{item.Line, fmt.Errorf("room %d: a broken alias", i+1)}
		}
		s, err := scalar(it)
		if err == nil && strings.TrimSpace(s) == "" {
			err = errors.New("empty")
		}
		if err == nil && strings.ContainsAny(s, ", \t") {
			err = fmt.Errorf("%q: want one room URI per item", s)
		}
		if err != nil {
			return &lineError{it.Line, fmt.Errorf("room %d: %v", i+1, err)}
		}
		list = append(list, strings.TrimSpace(s))
	}
	c.Rooms, c.RoomList = 0, list
	return nil
}

// setThresholdList reads thresholds: a list of texts, one threshold each.
func (c *Config) setThresholdList(seq *yaml.Node) error {
	var list []string
	for i, item := range seq.Content {
		it := deref(item)
		if it == nil {
			return &lineError{item.Line, fmt.Errorf("threshold %d: a broken alias", i+1)}
		}
		s, err := scalar(it)
		if err == nil {
			err = checkThreshold(s)
		}
		if err != nil {
			return &lineError{it.Line, fmt.Errorf("threshold %d: %v", i+1, err)}
		}
		list = append(list, strings.TrimSpace(s))
	}
	c.Thresholds = list
	return nil
}

// ListLines returns the line of each item of a scenario file's top-level list key
// (one line for a single value), so that a caller checking the items further (the CLI
// parses thresholds) can name file:line: ListLines(data, "thresholds")[i] is the line
// of Config.Thresholds[i] as loaded from the file. It is nil when the key is absent
// or the file does not parse (Load says why). It is safe for concurrent use.
func ListLines(data []byte, key string) []int {
	root, err := parseRoot("", data)
	if err != nil {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Value != key || v == nil {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			return []int{v.Line}
		}
		lines := make([]int, 0, len(v.Content))
		for _, item := range v.Content {
			lines = append(lines, item.Line)
		}
		return lines
	}
	return nil
}

func (c *Config) setRampList(seq *yaml.Node) error {
	var stages []Stage
	for i, item := range seq.Content {
		it := deref(item)
		if it == nil {
			return &lineError{item.Line, fmt.Errorf("stage %d: a broken alias", i+1)}
		}
		st, err := stageNode(it)
		if err != nil {
			var le *lineError
			if errors.As(err, &le) {
				return &lineError{le.line, fmt.Errorf("stage %d: %v", i+1, le.err)}
			}
			return &lineError{it.Line, fmt.Errorf("stage %d: %v", i+1, err)}
		}
		stages = append(stages, st)
	}
	c.Ramp = stages
	return nil
}

// stageNode reads one ramp stage: "30s:100/s" or {duration: 30s, rate: 100/s}.
func stageNode(n *yaml.Node) (Stage, error) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return parseStage(n.Value)
	}
	if n.Kind != yaml.MappingNode {
		return Stage{}, fmt.Errorf("want {duration: D, rate: R} or D:R, got %s", describe(n))
	}
	var st Stage
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || (k.Value != "duration" && k.Value != "rate") {
			return Stage{}, &lineError{k.Line, fmt.Errorf("unknown key %q: want duration and rate", k.Value)}
		}
		if first, dup := seen[k.Value]; dup {
			return Stage{}, &lineError{k.Line, fmt.Errorf("duplicate key %q (first on line %d)", k.Value, first)}
		}
		seen[k.Value] = k.Line
		if v == nil {
			return Stage{}, &lineError{k.Line, fmt.Errorf("%s: a broken alias", k.Value)}
		}
		s, err := scalar(v)
		if err == nil {
			if k.Value == "duration" {
				st.Duration, err = parseDuration(s)
			} else {
				st.Rate, err = parseRate(s)
			}
		}
		if err != nil {
			return Stage{}, &lineError{v.Line, fmt.Errorf("%s: %v", k.Value, err)}
		}
	}
	for _, k := range []string{"duration", "rate"} {
		if _, ok := seen[k]; !ok {
			return Stage{}, fmt.Errorf("no %s: want {duration: D, rate: R}", k)
		}
	}
	return st, nil
}
