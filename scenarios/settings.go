package scenarios

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// errUnknownKey is set's answer to a key that names no setting.
var errUnknownKey = errors.New("unknown setting")

// Apply sets the settings given as text, keyed by flag name without the dashes
// ("rate": "200/s", "rooms": "5" or "sip:a@conf.x,sip:b@conf.x", "ramp":
// "30s:100/s,1m:500/s", "no-register": "true"), as a scenario file would: same keys,
// same value syntax, same rules between settings (see Load). The CLI passes the flags
// the user set (pflag's Visit, with Value.String()). On error c is unchanged and the
// error names the flag: "--rate: ...".
//
// "threshold" is the one list among the flags (--threshold is repeatable): its value
// holds one threshold per line (the CLI joins the flag's values with "\n"), and they
// are added to c.Thresholds (a gate in the scenario file is never dropped by the
// command line); blank lines are ignored.
func (c *Config) Apply(settings map[string]string) error {
	next := *c
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same first error every time
	set := map[string]bool{}
	for _, k := range keys {
		key := strings.TrimPrefix(k, "--")
		if key == "threshold" {
			if err := next.addThresholds(settings[k]); err != nil {
				return fmt.Errorf("--threshold: %v", err)
			}
			continue
		}
		if err := next.set(key, settings[k]); err != nil {
			if errors.Is(err, errUnknownKey) {
				return fmt.Errorf("--%s: unknown setting%s", key, suggest(key, "--"))
			}
			return fmt.Errorf("--%s: %v", key, err)
		}
		set[key] = true
	}
	next.settle(set)
	*c = next
	return nil
}

// settle applies the rules between settings that one layer (a scenario file, or the
// flags) sets, so that a setting given by the user replaces the defaults it is an
// alternative to, whatever the scenario's defaults were:
//   - rate, ramp and concurrency choose the load model: setting some of them clears
//     the others (--concurrency 5 on steady makes it closed; --rate on pair-cycle open);
//   - duration and iterations end the steady phase: setting one clears the other;
//     setting ramp without duration clears Duration (the last stage ends the run);
//   - rooms is one setting: a count clears RoomList, a list clears Rooms (set does it).
//
// Settings given together in one layer are all kept.
func (c *Config) settle(set map[string]bool) {
	if set["rate"] || set["ramp"] || set["concurrency"] {
		if !set["rate"] {
			c.Rate = 0
		}
		if !set["ramp"] {
			c.Ramp = nil
		}
		if !set["concurrency"] {
			c.Concurrency = 0
		}
	}
	if set["duration"] && !set["iterations"] {
		c.Iterations = 0
	}
	if (set["iterations"] || set["ramp"]) && !set["duration"] {
		c.Duration = 0
	}
}

