package scenarios

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxWorkloads bounds a mixed run's workloads: each is a run of its own.
const maxWorkloads = 64

// A Mix is a mixed run: named workloads that run at the same time, each a scenario
// with its own load model, users and rooms (a scenario file with a "workloads" list,
// or a built-in profile). It is a plain value; its methods are pure.
type Mix struct {
	Workloads []Workload
	// Thresholds are the mixed run's pass/fail criteria: the file's top-level ones
	// (on the total, or naming a workload: "posts:delivery.p99 < 250ms") and each
	// workload's own, prefixed with its name.
	Thresholds []string
	// Note says how the mix was made (a profile's scaling), for people; "" for a file.
	Note string
	// UsersFile is the population's users file ("" = generated users): the
	// workloads take their slices of it, so it is the mix's, not a workload's.
	UsersFile string
	// AnnounceMax is what the embedded server is given as serve --announce-max: in
	// rooms with more members, a join or exit is told only to the member who joined
	// or left (0: to every member, as imc does). A profile sets it; a file's
	// top-level "announce-max" key does.
	AnnounceMax int
}

// HoistUsersFile moves a users file set on the workloads (by a layer of settings)
// to the mix: a workload's users are its slice of the file.
func (m *Mix) HoistUsersFile() {
	for i := range m.Workloads {
		c := &m.Workloads[i].Config
		if c.UsersFile != "" {
			m.UsersFile, c.UsersFile = c.UsersFile, ""
		}
	}
}

// Workload is one workload of a Mix: its name, its start after the run's start, its
// configuration, and its users: the population's users First..First+Count-1.
type Workload struct {
	Name   string
	Start  time.Duration
	Config Config
	First  int // index of its first user in the population
	Count  int // how many users it takes (Config.UserCount)
}

// Users returns how many users the mix takes in all: its population.
func (m Mix) Users() int {
	n := 0
	for _, w := range m.Workloads {
		n = max(n, w.First+w.Count)
	}
	return n
}

// Rooms returns how many numbered rooms (room001..) the mix uses in all: what an
// embedded server must provision.
func (m Mix) Rooms() int {
	n := 0
	for _, w := range m.Workloads {
		n += len(RoomURIs(w.Config))
	}
	return n
}

var workloadNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// IsMix reports whether the scenario file's content has a "workloads" key (a mixed
// run). A file that does not parse is no mix: Load reports its error.
func IsMix(name string, data []byte) bool {
	root, err := parseRoot(name, data)
	if err != nil {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "workloads" {
			return true
		}
	}
	return false
}

// LoadMix reads a mixed scenario file: top-level settings (any scenario file key)
// apply to every workload, then each item of the "workloads" list gives a workload's
// "name" (required, unique: letters, digits, - and _), its "start" (a delay after the
// run's start, default 0), its "scenario" (default the top level's, else steady) and
// its own settings, which replace the top level's:
//
//	duration: 60s
//	thresholds: [posts:delivery.p99 < 250ms]
//	workloads:
//	  - {name: posts, scenario: steady, pairs: 20, rate: 20/s}
//	  - {name: idle, scenario: lurker, rooms: 2, room-size: 50, rate: 1/s, start: 5s}
//
// Each workload gets rooms of its own, numbered after the previous workload's (unless
// it lists its rooms), and users of its own, after the previous workload's, unless
// it says "first-user: N": its users are then the population's N, N+1, ... (from 1),
// which may be another workload's too: workloads that keep their users logged on
// (rooms, steady, fanout, churn, lurker, ...) share such users, one session each in
// the rooms of every workload it is in. A top-level "announce-max: N" is the
// embedded server's --announce-max (Mix.AnnounceMax). A
// Transport no layer sets is left "" for the caller to fill with the protocol's
// default. Errors name name:line; each workload's configuration is validated.
func LoadMix(name string, data []byte) (Mix, error) {
	root, err := parseRoot(name, data)
	if err != nil {
		return Mix{}, err
	}
	var list *yaml.Node
	announceMax := 0
	top := Config{}
	scenario := Steady
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		switch k.Value {
		case "workloads":
			if v == nil || v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				return Mix{}, fmt.Errorf("%s:%d: workloads: want a list of workloads, each a mapping with a name", name, k.Line)
			}
			if len(v.Content) > maxWorkloads {
				return Mix{}, fmt.Errorf("%s:%d: workloads: %d workloads; at most %d", name, k.Line, len(v.Content), maxWorkloads)
			}
			list = v
		case "scenario":
			if v != nil && v.Kind == yaml.ScalarNode {
				scenario = v.Value
			}
		case "announce-max":
			text := ""
			if v != nil && v.Kind == yaml.ScalarNode {
				text = v.Value
			}
			n, err := strconv.Atoi(text)
			if err != nil || n < 0 {
				return Mix{}, fmt.Errorf("%s:%d: announce-max %q: want a number of members (0: announce to all)", name, k.Line, text)
			}
			announceMax = n
		}
	}
	mix := Mix{AnnounceMax: announceMax}
	if _, err := loadNode(name, root, &top, map[string]bool{"workloads": true, "announce-max": true}); err != nil {
		return Mix{}, err
	}
	mix.Thresholds = append(mix.Thresholds, top.Thresholds...)
	seen := map[string]int{}
	users, rooms := 0, 0
	for _, item := range list.Content {
		item = deref(item)
		if item == nil || item.Kind != yaml.MappingNode {
			return Mix{}, fmt.Errorf("%s:%d: workloads: want a mapping per workload, such as {name: posts, scenario: steady}", name, list.Line)
		}
		w := Workload{}
		wscen := scenario
		first := 0 // after the previous workload's users
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := item.Content[i], deref(item.Content[i+1])
			if v == nil || v.Kind != yaml.ScalarNode {
				continue // loadNode reports it
			}
			switch k.Value {
			case "name":
				if !workloadNameRE.MatchString(v.Value) {
					return Mix{}, fmt.Errorf("%s:%d: name %q: want a workload name of letters, digits, - and _ (at most 32)", name, v.Line, v.Value)
				}
				if line, dup := seen[v.Value]; dup {
					return Mix{}, fmt.Errorf("%s:%d: name %q: a workload of that name is on line %d", name, v.Line, v.Value, line)
				}
				seen[v.Value] = v.Line
				w.Name = v.Value
			case "start":
				d, err := time.ParseDuration(v.Value)
				if err != nil || d < 0 {
					return Mix{}, fmt.Errorf("%s:%d: start %q: want a delay such as 30s", name, v.Line, v.Value)
				}
				w.Start = d
			case "scenario":
				wscen = v.Value
			case "first-user":
				n, err := strconv.Atoi(v.Value)
				if err != nil || n < 1 {
					return Mix{}, fmt.Errorf("%s:%d: first-user %q: want the number of its first user in the population, from 1", name, v.Line, v.Value)
				}
				first = n
			}
		}
		if w.Name == "" {
			return Mix{}, fmt.Errorf("%s:%d: workload without a name: give each workload a name such as posts", name, item.Line)
		}
		c, err := Default(wscen)
		if err != nil {
			return Mix{}, fmt.Errorf("%s:%d: workload %s: %v", name, item.Line, w.Name, err)
		}
		c.Transport = "" // the protocol's default unless a layer says
		if _, err := loadNode(name, root, &c, map[string]bool{"workloads": true, "scenario": true, "thresholds": true, "announce-max": true}); err != nil {
			return Mix{}, err
		}
		if _, err := loadNode(name, item, &c, map[string]bool{"name": true, "start": true, "thresholds": true, "first-user": true}); err != nil {
			return Mix{}, err
		}
		own := Config{}
		if _, err := loadNode(name, item, &own, map[string]bool{"name": true, "start": true, "scenario": true, "first-user": true}); err == nil {
			for _, t := range own.Thresholds {
				mix.Thresholds = append(mix.Thresholds, w.Name+":"+t)
			}
		}
		place(&c, &rooms)
		w.First, w.Count = users, c.UserCount()
		if first > 0 {
			w.First = first - 1
		}
		users = max(users, w.First+w.Count)
		w.Config = c
		mix.Workloads = append(mix.Workloads, w)
	}
	mix.HoistUsersFile()
	if mix.UsersFile != "" && !filepath.IsAbs(mix.UsersFile) {
		mix.UsersFile = filepath.Join(filepath.Dir(name), mix.UsersFile)
	}
	if err := mix.Validate(); err != nil {
		return Mix{}, fmt.Errorf("%s: %w", name, err)
	}
	return mix, nil
}

