package scenarios

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const (
	// defaultUsers is how many users to generate for churn, login and message when
	// Users does not say.
	defaultUsers = 10
	// maxMessageSize bounds --message-size: SIP servers commonly refuse requests over
	// 64 KiB.
	maxMessageSize = 60000
	// maxUDPMessageSize bounds --message-size over UDP: sipgo refuses a datagram over
	// 1300 bytes (ErrUDPMTUCongestion), and a MESSAGE's request line and headers
	// (Via, From, To, Call-ID, Contact, a digest Authorization) take about 600 of them.
	maxUDPMessageSize = 700
)

// Config is a run configuration: the scenario, the load and the population. Its zero
// value is not usable: start from Default, apply a scenario file (Load) and the flags
// (Apply), then Validate. YAML keys and flag names are the same kebab-case words
// (given after each field); durations read and print as "20s", rates as "200/s".
// It is a plain value, safe to copy; its methods are pure and safe for concurrent use,
// except Apply (and Load), which modify it. Its JSON form (MarshalJSON) is a scenario
// file that reproduces it.
type Config struct {
	Scenario  string // scenario: pair-cycle|steady|fanout|churn|login|message|history
	Target    string // target: host[:port] of the registrar/proxy; "" = the embedded server
	Protocol  string // protocol: imc (xccos later)
	Transport string // transport: udp|tcp|tls
	Auth      string // auth: auto|digest|ntlm|kerberos ("" = auto): the scheme answered, by name, from those the server offers
	Krb5Conf  string // krb5-conf: Kerberos configuration file (realms, KDCs) for auth kerberos/auto
	// Krb5Keytab is krb5-keytab: a keytab holding the users' keys, used for
	// Kerberos instead of their passwords.
	Krb5Keytab string
	// TransportSharing is transport-sharing: per-user (a socket or connection per
	// user), shared (N chosen by the load) or shared:N (users spread over N);
	// "" = the protocol's default (per-user for tls and xccos, shared for imc
	// over udp and tcp).
	TransportSharing string

	Rate        Rate          // rate: open model: arrivals of the scenario's unit per second (0 = closed model)
	Ramp        []Stage       // ramp: open model with stages instead of a fixed Rate
	Concurrency int           // concurrency: closed model: virtual users looping; also caps in-flight in the open model when MaxInFlight is 0
	MaxInFlight int           // max-in-flight: open model: ops in flight at most; an op due beyond it is counted as dropped (default 10000)
	Duration    time.Duration // duration: steady phase length (0 with Iterations; with a Ramp, 0 = until the last stage ends)
	Iterations  int64         // iterations: total ops (0 with Duration)
	ThinkTime   time.Duration // think-time: closed model: pause between a virtual user's ops

	Pairs    int      // pairs: steady, pair-cycle: sender/receiver pairs
	Rooms    int      // rooms: number of rooms room001.. (imc: at conf.<Domain>); steady, pair-cycle: 0 = one room per pair
	RoomList []string // rooms (as a list): explicit room URIs instead of Rooms
	RoomSize int      // room-size: fanout: members per room
	Users    int      // users: users to take part (churn, login, message, history) or to generate; 0 = what the scenario takes (UserCount); not with UsersFile

	UsersFile       string        // users-file: CSV users (else generated users of the embedded server)
	MessageSize     int           // message-size: bytes of each posted body (default 64)
	DeliveryTimeout time.Duration // delivery-timeout: a copy not received by then is lost (default 10s)
	Timeout         time.Duration // timeout: per operation (default 10s)
	LogonRate       Rate          // logon-rate: log-ons per second during setup (0 = unlimited)
	LogonParallel   int           // logon-parallel: log-ons in flight during setup (default 64)
	Expires         time.Duration // expires: registration expiry asked of the registrar (0 = none asked: the registrar's default)
	To              string        // to: message scenario: request URI
	NoRegister      bool          // no-register: message scenario: send without a registrar
	AllowFailures   bool          // allow-failures: the run's exit status ignores failed operations and a schedule not held (the CLI's exit 4 and 5)
	History         int           // history: history scenario: messages posted per room before the steady phase, and fetched back by each op (default 20)
	Domain          string        // domain: users' domain for generated users, and rooms' (conf.<Domain>) (default example.test)
	Seed            int64         // seed: assignment seed (default 1)
	Segment         Segment       // segment: i/n: this process's slice of a distributed run (0-based; "" = all of it)
	// Thresholds are the run's pass/fail criteria ("delivery.p99 < 250ms"; the grammar is
	// report.ParseThreshold's, which the CLI checks: scenarios does not import report).
	// YAML key thresholds (a list, or one text); flag --threshold (repeatable), which adds
	// to the file's.
	Thresholds []string
}