// set applies one setting given as text (a flag's value or a YAML scalar). Its errors
// do not repeat the key; errUnknownKey when key is no setting.
func (c *Config) set(key, text string) error {
	s := strings.TrimSpace(text)
	var err error
	switch key {
	case "scenario":
		if _, ok := unitOf(s); !ok {
			return fmt.Errorf("%q: unknown scenario (known: %s)", s, strings.Join(Names(), ", "))
		}
		c.Scenario = s
	case "target":
		c.Target = s
	case "protocol":
		s = strings.ToLower(s)
		if !isWord(s) {
			return fmt.Errorf("%q: want a protocol name such as imc or xccos", s)
		}
		c.Protocol = s
	case "transport":
		s = strings.ToLower(s)
		if s != "udp" && s != "tcp" && s != "tls" {
			return fmt.Errorf("%q: want udp, tcp or tls", s)
		}
		c.Transport = s
	case "auth":
		s = strings.ToLower(s)
		switch s {
		case "", "auto", "digest", "ntlm", "kerberos":
		default:
			return fmt.Errorf("%q: want auto, digest, ntlm or kerberos", s)
		}
		c.Auth = s
	case "krb5-conf":
		c.Krb5Conf = s
	case "krb5-keytab":
		c.Krb5Keytab = s
	case "transport-sharing":
		if s != "" {
			n, err := ParseSharing(s)
			if err != nil {
				return err
			}
			s = SharingText(n)
		}
		c.TransportSharing = s
	case "rate":
		c.Rate, err = parseRate(s)
	case "logon-rate":
		c.LogonRate, err = parseRate(s)
	case "ramp":
		c.Ramp, err = ParseStages(s)
	case "concurrency":
		c.Concurrency, err = parseCount(s)
	case "max-in-flight":
		c.MaxInFlight, err = parseCount(s)
	case "pairs":
		c.Pairs, err = parseCount(s)
	case "room-size":
		c.RoomSize, err = parseCount(s)
	case "users":
		c.Users, err = parseCount(s)
	case "message-size":
		c.MessageSize, err = parseCount(s)
	case "history":
		c.History, err = parseCount(s)
	case "logon-parallel":
		c.LogonParallel, err = parseCount(s)
	case "expires":
		c.Expires, err = parseDuration(s)
	case "iterations":
		var n int64
		n, err = parseInt(s, true)
		c.Iterations = n
	case "seed":
		c.Seed, err = parseInt(s, false)
	case "duration":
		c.Duration, err = parseDuration(s)
	case "think-time":
		c.ThinkTime, err = parseDuration(s)
	case "delivery-timeout":
		c.DeliveryTimeout, err = parseDuration(s)
	case "timeout":
		c.Timeout, err = parseDuration(s)
	case "rooms":
		if isDecimal(strings.TrimLeft(s, "+-")) { // a count, maybe a bad one
			c.Rooms, err = parseCount(s)
			c.RoomList = nil
			break
		}
		var list []string
		for i, r := range strings.Split(s, ",") {
			if r = strings.TrimSpace(r); r == "" {
				return fmt.Errorf("%q: room %d is empty: want a count or a comma-separated list of room URIs", s, i+1)
			}
			list = append(list, r)
		}
		c.Rooms, c.RoomList = 0, list
	case "users-file":
		c.UsersFile = s
	case "to":
		if s != "" {
			s = NormalizeURI(s)
		}
		c.To = s
	case "no-register":
		c.NoRegister, err = strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q: want true or false", s)
		}
	case "allow-failures":
		c.AllowFailures, err = strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q: want true or false", s)
		}
	case "domain":
		c.Domain = strings.ToLower(s)
	case "segment":
		c.Segment, err = ParseSegment(s)
	case "thresholds": // one threshold as a YAML scalar; a list goes through setThresholdList
		c.Thresholds = nil
		if s != "" {
			if err := checkThreshold(s); err != nil {
				return err
			}
			c.Thresholds = []string{s}
		}
	default:
		return errUnknownKey
	}
	return err
}

// addThresholds appends the thresholds of lines, one per line.
func (c *Config) addThresholds(lines string) error {
	c.Thresholds = slices.Clip(c.Thresholds) // append to a copy: Apply's caller keeps the old list
	for line := range strings.SplitSeq(lines, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if err := checkThreshold(line); err != nil {
			return fmt.Errorf("%q: %v", line, err)
		}
		c.Thresholds = append(c.Thresholds, line)
	}
	return nil
}

// checkThreshold checks a threshold's shape only: its grammar is report's
// (ParseThreshold), checked by the CLI, since scenarios does not import report.
func checkThreshold(t string) error {
	switch {
	case strings.TrimSpace(t) == "":
		return errors.New("empty: want a threshold such as \"delivery.p99 < 250ms\"")
	case strings.ContainsAny(t, "\r\n"):
		return errors.New("one threshold per item: it spans several lines")
	case len(t) > 200:
		return errors.New("longer than 200 characters: not a threshold")
	}
	return nil
}

func parseCount(s string) (int, error) {
	n, err := parseInt(s, true)
	if err == nil && n > 1<<31-1 {
		return 0, fmt.Errorf("%q is too big", s)
	}
	return int(n), err
}

// parseInt parses a decimal whole number; nonNegative refuses a sign.
func parseInt(s string, nonNegative bool) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q is too big", s)
	case err != nil:
		return 0, fmt.Errorf("%q: want a whole number", s)
	case nonNegative && n < 0:
		return 0, fmt.Errorf("%q is negative", s)
	}
	return n, nil
}

// settingKeys returns the keys of all settings, in the scenario file's order.
func settingKeys() []string {
	fs := Config{}.fields()
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return keys
}

// suggest returns " (did you mean PREFIXkey?)" for the setting key closest to an
// unknown one (snake_case, case, or up to two typos away), else "".
func suggest(key, prefix string) string {
	norm := strings.ReplaceAll(strings.ToLower(key), "_", "-")
	best, bestDist := "", 3
	for _, k := range settingKeys() {
		if k == norm {
			return " (did you mean " + prefix + k + "?)"
		}
		if d := editDistance(norm, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" || bestDist >= len(norm) {
		return ""
	}
	return " (did you mean " + prefix + best + "?)"
}

// editDistance is the Levenshtein distance between a and b (bytes; keys are ASCII).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a typo of a key; also bounds the work
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isWord reports whether s is a name: letters, digits and '-', not empty. Which
// names exist is the protocols' to say (CheckProtocol).
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
