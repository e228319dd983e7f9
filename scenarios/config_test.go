package scenarios

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustDefault(t *testing.T, scenario string) Config {
	t.Helper()
	c, err := Default(scenario)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	for _, name := range Names() {
		c := mustDefault(t, name)
		err := c.Validate()
		switch name {
		case PairCycle:
			// The loop has no natural length: the user says how long or how many.
			if err == nil || !strings.Contains(err.Error(), "--duration and --iterations are both 0") {
				t.Errorf("Default(%s).Validate() = %v; want the missing --duration or --iterations", name, err)
			}
			c.Iterations = 10
		case Message:
			// There is no default target URI.
			if err == nil || !strings.Contains(err.Error(), "--to:") {
				t.Errorf("Default(%s).Validate() = %v; want the missing --to", name, err)
			}
			c.To = "sip:uas@127.0.0.1"
		default:
			if err != nil {
				t.Errorf("Default(%s).Validate() = %v; want nil", name, err)
			}
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Default(%s) completed: Validate() = %v; want nil", name, err)
		}
		proto, transport := "imc", "udp"
		if name == History { // only xccos has history
			proto, transport = "xccos", "tls"
		}
		if c.Scenario != name || c.Seed != 1 || c.Domain != "example.test" || c.Protocol != proto || c.Transport != transport ||
			c.DeliveryTimeout != 10*time.Second || c.Timeout != 10*time.Second || c.MessageSize != 64 ||
			c.MaxInFlight != 10000 || c.LogonParallel != 64 {
			t.Errorf("Default(%s) = %v; want the common defaults", name, c)
		}
	}
	if _, err := Default("stedy"); err == nil || !strings.Contains(err.Error(), "known: pair-cycle, steady, fanout, churn, login, message") {
		t.Errorf("Default(stedy) error = %v; want the list of known scenarios", err)
	}
}