// place gives c's rooms numbers of their own after the *next-1 used before it (unless
// c lists its rooms), and advances *next.
func place(c *Config, next *int) {
	n := len(RoomURIs(*c))
	if n == 0 || len(c.RoomList) > 0 {
		return
	}
	c.RoomList = make([]string, n)
	for i := range c.RoomList {
		c.RoomList[i] = fmt.Sprintf("room%03d", *next+i+1)
	}
	c.Rooms = 0
	*next += n
}

// Validate checks every workload's configuration (Config.Validate, with a Transport
// still "" taken as udp), that the workloads share what one driver and one server
// serve (target, protocol, transport, domain), and that their names are unique.
func (m Mix) Validate() error {
	if len(m.Workloads) == 0 {
		return errors.New("no workloads")
	}
	seen := map[string]bool{}
	first := m.Workloads[0].Config
	for _, w := range m.Workloads {
		if !workloadNameRE.MatchString(w.Name) || seen[w.Name] {
			return fmt.Errorf("workload %q: want a unique name of letters, digits, - and _", w.Name)
		}
		seen[w.Name] = true
		c := w.Config
		if c.Transport == "" {
			c.Transport = "udp"
		}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("workload %s: %w", w.Name, err)
		}
		for _, o := range m.Workloads {
			if o.Name == w.Name || o.First >= w.First+w.Count || w.First >= o.First+o.Count {
				continue
			}
			if u, ok := unitOf(w.Config.Scenario); ok && !u.Uses().Recover {
				return fmt.Errorf("workload %s: its users %d..%d are also workload %s's, and scenario %s cannot share users (they log on and off, or use more than join, post and leave): give it users of its own",
					w.Name, w.First+1, w.First+w.Count, o.Name, w.Config.Scenario)
			}
		}
		switch c := w.Config; {
		case c.Target != first.Target:
			return fmt.Errorf("workload %s: target %q differs from workload %s's %q: a mixed run has one target", w.Name, c.Target, m.Workloads[0].Name, first.Target)
		case c.Protocol != first.Protocol:
			return fmt.Errorf("workload %s: protocol %s differs from workload %s's %s: a mixed run speaks one protocol", w.Name, c.Protocol, m.Workloads[0].Name, first.Protocol)
		case c.Transport != first.Transport:
			return fmt.Errorf("workload %s: transport %s differs from workload %s's %s", w.Name, c.Transport, m.Workloads[0].Name, first.Transport)
		case c.TransportSharing != first.TransportSharing:
			return fmt.Errorf("workload %s: transport-sharing %q differs from workload %s's %q: a mixed run's users share one driver", w.Name, c.TransportSharing, m.Workloads[0].Name, first.TransportSharing)
		case c.Domain != first.Domain:
			return fmt.Errorf("workload %s: domain %s differs from workload %s's %s", w.Name, c.Domain, m.Workloads[0].Name, first.Domain)
		}
	}
	return nil
}