// Default returns the built-in scenario's configuration with every setting at its
// default: Protocol imc, Transport udp, MaxInFlight 10000, MessageSize 64,
// DeliveryTimeout and Timeout 10s, LogonParallel 64, Domain example.test, Seed 1, and
// for the open-model scenarios Rate 10/s for 30s. pair-cycle is closed (Concurrency 1,
// Pairs 1) with neither Duration nor Iterations: the user must say. Steady has 10
// pairs, a room each; fanout 1 room of 10; churn 1 room; churn, login and message 10
// users; message has no To; history 1 room, 10 users, History 20, Protocol xccos and
// Transport tls (the imc protocol has no history).
func Default(scenario string) (Config, error) {
	c := Config{
		Scenario:        scenario,
		Protocol:        "imc",
		Transport:       "udp",
		Rate:            10,
		MaxInFlight:     10000,
		Duration:        30 * time.Second,
		MessageSize:     64,
		DeliveryTimeout: 10 * time.Second,
		Timeout:         10 * time.Second,
		LogonParallel:   64,
		Domain:          "example.test",
		Seed:            1,
	}
	u, ok := unitOf(scenario)
	if !ok {
		return Config{}, unknownScenario(scenario)
	}
	u.Defaults(&c)
	return c, nil
}

// KeepsLoggedOn reports whether c's scenario keeps its users logged on for the
// whole run (not within each operation).
func (c Config) KeepsLoggedOn() bool { return !c.uses().PerOp }

// uses is c's scenario's Uses (none for an unknown scenario: Validate names it).
func (c Config) uses() Uses {
	if u, ok := unitOf(c.Scenario); ok {
		return u.Uses()
	}
	return Uses{}
}

func unknownScenario(name string) error {
	return fmt.Errorf("--scenario %q: unknown scenario (known: %s)", name, strings.Join(Names(), ", "))
}

// Model returns "open" when c paces by Rate or Ramp, else "closed".
func (c Config) Model() string {
	if c.Rate > 0 || len(c.Ramp) > 0 {
		return "open"
	}
	return "closed"
}

// roomCount returns the number of rooms c uses: len(RoomList), else Rooms, else (for
// steady and pair-cycle) one per pair; 0 for scenarios without rooms.
func (c Config) roomCount() int {
	k := c.uses()
	switch {
	case !k.Rooms:
		return 0
	case len(c.RoomList) > 0:
		return len(c.RoomList)
	case c.Rooms > 0:
		return c.Rooms
	case k.Pairs:
		return c.Pairs
	}
	return 0
}

// UserCount returns how many users to generate when there is no users file: Users
// when set, else what the scenario takes: 2*Pairs for steady and pair-cycle,
// rooms*RoomSize for fanout, 10 for churn, login, message and history. (With a users
// file, churn, login, message and history take all of its users unless Users says fewer; see Assign.)
func (c Config) UserCount() int {
	if n := c.need(); n > 0 {
		return max(n, c.Users)
	}
	if c.Users > 0 {
		return c.Users
	}
	return defaultUsers
}

// need returns how many users the pairs or rooms take (0 for churn, login, message).
func (c Config) need() int {
	k := c.uses()
	switch {
	case k.Pairs:
		return 2 * c.Pairs
	case k.RoomSize && k.Shared && c.Users > 0:
		return max(c.Users, c.RoomSize) // members shared between rooms: Users of them
	case k.RoomSize:
		return c.roomCount() * c.RoomSize
	}
	return 0
}

