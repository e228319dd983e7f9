package scenarios

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestThresholdsLayers(t *testing.T) {
	c := mustDefault(t, Steady)
	file := "thresholds:\n  - delivery.p99 < 250ms\n  -   messages.lost == 0  \n"
	if err := Load("t.yaml", []byte(file), &c); err != nil {
		t.Fatal(err)
	}
	// The file's list, each item trimmed.
	if want := []string{"delivery.p99 < 250ms", "messages.lost == 0"}; !slices.Equal(c.Thresholds, want) {
		t.Fatalf("from the file: %q; want %q", c.Thresholds, want)
	}
	before := c
	// --threshold (one per line, as the CLI joins the repeated flag) adds to the file's.
	if err := c.Apply(map[string]string{"threshold": "failures.rate < 0.1%\n\n send.p99 < 1s "}); err != nil {
		t.Fatal(err)
	}
	want := []string{"delivery.p99 < 250ms", "messages.lost == 0", "failures.rate < 0.1%", "send.p99 < 1s"}
	if !slices.Equal(c.Thresholds, want) {
		t.Errorf("with the flags: %q; want %q", c.Thresholds, want)
	}
	if len(before.Thresholds) != 2 {
		t.Errorf("Apply changed the config it was copied from: %q", before.Thresholds)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	// A single text is a list of one; an empty one none.
	one := mustDefault(t, Steady)
	if err := Load("t.yaml", []byte("thresholds: messages.lost == 0\n"), &one); err != nil || len(one.Thresholds) != 1 {
		t.Errorf("one threshold as text: %q, %v", one.Thresholds, err)
	}
	if err := Load("t.yaml", []byte("thresholds: []\n"), &one); err != nil || one.Thresholds != nil {
		t.Errorf("an empty list: %q, %v; want none", one.Thresholds, err)
	}
}

// The report's echo keeps the thresholds and loads back as the same configuration.
func TestThresholdsEcho(t *testing.T) {
	c := mustDefault(t, Steady)
	c.Thresholds = []string{"delivery.p99 < 250ms", `send.p99 < 1s for 2 intervals abort`}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var echo struct{ Thresholds []string }
	if err := json.Unmarshal(js, &echo); err != nil || !slices.Equal(echo.Thresholds, c.Thresholds) {
		t.Errorf("echo %s has thresholds %q (%v); want %q", js, echo.Thresholds, err, c.Thresholds)
	}
	back := mustDefault(t, Login)
	if err := Load("echo.json", js, &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("echo loaded as %v, %v; want %v", back, err, c)
	}
	none, _ := json.Marshal(mustDefault(t, Steady))
	if !strings.Contains(string(none), `"thresholds":[]`) {
		t.Errorf("echo without thresholds %s; want an empty list", none)
	}
	if s := c.String(); !strings.Contains(s, `thresholds="delivery.p99 < 250ms","send.p99`) {
		t.Errorf("String() = %s; want the thresholds quoted", s)
	}
}

func TestThresholdsErrors(t *testing.T) {
	c := mustDefault(t, Steady)
	for _, bad := range []struct {
		flags map[string]string
		want  string
	}{
		{map[string]string{"threshold": strings.Repeat("x", 201)}, "--threshold: \"xxx"},
		{map[string]string{"thresholds": ""}, ""}, // the YAML key as a flag: a single text, "" clears
	} {
		err := c.Apply(bad.flags)
		if bad.want == "" {
			if err != nil {
				t.Errorf("Apply(%v) = %v", bad.flags, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Apply(%v) = %v; want containing %q", bad.flags, err, bad.want)
		}
	}
	c.Thresholds = []string{"ok < 1", " "}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--threshold 2") {
		t.Errorf("Validate with an empty threshold = %v; want it named", err)
	}
}

func TestListLines(t *testing.T) {
	data := []byte("scenario: steady\nthresholds:\n  - a < 1\n\n  - b < 2\nrooms: [x, y]\nramp: 1s:1/s\n")
	cases := []struct {
		key  string
		want []int
	}{
		{"thresholds", []int{3, 5}},
		{"rooms", []int{6, 6}},
		{"ramp", []int{7}}, // one value: its line
		{"pairs", nil},     // absent
	}
	for _, c := range cases {
		if got := ListLines(data, c.key); !slices.Equal(got, c.want) {
			t.Errorf("ListLines(%s) = %v; want %v", c.key, got, c.want)
		}
	}
	if got := ListLines([]byte("a: [\n"), "a"); got != nil {
		t.Errorf("ListLines of a broken file = %v; want nil", got)
	}
}