func TestDefaultShapes(t *testing.T) {
	cases := []struct {
		name                       string
		model                      string
		rooms, users, pairs, rsize int
	}{
		{PairCycle, "closed", 1, 2, 1, 0}, // one pair, its own room, one virtual user
		{Steady, "open", 10, 20, 10, 0},   // 10 pairs, a room each
		{Fanout, "open", 1, 10, 0, 10},    // one room of 10
		{Churn, "open", 1, 10, 0, 0},      // 10 users in and out of one room
		{Login, "open", 0, 10, 0, 0},      // 10 users, no rooms
		{Message, "open", 0, 10, 0, 0},    // 10 users, no rooms
		{History, "open", 1, 10, 0, 0},    // 10 users in one room
	}
	for _, c := range cases {
		cfg := mustDefault(t, c.name)
		if got := cfg.Model(); got != c.model {
			t.Errorf("%s: Model() = %q; want %q", c.name, got, c.model)
		}
		if got := len(RoomURIs(cfg)); got != c.rooms {
			t.Errorf("%s: %d rooms; want %d", c.name, got, c.rooms)
		}
		if got := cfg.UserCount(); got != c.users {
			t.Errorf("%s: UserCount() = %d; want %d", c.name, got, c.users)
		}
		if cfg.Pairs != c.pairs || cfg.RoomSize != c.rsize {
			t.Errorf("%s: pairs %d, room size %d; want %d, %d", c.name, cfg.Pairs, cfg.RoomSize, c.pairs, c.rsize)
		}
	}
	// History: 20 messages per room, over xccos.
	if h := mustDefault(t, History); h.History != 20 || h.Protocol != "xccos" || h.Transport != "tls" {
		t.Errorf("Default(history) = %v; want history=20 over xccos/tls", h)
	}
	for _, name := range []string{PairCycle, Steady, Fanout, Churn, Login, Message} {
		if h := mustDefault(t, name).History; h != 0 {
			t.Errorf("Default(%s).History = %d; want 0 (history only)", name, h)
		}
	}
	// Steady's rooms follow its pairs unless --rooms says.
	c := mustDefault(t, Steady)
	c.Pairs = 50
	if got := len(RoomURIs(c)); got != 50 {
		t.Errorf("steady with 50 pairs: %d rooms; want 50", got)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name     string
		scenario string
		edit     func(*Config)
		want     string // "" = valid
	}{
		// Valid variations.
		{"steady closed", Steady, func(c *Config) { c.Rate, c.Concurrency = 0, 5 }, ""},
		{"steady ramp", Steady, func(c *Config) { c.Rate, c.Duration, c.Ramp = 0, 0, []Stage{{time.Minute, 100}} }, ""},
		{"ramp cut short by duration", Steady, func(c *Config) { c.Rate, c.Ramp = 0, []Stage{{time.Minute, 100}} }, ""},
		{"udp at its limit", Steady, func(c *Config) { c.MessageSize = 700 }, ""},
		{"big over tcp", Fanout, func(c *Config) { c.MessageSize, c.Transport = 8000, "tcp" }, ""},
		{"message without registrar", Message, func(c *Config) { c.To, c.NoRegister = "sip:uas@10.0.0.1:5060", true }, ""},
		{"room list", Fanout, func(c *Config) { c.Rooms, c.RoomList = 0, []string{"sip:a@conf.x", "b"} }, ""},
		{"users more than needed", Steady, func(c *Config) { c.Users = 100 }, ""},
		{"login with users file", Login, func(c *Config) { c.UsersFile = "u.csv" }, ""},
		{"iterations and duration", Steady, func(c *Config) { c.Iterations = 100 }, ""},
		{"target", Steady, func(c *Config) { c.Target = "[::1]:5060" }, ""},
		{"login closed", Login, func(c *Config) { c.Rate, c.Concurrency, c.ThinkTime = 0, 3, time.Second }, ""},

		// The load.
		{"no end", Steady, func(c *Config) { c.Duration = 0 }, "--duration and --iterations are both 0: steady needs one"},
		{"no model", Steady, func(c *Config) { c.Rate = 0 }, "--rate and --concurrency are both 0"},
		{"negative rate", Steady, func(c *Config) { c.Rate = -1 }, "--rate -1/s is negative"},
		{"rate NaN", Steady, func(c *Config) { c.Rate = Rate(math.NaN()) }, "--rate NaN: not a number"},
		{"rate too high", Steady, func(c *Config) { c.Rate = 2e7 }, "--rate 20000000/s is more than the maximum"},
		{"rate and ramp", Steady, func(c *Config) { c.Ramp = []Stage{{time.Minute, 100}} }, "--rate and --ramp: give one"},
		{"ramp of no time", Steady, func(c *Config) { c.Rate, c.Ramp = 0, []Stage{{0, 100}} }, "--ramp: the stages last 0s in all"},
		{"ramp of zeros", Steady, func(c *Config) { c.Rate, c.Ramp = 0, []Stage{{time.Minute, 0}} }, "--ramp: every stage has rate 0"},
		{"ramp stage rate", Steady, func(c *Config) { c.Rate, c.Ramp = 0, []Stage{{time.Minute, 10}, {time.Minute, -2}} }, "--ramp: stage 2: rate -2/s is negative"},
		{"duration beyond ramp", Steady, func(c *Config) { c.Rate, c.Duration, c.Ramp = 0, 3*time.Minute, []Stage{{time.Minute, 100}} },
			"--duration 3m is longer than the --ramp stages (1m in all): a ramp ends with its last stage; add a stage such as 2m:RATE"},
		{"negative concurrency", Steady, func(c *Config) { c.Concurrency = -1 }, "--concurrency -1 is negative"},
		{"negative in flight", Steady, func(c *Config) { c.MaxInFlight = -1 }, "--max-in-flight -1 is negative"},
		{"no in-flight cap", Steady, func(c *Config) { c.MaxInFlight = 0 }, "--max-in-flight 0: the open model needs a cap"},
		{"negative duration", Steady, func(c *Config) { c.Duration = -time.Second }, "--duration -1s is negative"},
		{"negative iterations", Steady, func(c *Config) { c.Iterations = -1 }, "--iterations -1 is negative"},
		{"negative think time", PairCycle, func(c *Config) { c.Iterations, c.ThinkTime = 5, -1 }, "--think-time -1ns is negative"},
		{"think time open", Steady, func(c *Config) { c.ThinkTime = time.Second }, "--think-time 1s: only the closed model"},
		{"negative logon rate", Steady, func(c *Config) { c.LogonRate = -3 }, "--logon-rate -3/s is negative"},

		// Who and where.
		{"fanout room of one", Fanout, func(c *Config) { c.RoomSize = 1 }, "--room-size 1: fanout needs at least 2 members per room"},
		{"room count and list", Fanout, func(c *Config) { c.Rooms, c.RoomList = 3, []string{"a", "b"} }, "--rooms: a count (3) and a list of 2 rooms: give one"},
		{"room twice", Fanout, func(c *Config) { c.Rooms, c.RoomList = 0, []string{"a", "sip:a@conf.example.test"} }, "--rooms: room 2 sip:a@conf.example.test is room 1 again"},
		{"room with space", Fanout, func(c *Config) { c.Rooms, c.RoomList = 0, []string{"a b"} }, "--rooms: room 1 \"a b\""},
		{"no rooms", Churn, func(c *Config) { c.Rooms = 0 }, "--rooms 0: churn needs at least one room"},
		{"negative pairs", Steady, func(c *Config) { c.Pairs = -1 }, "--pairs -1 is negative"},
		{"no pairs", Steady, func(c *Config) { c.Pairs = 0 }, "--pairs 0: steady needs at least one pair"},
		{"pairs in fanout", Fanout, func(c *Config) { c.Pairs = 3 }, "--pairs 3: only pair-cycle and steady have pairs (fanout does not)"},
		{"room size in steady", Steady, func(c *Config) { c.RoomSize = 3 }, "--room-size 3: only fanout"},
		{"rooms in login", Login, func(c *Config) { c.Rooms = 3 }, "--rooms: login uses no rooms"},
		{"negative rooms", Fanout, func(c *Config) { c.Rooms = -1 }, "--rooms -1 is negative"},
		{"negative room size", Fanout, func(c *Config) { c.RoomSize = -1 }, "--room-size -1 is negative"},
		{"negative users", Login, func(c *Config) { c.Users = -1 }, "--users -1 is negative"},
		{"users and users file", Login, func(c *Config) { c.Users, c.UsersFile = 5, "u.csv" }, "--users 5 and --users-file u.csv: give one"},
		{"too few users", Steady, func(c *Config) { c.Users = 15 }, "--users 15: steady with 10 pairs needs 20 users"},
		{"too few users fanout", Fanout, func(c *Config) { c.Users, c.Rooms = 15, 2 }, "--users 15: fanout with 2 rooms of 10 needs 20 users"},
		{"pair-cycle VUs beyond pairs", PairCycle, func(c *Config) { c.Iterations, c.Concurrency = 5, 4 }, "--concurrency 4 is more than --pairs 1"},
		{"no logon parallelism", Steady, func(c *Config) { c.LogonParallel = 0 }, "--logon-parallel 0: want at least 1"},

		// What is sent.
		{"udp too big", Steady, func(c *Config) { c.MessageSize = 1400 }, "--message-size 1400 is too big for UDP"},
		{"udp too big says tcp", Fanout, func(c *Config) { c.MessageSize = 1301 }, "use --transport tcp"},
		{"huge message", Steady, func(c *Config) { c.MessageSize, c.Transport = 1<<20, "tcp" }, "--message-size 1048576 is more than the maximum"},
		{"negative message size", Login, func(c *Config) { c.MessageSize = -1 }, "--message-size -1 is negative"},
		{"empty message", Steady, func(c *Config) { c.MessageSize = 0 }, "--message-size 0: want at least 1 byte"},
		{"message without to", Message, func(c *Config) { c.To = "" }, "--to: the message scenario needs the request URI"},
		{"to in steady", Steady, func(c *Config) { c.To = "sip:x@y" }, "--to sip:x@y: only the message scenario"},
		{"no-register outside message", Login, func(c *Config) { c.NoRegister = true }, "--no-register: only the message scenario"},
		{"no delivery timeout", Steady, func(c *Config) { c.DeliveryTimeout = 0 }, "--delivery-timeout 0s: want more than 0"},
		{"no timeout", Login, func(c *Config) { c.Timeout = 0 }, "--timeout 0s: want more than 0"},
		{"history of none", History, func(c *Config) { c.History = 0 }, "--history 0: want at least 1 message"},
		{"history too long", History, func(c *Config) { c.History = 1001 }, "--history 1001 is more than the maximum 1000"},
		{"history in churn", Churn, func(c *Config) { c.History = 5 }, "--history 5: only the history scenario fetches history (churn does not)"},
		{"history without rooms", History, func(c *Config) { c.Rooms = 0 }, "--rooms 0: history needs at least one room"},
		{"history closed", History, func(c *Config) { c.Rate, c.Concurrency, c.History = 0, 3, 1000 }, ""},

		// Words.
		{"unknown scenario", "nope", nil, "--scenario \"nope\": unknown scenario (known: pair-cycle"},
		{"protocol not a name", Steady, func(c *Config) { c.Protocol = "x mpp" }, "--protocol \"x mpp\": want a protocol name"},
		{"unknown transport", Steady, func(c *Config) { c.Transport = "sctp" }, "--transport \"sctp\": want udp, tcp or tls"},
		{"target URL", Steady, func(c *Config) { c.Target = "sip://host" }, "--target \"sip://host\": want HOST or HOST:PORT"},
		{"target URI", Steady, func(c *Config) { c.Target = "sip:host:5060" }, "--target \"sip:host:5060\": want HOST or HOST:PORT"},
		{"empty domain", Steady, func(c *Config) { c.Domain = "" }, "--domain \"\": want a domain name"},
	}
	for _, c := range cases {
		cfg := Config{Scenario: c.scenario}
		if d, err := Default(c.scenario); err == nil {
			cfg = d
		}
		if c.scenario == Message {
			cfg.To = "sip:uas@127.0.0.1"
		}
		if c.edit != nil {
			c.edit(&cfg)
		}
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v; want nil", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: Validate() = %v; want containing %q", c.name, err, c.want)
		}
	}
}