// Validate reports the first setting that is wrong or conflicts with another, naming
// its flag ("--rate ...", "--room-size ...") and what is wrong.
func (c Config) Validate() error {
	u, ok := unitOf(c.Scenario)
	if !ok {
		return unknownScenario(c.Scenario)
	}
	if err := checkWords(c); err != nil {
		return err
	}
	if err := c.checkLoad(); err != nil {
		return err
	}
	k := u.Uses()
	if err := c.checkPopulation(k); err != nil {
		return err
	}
	if err := c.checkMessages(k); err != nil {
		return err
	}
	if err := u.Check(c); err != nil {
		return err
	}
	if err := c.checkSegment(k); err != nil {
		return err
	}
	for i, t := range c.Thresholds {
		if err := checkThreshold(t); err != nil {
			return fmt.Errorf("--threshold %d %q: %v", i+1, t, err)
		}
	}
	return nil
}

func checkWords(c Config) error {
	if !isWord(c.Protocol) {
		return fmt.Errorf("--protocol %q: want a protocol name such as imc or xccos", c.Protocol)
	}
	switch c.Transport {
	case "udp", "tcp", "tls":
	default:
		return fmt.Errorf("--transport %q: want udp, tcp or tls", c.Transport)
	}
	if t := strings.ToLower(c.Target); t != "" && (strings.ContainsAny(t, " \t\r\n/@") || strings.HasPrefix(t, ":") ||
		strings.HasPrefix(t, "sip:") || strings.HasPrefix(t, "sips:")) {
		return fmt.Errorf("--target %q: want HOST or HOST:PORT (no scheme, user or path)", c.Target)
	}
	if c.TransportSharing != "" {
		if _, err := ParseSharing(c.TransportSharing); err != nil {
			return fmt.Errorf("--transport-sharing %v", err)
		}
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, " \t\r\n/@:;") {
		return fmt.Errorf("--domain %q: want a domain name such as example.test", c.Domain)
	}
	return nil
}

// checkLoad checks the load model and the end of the steady phase.
func (c Config) checkLoad() error {
	if err := checkRate("--rate", c.Rate); err != nil {
		return err
	}
	if err := checkRate("--logon-rate", c.LogonRate); err != nil {
		return err
	}
	var rampLen time.Duration
	if len(c.Ramp) > 0 {
		if c.Rate > 0 {
			return errors.New("--rate and --ramp: give one (a ramp sets the rate stage by stage)")
		}
		anyRate := false
		for i, st := range c.Ramp {
			if st.Duration < 0 {
				return fmt.Errorf("--ramp: stage %d: duration %v is negative", i+1, st.Duration)
			}
			if err := checkRate(fmt.Sprintf("--ramp: stage %d: rate", i+1), st.Rate); err != nil {
				return err
			}
			if st.Duration > math.MaxInt64-rampLen {
				return fmt.Errorf("--ramp: the stages last too long")
			}
			rampLen += st.Duration
			anyRate = anyRate || st.Rate > 0
		}
		if rampLen == 0 {
			return errors.New("--ramp: the stages last 0s in all")
		}
		if !anyRate {
			return errors.New("--ramp: every stage has rate 0: nothing would run")
		}
	}
	switch {
	case c.Concurrency < 0:
		return fmt.Errorf("--concurrency %d is negative", c.Concurrency)
	case c.MaxInFlight < 0:
		return fmt.Errorf("--max-in-flight %d is negative", c.MaxInFlight)
	case c.Duration < 0:
		return fmt.Errorf("--duration %v is negative", c.Duration)
	case c.Iterations < 0:
		return fmt.Errorf("--iterations %d is negative", c.Iterations)
	case c.ThinkTime < 0:
		return fmt.Errorf("--think-time %v is negative", c.ThinkTime)
	}
	if c.Model() == "open" {
		if c.ThinkTime > 0 {
			return fmt.Errorf("--think-time %v: only the closed model (--concurrency) thinks; the open model is paced by --rate", fmtDuration(c.ThinkTime))
		}
		if c.MaxInFlight == 0 && c.Concurrency == 0 {
			return errors.New("--max-in-flight 0: the open model needs a cap on operations in flight")
		}
	} else if c.Concurrency == 0 {
		return errors.New("--rate and --concurrency are both 0: give an arrival rate (open model) or a number of virtual users (closed model)")
	}
	if rampLen > 0 {
		if c.Duration > rampLen {
			return fmt.Errorf("--duration %s is longer than the --ramp stages (%s in all): a ramp ends with its last stage; add a stage such as %s:RATE to hold a rate",
				fmtDuration(c.Duration), fmtDuration(rampLen), fmtDuration(c.Duration-rampLen))
		}
	} else if c.Duration == 0 && c.Iterations == 0 {
		return fmt.Errorf("--duration and --iterations are both 0: %s needs one (how long, or how many operations)", c.Scenario)
	}
	return nil
}

