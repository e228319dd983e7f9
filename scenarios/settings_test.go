package scenarios

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	cases := []struct {
		name     string
		scenario string
		flags    map[string]string
		check    func(Config) bool
		want     string // what check verifies
	}{
		// --concurrency alone makes steady a closed model: its default rate goes.
		{"concurrency alone", Steady, map[string]string{"concurrency": "5"},
			func(c Config) bool { return c.Model() == "closed" && c.Rate == 0 && c.Concurrency == 5 }, "closed, 5 VUs, rate 0"},
		// --rate on pair-cycle makes it open: its default VU goes.
		{"rate alone", PairCycle, map[string]string{"rate": "5/s", "duration": "1m"},
			func(c Config) bool { return c.Model() == "open" && c.Rate == 5 && c.Concurrency == 0 }, "open at 5/s, no VUs"},
		// Rate and concurrency together are both kept.
		{"rate and concurrency", Steady, map[string]string{"rate": "100", "concurrency": "50"},
			func(c Config) bool { return c.Rate == 100 && c.Concurrency == 50 }, "both kept"},
		// --iterations alone drops the default 30s.
		{"iterations alone", Steady, map[string]string{"iterations": "1000"},
			func(c Config) bool { return c.Iterations == 1000 && c.Duration == 0 }, "1000 iterations, no duration"},
		// --duration alone drops iterations given before.
		{"duration alone", Steady, map[string]string{"duration": "1m0s"},
			func(c Config) bool { return c.Duration == time.Minute && c.Iterations == 0 }, "1m, no iterations"},
		// --ramp alone replaces the rate and lets the last stage end the run.
		{"ramp alone", Steady, map[string]string{"ramp": "30s:100/s,1m:100/s"},
			func(c Config) bool { return c.Rate == 0 && c.Duration == 0 && len(c.Ramp) == 2 }, "2 stages, no rate, no duration"},
		// --ramp with --duration keeps the duration (it may cut the ramp short).
		{"ramp and duration", Steady, map[string]string{"ramp": "30s:100/s", "duration": "10s"},
			func(c Config) bool { return c.Duration == 10*time.Second && len(c.Ramp) == 1 }, "ramp cut at 10s"},
		// --expires is the registration expiry asked for (0: the protocol's).
		{"expires", Fanout, map[string]string{"expires": "1h"},
			func(c Config) bool { return c.Expires == time.Hour && c.Validate() == nil }, "1h, valid"},
		{"expires under a second", Fanout, map[string]string{"expires": "500ms"},
			func(c Config) bool {
				err := c.Validate()
				return err != nil && err.Error() == "--expires 500ms: want at least 1s"
			}, "refused by Validate: --expires 500ms: want at least 1s"},
		// --rooms takes a count or a list, and each replaces the other.
		{"rooms count", Fanout, map[string]string{"rooms": "5"},
			func(c Config) bool { return c.Rooms == 5 && c.RoomList == nil }, "5 rooms"},
		{"rooms list", Fanout, map[string]string{"rooms": "sip:a@conf.x, lobby"},
			func(c Config) bool {
				return c.Rooms == 0 && reflect.DeepEqual(c.RoomList, []string{"sip:a@conf.x", "lobby"})
			}, "2 listed rooms"},
		// --history sets how many messages the history scenario posts and fetches.
		{"history", History, map[string]string{"history": "50"},
			func(c Config) bool { return c.History == 50 && c.Validate() == nil }, "history 50"},
		// Flag names may keep their dashes; values as pflag prints them.
		{"pflag forms", Message, map[string]string{"--to": "uas@10.0.0.1", "no-register": "true", "seed": "-3", "transport": "TCP"},
			func(c Config) bool {
				return c.To == "sip:uas@10.0.0.1" && c.NoRegister && c.Seed == -3 && c.Transport == "tcp"
			}, "to with scheme, no-register, seed -3, tcp"},
	}
	for _, c := range cases {
		cfg := mustDefault(t, c.scenario)
		if c.scenario == Fanout {
			cfg.Rooms, cfg.RoomList = 0, []string{"x"} // so that a count must clear it
		}
		if err := cfg.Apply(c.flags); err != nil {
			t.Errorf("%s: Apply(%v) = %v", c.name, c.flags, err)
			continue
		}
		if !c.check(cfg) {
			t.Errorf("%s: Apply(%v) gave %v; want %s", c.name, c.flags, cfg, c.want)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	cases := []struct {
		flags map[string]string
		want  string
	}{
		{map[string]string{"ratee": "5"}, "--ratee: unknown setting (did you mean --rate?)"},
		{map[string]string{"room_size": "5"}, "--room_size: unknown setting (did you mean --room-size?)"},
		{map[string]string{"bogus": "5"}, "--bogus: unknown setting"},
		{map[string]string{"rate": "fast"}, `--rate: "fast": want a rate such as 200/s`},
		{map[string]string{"duration": "30"}, `--duration: "30" has no unit: write 30s or 30ms`},
		{map[string]string{"pairs": "-2"}, `--pairs: "-2" is negative`},
		{map[string]string{"pairs": "1.5"}, `--pairs: "1.5": want a whole number`},
		{map[string]string{"iterations": "99999999999999999999"}, `--iterations: "99999999999999999999" is too big`},
		{map[string]string{"rooms": "a,,b"}, `--rooms: "a,,b": room 2 is empty`},
		{map[string]string{"rooms": "-3"}, `--rooms: "-3" is negative`},
		{map[string]string{"rooms": "2.5"}, `--rooms: "2.5": want a whole number`},
		{map[string]string{"no-register": "maybe"}, `--no-register: "maybe": want true or false`},
		{map[string]string{"scenario": "stedy"}, `--scenario: "stedy": unknown scenario (known: pair-cycle`},
		{map[string]string{"protocol": "x/mpp"}, `--protocol: "x/mpp": want a protocol name`},
		{map[string]string{"ramp": "1m"}, `--ramp: stage 1: "1m": want DURATION:RATE`},
		// Errors come in key order, so the same one every time.
		{map[string]string{"rate": "x", "duration": "y"}, "--duration:"},
	}
	for _, c := range cases {
		cfg := mustDefault(t, Steady)
		before := cfg
		err := cfg.Apply(c.flags)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Apply(%v) = %v; want containing %q", c.flags, err, c.want)
		}
		if !reflect.DeepEqual(cfg, before) {
			t.Errorf("Apply(%v) failed but changed the config to %v", c.flags, cfg)
		}
	}
}

// TestLayers: defaults, then the file, then the flags; each layer's choices replace
// the ones below.
func TestLayers(t *testing.T) {
	file := []byte("scenario: steady\nrate: 200/s\nduration: 2m\npairs: 4\n")
	name, err := PeekScenario("s.yaml", file)
	if err != nil || name != Steady {
		t.Fatalf("PeekScenario = %q, %v; want steady", name, err)
	}
	c := mustDefault(t, name)
	if err := Load("s.yaml", file, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(map[string]string{"concurrency": "8", "iterations": "500"}); err != nil {
		t.Fatal(err)
	}
	if c.Model() != "closed" || c.Concurrency != 8 || c.Rate != 0 || c.Iterations != 500 || c.Duration != 0 || c.Pairs != 4 {
		t.Errorf("layers gave %v; want closed, 8 VUs, 500 iterations, no duration, 4 pairs", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}