func TestString(t *testing.T) {
	c := mustDefault(t, Fanout)
	c.RoomList, c.Rooms = []string{"sip:a@conf.x", "sip:b@conf.x"}, 0
	got := c.String()
	want := "scenario=fanout target=embedded protocol=imc transport=udp model=open rate=10/s max-in-flight=10000 duration=30s " +
		"rooms=sip:a@conf.x,sip:b@conf.x room-size=10 message-size=64 delivery-timeout=10s timeout=10s logon-parallel=64 domain=example.test seed=1"
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

// TestJSONIsAScenarioFile: the report's echo of a configuration, loaded as a scenario
// file onto any scenario's defaults, gives the configuration back.
func TestJSONIsAScenarioFile(t *testing.T) {
	ramp := mustDefault(t, Steady)
	ramp.Rate, ramp.Duration, ramp.Ramp = 0, 0, []Stage{{30 * time.Second, 100}, {0, 50}, {90 * time.Second, 1.0 / 3}}
	ramp.Target, ramp.UsersFile, ramp.Seed, ramp.LogonRate = "sip.example.test:5070", "users.csv", -4, 2.0/3600
	closed := mustDefault(t, PairCycle)
	closed.Iterations, closed.ThinkTime, closed.Pairs, closed.Concurrency, closed.Rooms = 1000, 250*time.Millisecond, 4, 4, 2
	list := mustDefault(t, Fanout)
	list.Rooms, list.RoomList = 0, []string{"sip:a@conf.x", "lobby"}
	msg := mustDefault(t, Message)
	msg.To, msg.NoRegister, msg.Users, msg.Transport = "sip:uas@10.0.0.1", true, 7, "tcp"

	for _, c := range []Config{ramp, closed, list, msg} {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, base := range []string{Steady, Login} {
			got := mustDefault(t, base)
			if err := Load("report.json", data, &got); err != nil {
				t.Errorf("Load(%s) onto %s: %v", data, base, err)
				continue
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("Load(%s) onto %s =\n%#v\nwant\n%#v", data, base, got, c)
			}
		}
	}
	data, _ := json.Marshal(ramp)
	for _, part := range []string{`"scenario":"steady"`, `"rate":"0/s"`, `"ramp":[{"duration":"30s","rate":"100/s"},{"duration":"0s","rate":"50/s"},{"duration":"1m30s","rate":"20/m"}]`,
		`"duration":"0s"`, `"max-in-flight":10000`, `"rooms":0`, `"users-file":"users.csv"`, `"logon-rate":"2/h"`, `"seed":-4`, `"no-register":false`} {
		if !strings.Contains(string(data), part) {
			t.Errorf("JSON %s; want it to contain %s", data, part)
		}
	}
}