func checkRate(flag string, r Rate) error {
	switch f := float64(r); {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return fmt.Errorf("%s %v: not a number", flag, f)
	case f < 0:
		return fmt.Errorf("%s %s is negative", flag, r)
	case f > MaxRate:
		return fmt.Errorf("%s %s is more than the maximum %s", flag, r, Rate(MaxRate))
	}
	return nil
}

// checkPopulation checks users, pairs and rooms.
func (c Config) checkPopulation(k Uses) error {
	switch {
	case c.Pairs < 0:
		return fmt.Errorf("--pairs %d is negative", c.Pairs)
	case c.Rooms < 0:
		return fmt.Errorf("--rooms %d is negative", c.Rooms)
	case c.RoomSize < 0:
		return fmt.Errorf("--room-size %d is negative", c.RoomSize)
	case c.Users < 0:
		return fmt.Errorf("--users %d is negative", c.Users)
	case c.LogonParallel < 1:
		return fmt.Errorf("--logon-parallel %d: want at least 1", c.LogonParallel)
	case c.Expires < 0 || (c.Expires > 0 && c.Expires < time.Second):
		return fmt.Errorf("--expires %s: want at least 1s", fmtDuration(c.Expires))
	case c.Users > 0 && c.UsersFile != "":
		return fmt.Errorf("--users %d and --users-file %s: give one (the users file says who takes part)", c.Users, c.UsersFile)
	case c.Rooms > 0 && len(c.RoomList) > 0:
		return fmt.Errorf("--rooms: a count (%d) and a list of %d rooms: give one", c.Rooms, len(c.RoomList))
	}
	if !k.Pairs && c.Pairs != 0 {
		names, n := namesWhere(func(u Uses) bool { return u.Pairs })
		return fmt.Errorf("--pairs %d: only %s %s pairs (%s does not)", c.Pairs, names, verb(n, "has", "have"), c.Scenario)
	}
	if !k.RoomSize && c.RoomSize != 0 {
		names, n := namesWhere(func(u Uses) bool { return u.RoomSize })
		return fmt.Errorf("--room-size %d: only %s %s a room size (%s does not)", c.RoomSize, names, verb(n, "has", "have"), c.Scenario)
	}
	if !k.Rooms && (c.Rooms != 0 || len(c.RoomList) > 0) {
		return fmt.Errorf("--rooms: %s uses no rooms", c.Scenario)
	}
	seen := map[string]int{}
	for i, r := range c.RoomList {
		if r == "" || strings.ContainsAny(r, " \t\r\n,") {
			return fmt.Errorf("--rooms: room %d %q: want a room URI such as sip:room001@conf.example.test", i+1, r)
		}
		u := strings.ToLower(roomURI(r, c.Domain))
		if j, dup := seen[u]; dup {
			return fmt.Errorf("--rooms: room %d %s is room %d again", i+1, r, j+1)
		}
		seen[u] = i
	}
	if k.Pairs {
		if c.Pairs < 1 {
			return fmt.Errorf("--pairs %d: %s needs at least one pair", c.Pairs, c.Scenario)
		}
	}
	if k.RoomSize && c.RoomSize < 2 {
		return fmt.Errorf("--room-size %d: %s needs at least 2 members per room (a poster and a receiver)", c.RoomSize, c.Scenario)
	}
	if k.Rooms && c.roomCount() < 1 {
		return fmt.Errorf("--rooms 0: %s needs at least one room", c.Scenario)
	}
	if n := c.need(); c.Users > 0 && c.Users < n {
		return fmt.Errorf("--users %d: %s with %s needs %d users", c.Users, c.Scenario, c.needs(), n)
	}
	return nil
}

