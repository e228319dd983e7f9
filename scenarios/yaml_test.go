package scenarios

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// loadLikeCLI does what chatload run does with a scenario file and no flags.
func loadLikeCLI(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	name, err := PeekScenario(path, data)
	if err != nil {
		return Config{}, err
	}
	if name == "" {
		name = Steady
	}
	c, err := Default(name)
	if err != nil {
		return Config{}, err
	}
	if err := LoadFile(path, &c); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

func TestValidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/valid/*.yaml")
	}
	for _, f := range files {
		if _, err := loadLikeCLI(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestInvalidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.yaml")
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := bufio.NewReader(fh).ReadString('\n')
		fh.Close()
		want, ok := strings.CutPrefix(strings.TrimSpace(first), "# want: ")
		if !ok || !strings.HasPrefix(want, filepath.Base(f)+":") {
			t.Errorf("%s: first line %q; want \"# want: %s:LINE: error\"", f, first, filepath.Base(f))
			continue
		}
		_, err = loadLikeCLI(f)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error = %v; want containing %q", f, err, want)
		}
	}
}

// TestValidFileContents spot-checks what a few files mean.
func TestValidFileContents(t *testing.T) {
	cases := []struct {
		file  string
		check func(Config) bool
		want  string
	}{
		// Each list form of a ramp works; a ramp alone drops the default duration.
		{"steady-ramp-list.yaml", func(c Config) bool {
			return reflect.DeepEqual(c.Ramp, []Stage{{30 * time.Second, 100}, {2 * time.Minute, 100}, {30 * time.Second, 0}}) &&
				c.Duration == 0 && c.Rate == 0 && c.Rooms == 10
		}, "3 stages, no rate, no duration, 10 rooms"},
		// Iterations with a ramp: the default duration goes too.
		{"steady-ramp-string.yaml", func(c Config) bool {
			return len(c.Ramp) == 4 && c.Iterations == 100000 && c.Duration == 0 && c.MaxInFlight == 5000
		}, "4 stages, 100000 iterations, no duration"},
		// Rooms as a list; the users file next to the scenario file.
		{"fanout-room-list.yaml", func(c Config) bool {
			return c.Rooms == 0 && len(c.RoomList) == 3 && c.Rate == 1500 &&
				c.UsersFile == filepath.Join("testdata", "valid", "users.csv") &&
				RoomURIs(c)[2] == "sip:support@conf.example.test"
		}, "3 listed rooms, 1500/s, users file in testdata/valid"},
		// Concurrency alone makes a closed model.
		{"churn.yaml", func(c Config) bool { return c.Model() == "closed" && c.Concurrency == 5 && c.Rate == 0 }, "closed with 5 VUs"},
		{"message-sipp.yaml", func(c Config) bool {
			return c.To == "sip:uas@127.0.0.1:5080" && c.NoRegister && c.Rate == 50 && c.Users == 20
		}, "to sip:uas@..., no-register, 50/s, 20 users"},
		{"all-keys.yaml", func(c Config) bool {
			return c.Domain == "corp.example.test" && c.Seed == -7 && c.LogonRate == 2.0/3600 && c.ThinkTime == time.Second &&
				c.Model() == "closed" && c.Duration == 90*time.Second
		}, "domain lowercased, seed -7, closed model"},
	}
	for _, c := range cases {
		got, err := loadLikeCLI(filepath.Join("testdata", "valid", c.file))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if !c.check(got) {
			t.Errorf("%s: got %v; want %s", c.file, got, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		check func(Config) bool
		want  string
	}{
		// Keys absent from the file keep their values.
		{"partial", "pairs: 3\n", func(c Config) bool { return c.Pairs == 3 && c.Rate == 10 && c.Duration == 30*time.Second }, "pairs 3, defaults kept"},
		// A count of rooms replaces a list and the other way round.
		{"rooms count", "rooms: 4\n", func(c Config) bool { return c.Rooms == 4 && c.RoomList == nil }, "4 rooms"},
		{"rooms list", "rooms: [a, b]\n", func(c Config) bool { return c.Rooms == 0 && len(c.RoomList) == 2 }, "2 listed rooms"},
		{"rooms csv", "rooms: a, b\n", func(c Config) bool { return c.Rooms == 0 && len(c.RoomList) == 2 }, "2 listed rooms"},
		// Ramp stages as strings in a list.
		{"ramp string items", "ramp: [10s:5/s, 10s:0/s]\n", func(c Config) bool { return len(c.Ramp) == 2 && c.Ramp[0].Rate == 5 }, "2 stages"},
		// Aliases resolve.
		{"alias", "duration: &d 45s\ndelivery-timeout: *d\n", func(c Config) bool { return c.DeliveryTimeout == 45*time.Second }, "delivery timeout 45s"},
		// Quoted and tagged scalars are the same text.
		{"quoted", "rate: \"250/s\"\nseed: !!int 9\n", func(c Config) bool { return c.Rate == 250 && c.Seed == 9 }, "250/s, seed 9"},
		// An empty text clears a text setting.
		{"empty text", "target: \"\"\n", func(c Config) bool { return c.Target == "" }, "embedded target"},
		// Duration and iterations given together are both kept.
		{"duration and iterations", "duration: 1m\niterations: 10\n", func(c Config) bool { return c.Duration == time.Minute && c.Iterations == 10 }, "both"},
		// The history scenario's length of history.
		{"history", "scenario: history\nhistory: 7\n", func(c Config) bool { return c.History == 7 && c.Validate() == nil }, "history 7"},
	}
	for _, c := range cases {
		cfg := mustDefault(t, Steady)
		cfg.Target = "x:5060"
		if strings.Contains(c.in, "history") {
			cfg = mustDefault(t, History)
		}
		if err := Load("t.yaml", []byte(c.in), &cfg); err != nil {
			t.Errorf("%s: Load(%q) = %v", c.name, c.in, err)
			continue
		}
		if !c.check(cfg) {
			t.Errorf("%s: Load(%q) gave %v; want %s", c.name, c.in, cfg, c.want)
		}
	}
}

func TestLoadErrorLeavesConfig(t *testing.T) {
	c := mustDefault(t, Steady)
	before := c
	if err := Load("t.yaml", []byte("pairs: 3\nrate: nope\n"), &c); err == nil {
		t.Fatal("Load of a bad rate succeeded")
	}
	if !reflect.DeepEqual(c, before) {
		t.Errorf("failed Load changed the config to %v", c)
	}
}

func TestLoadFileMissing(t *testing.T) {
	c := mustDefault(t, Steady)
	err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"), &c)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("LoadFile(missing) = %v; want an error naming the file", err)
	}
}

func TestPeekScenario(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{"named", "rate: 5\nscenario: fanout\n", Fanout, ""},          // wherever it is
		{"absent", "rate: 5\n", "", ""},                               // the caller's default then
		{"unknown", "scenario: x\n", "", "p.yaml:1: scenario: \"x\""}, // with file:line
		{"twice", "scenario: steady\nscenario: login\n", "", "p.yaml:2: duplicate key"},
		{"list", "scenario: [steady]\n", "", "p.yaml:1: scenario: want one of"},
		{"broken", "scenario: [\n", "", "p.yaml:"},
	}
	for _, c := range cases {
		got, err := PeekScenario("p.yaml", []byte(c.in))
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: PeekScenario(%q) = %q, %v; want %q", c.name, c.in, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: PeekScenario(%q) error = %v; want containing %q", c.name, c.in, err, c.err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("rooms: &a [*a]\n"))
	f.Add([]byte("ramp: [{duration: 1s, rate: 1/s}, *x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = PeekScenario("f.yaml", data)
		c := Config{Scenario: Steady}
		if d, err := Default(Steady); err == nil {
			c = d
		}
		if err := Load("f.yaml", data, &c); err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Errorf("error %q does not start with the file name", err)
			}
			return
		}
		_ = c.String()
		if c.Validate() != nil {
			return
		}
		// A valid configuration survives its own echo.
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("MarshalJSON(%v): %v", c, err)
		}
		back, _ := Default(Login)
		if err := Load("echo.json", js, &back); err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("echo %s loaded as %v, %v; want %v", js, back, err, c)
		}
		if c.Model() == "open" {
			if s, err := NewSchedule(c); err == nil {
				prev := time.Duration(0)
				for i := range int64(100) {
					d, ok := s.Due(i)
					if !ok {
						break
					}
					if d < prev {
						t.Fatalf("Due(%d) = %v < Due(%d) = %v", i, d, i-1, prev)
					}
					prev = d
				}
				_ = s.RateAt(prev)
			}
		}
		if n := c.UserCount(); n <= 1000 {
			if _, err := Assign(c, someUsers(n)); err != nil && !bytes.Contains([]byte(err.Error()), []byte("needs")) {
				t.Fatalf("Assign(%v, %d users): %v", c, n, err)
			}
		}
	})
}