// needs describes what sets need, for error messages: "10 pairs".
func (c Config) needs() string {
	k := c.uses()
	switch {
	case k.Pairs:
		return plural(c.Pairs, "pair")
	case k.RoomSize:
		return fmt.Sprintf("%s of %d", plural(c.roomCount(), "room"), c.RoomSize)
	}
	return fmt.Sprintf("--users %d", c.Users)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// checkMessages checks what is posted and to whom.
func (c Config) checkMessages(k Uses) error {
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout %v: want more than 0", c.Timeout)
	case c.DeliveryTimeout < 0, k.Deliveries && c.DeliveryTimeout == 0:
		return fmt.Errorf("--delivery-timeout %v: want more than 0", c.DeliveryTimeout)
	case c.MessageSize < 0:
		return fmt.Errorf("--message-size %d is negative", c.MessageSize)
	}
	if k.Posts {
		switch {
		case c.MessageSize < 1:
			return fmt.Errorf("--message-size %d: want at least 1 byte", c.MessageSize)
		case c.MessageSize > maxMessageSize:
			return fmt.Errorf("--message-size %d is more than the maximum %d", c.MessageSize, maxMessageSize)
		case c.Transport == "udp" && c.MessageSize > maxUDPMessageSize:
			return fmt.Errorf("--message-size %d is too big for UDP: a SIP request over UDP must fit 1300 bytes with its headers (about 600): use --transport tcp (or --message-size %d at most)",
				c.MessageSize, maxUDPMessageSize)
		}
	}
	if !k.To {
		names, n := namesWhere(func(u Uses) bool { return u.To })
		if c.To != "" {
			return fmt.Errorf("--to %s: only the %s %s to a URI (%s does not)", c.To, names, verb(n, "scenario sends", "scenarios send"), c.Scenario)
		}
		if c.NoRegister {
			return fmt.Errorf("--no-register: only the %s %s without registering (%s logs its users on)", names, verb(n, "scenario can run", "scenarios can run"), c.Scenario)
		}
	}
	if !k.History && c.History != 0 {
		names, n := namesWhere(func(u Uses) bool { return u.History })
		return fmt.Errorf("--history %d: only the %s %s history (%s does not)", c.History, names, verb(n, "scenario fetches", "scenarios fetch"), c.Scenario)
	}
	return nil
}

// String shows c on one line as key=value pairs with the scenario file's keys,
// leaving out settings that are zero (and so unused).
func (c Config) String() string {
	var b strings.Builder
	add := func(key, val string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key + "=" + val)
	}
	add("scenario", c.Scenario)
	target := c.Target
	if target == "" {
		target = "embedded"
	}
	add("target", target)
	add("protocol", c.Protocol)
	add("transport", c.Transport)
	add("model", c.Model())
	for _, f := range c.fields() {
		if f.key == "scenario" || f.key == "target" || f.key == "protocol" || f.key == "transport" || f.zero {
			continue
		}
		if f.key == "rooms" && len(c.RoomList) > 4 {
			f.text = abbreviateRooms(c.RoomList)
		}
		add(f.key, f.text)
	}
	return b.String()
}

// abbreviateRooms shortens a long room list for people: "room001..room800 (800)"
// when the rooms are numbered in a row as place numbers them, else the first and
// last with the count.
func abbreviateRooms(list []string) string {
	var n0 int
	row := false
	if _, err := fmt.Sscanf(list[0], "room%d", &n0); err == nil {
		row = true
		for i, r := range list {
			if r != fmt.Sprintf("room%03d", n0+i) {
				row = false
				break
			}
		}
	}
	if row {
		return fmt.Sprintf("%s..%s (%d)", list[0], list[len(list)-1], len(list))
	}
	return fmt.Sprintf("%s,%s,...,%s (%d)", list[0], list[1], list[len(list)-1], len(list))
}

// field is one setting of c as text, in the scenario file's key order.
type field struct {
	key  string
	text string // as the flag or a YAML scalar takes it
	json any    // the JSON value: a string, number, bool or list
	zero bool
}

func (c Config) fields() []field {
	str := func(k, v string) field { return field{key: k, text: v, json: v, zero: v == ""} }
	num := func(k string, v int64) field { return field{key: k, text: fmt.Sprint(v), json: v, zero: v == 0} }
	dur := func(k string, v time.Duration) field {
		return field{key: k, text: fmtDuration(v), json: fmtDuration(v), zero: v == 0}
	}
	rate := func(k string, v Rate) field { return field{key: k, text: v.String(), json: v.String(), zero: v == 0} }

	ramp := make([]map[string]string, 0, len(c.Ramp))
	texts := make([]string, 0, len(c.Ramp))
	for _, st := range c.Ramp {
		ramp = append(ramp, map[string]string{"duration": fmtDuration(st.Duration), "rate": st.Rate.String()})
		texts = append(texts, st.String())
	}
	rooms := num("rooms", int64(c.Rooms))
	if len(c.RoomList) > 0 {
		rooms = field{key: "rooms", text: strings.Join(c.RoomList, ","), json: c.RoomList}
	}
	return []field{
		str("scenario", c.Scenario),
		str("target", c.Target),
		str("protocol", c.Protocol),
		str("transport", c.Transport),
		str("auth", c.Auth),
		str("krb5-conf", c.Krb5Conf),
		str("krb5-keytab", c.Krb5Keytab),
		str("transport-sharing", c.TransportSharing),
		rate("rate", c.Rate),
		{key: "ramp", text: strings.Join(texts, ","), json: ramp, zero: len(c.Ramp) == 0},
		num("concurrency", int64(c.Concurrency)),
		num("max-in-flight", int64(c.MaxInFlight)),
		dur("duration", c.Duration),
		num("iterations", c.Iterations),
		dur("think-time", c.ThinkTime),
		num("pairs", int64(c.Pairs)),
		rooms,
		num("room-size", int64(c.RoomSize)),
		num("users", int64(c.Users)),
		str("users-file", c.UsersFile),
		num("message-size", int64(c.MessageSize)),
		num("history", int64(c.History)),
		dur("delivery-timeout", c.DeliveryTimeout),
		dur("timeout", c.Timeout),
		rate("logon-rate", c.LogonRate),
		num("logon-parallel", int64(c.LogonParallel)),
		dur("expires", c.Expires),
		str("to", c.To),
		{key: "no-register", text: fmt.Sprint(c.NoRegister), json: c.NoRegister, zero: !c.NoRegister},
		{key: "allow-failures", text: fmt.Sprint(c.AllowFailures), json: c.AllowFailures, zero: !c.AllowFailures},
		str("domain", c.Domain),
		{key: "seed", text: fmt.Sprint(c.Seed), json: c.Seed}, // 0 is a seed too
		str("segment", c.Segment.String()),
		thresholdsField(c.Thresholds),
	}
}

// thresholdsField is the thresholds setting: a JSON list (never null), quoted texts
// for String.
func thresholdsField(ts []string) field {
	list := make([]string, len(ts))
	quoted := make([]string, len(ts))
	for i, t := range ts {
		list[i] = t
		quoted[i] = strconv.Quote(t)
	}
	return field{key: "thresholds", text: strings.Join(quoted, ","), json: list, zero: len(ts) == 0}
}

// MarshalJSON writes c as a JSON object with every setting under its scenario file key,
// durations as "30s" and rates as "200/s": the report's echo of the configuration.
// Being YAML too, that object is a scenario file: loaded onto Default(any scenario) it
// gives c back.
func (c Config) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range c.fields() {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.json)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", f.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}
