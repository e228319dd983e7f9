package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chatload/chatload/capacity"
	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

// capacityLoadFlags are run's scenario flags that capacity sets itself per step.
var capacityLoadFlags = []string{"rate", "ramp", "concurrency", "duration", "iterations", "think-time"}

// profileOwnFlags are the scenario settings a population profile sets itself.
var profileOwnFlags = []string{"scenario", "pairs", "rooms", "room-size", "history", "to"}

type capacityFlags struct {
	run                      runFlags
	start, step, maxRate     string
	factor                   float64
	hold, warmup, cooldown   time.Duration
	maxDuration              time.Duration
	maxSteps                 int
	out, html                string
	format                   string
	maxShortfall, maxDropped string
	// A population search (--profile): users stepped instead of the rate.
	usersStart, usersStep, maxUsers int
}

// capacityDefaults are the search flags' defaults (capacity's, and run --find-max's).
func capacityDefaults(run runFlags) capacityFlags {
	return capacityFlags{run: run, start: "10/s", maxSteps: 8, hold: 20 * time.Second, warmup: 5 * time.Second,
		cooldown: 2 * time.Second, maxDuration: time.Hour, format: "table", maxShortfall: "1%", maxDropped: "0.1%"}
}

func newCapacityCmd(e *env) *cobra.Command {
	f := capacityDefaults(runFlags{settings: map[string]*string{}})
	cmd := &cobra.Command{
		Use:   "capacity [SCENARIO.yaml]",
		Short: "Find how much load the service takes: step the rate (or a profile's users) up until the service level breaks",
		Long: `Step the offered rate up from --start (times --factor, or plus --step) and judge
each step against the service level: the thresholds (--threshold, repeatable, and the
file's; default ` + strings.Join(capacity.DefaultThresholds, ", ") + `;
a threshold with nothing to observe in a scenario is left out).

With --profile (a population, as run --profile) the population is stepped instead:
--users-start N (or --users N) users, times --factor or plus --users-step, up to
--max-users; each step is the profile's mixed run for that many users, every workload
at the profile's rate for it. Without --target each step gets an embedded server of
its own, sized for it.

Each step is a run of the scenario: log on and join, a warm-up (--warmup, the rate
ramping up from 0, not judged), the hold (--step-duration, judged on its intervals;
losses and failures on the whole step), drain and log off, then --cooldown before
the next. A step is
  PASS          every threshold held and the generator was healthy
  TRIP          a threshold failed while the generator was healthy
  INCONCLUSIVE  the generator could not hold its schedule (achieved rate more than
                --max-shortfall below the target, more than --max-dropped dropped) or
                was saturated (CPU, run-queue wait, steal, schedule lag): a weak
                generator never reads as a weak server. (Work dropped at the
                --max-in-flight cap by an otherwise healthy generator, with a latency
                limit broken and rate x limit below the cap, is the target's: TRIP.)
A TRIP or INCONCLUSIVE step is run once more at the same load; the search stops at
the first one its retry confirms, at --max-steps loads, above --max-rate (--max-users),
or before a step that would end after --max-duration. It reports the highest passing
load, the knee (the highest passing load whose p99 stayed within 2x the first passing
step's) and the per-step table; --out writes it as JSON, --html as a page.

Without --target the embedded server is started as a child process (chatload serve,
as run does), so that the generator's health is judged apart from the server's; with
--fault-* faults (--fault-delay makes it trip).

chatload run --find-max runs the same search with run's flags.

Exit status: 0 the search finished (whatever it found), 1 it could not run (the
first step failed to start, or interrupted), 2 usage error.`,
		Example: `  chatload capacity --start 50/s --factor 1.5 --step-duration 20s --max-steps 8
  chatload capacity --target 10.0.0.5:5060 --users-file users.csv --start 100/s --step 100/s --threshold 'delivery.p99 < 200ms' --out cap.json
  chatload capacity --profile lync-pchat --users-start 500 --factor 2 --max-users 8000 --step-duration 60s
  chatload capacity --fault-delay 300ms --start 20/s --max-steps 3 --html cap.html`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCapacity(cmd, e, &f, args) },
	}
	fl := cmd.Flags()
	for _, s := range scenarioFlags {
		if slices.Contains(capacityLoadFlags, s.name) {
			continue
		}
		v := new(string)
		f.run.settings[s.name] = v
		fl.StringVar(v, s.name, "", s.usage)
	}
	fl.StringVar(&f.start, "start", f.start, "the first step's rate")
	fl.Float64Var(&f.factor, "factor", 0, "each step's load is the previous one's times this (default 2, unless --step or --users-step)")
	fl.StringVar(&f.step, "step", "", "each step adds this rate, e.g. 50/s (instead of --factor)")
	fl.StringVar(&f.maxRate, "max-rate", "", "no step above this rate")
	fl.StringVar(&f.run.profile, "profile", "", "step the population of a built-in profile instead of the rate: "+strings.Join(scenarios.Profiles(), ", "))
	fl.IntVar(&f.usersStart, "users-start", 0, "--profile: the first step's users (default --users)")
	fl.IntVar(&f.usersStep, "users-step", 0, "--profile: each step adds this many users (instead of --factor)")
	fl.IntVar(&f.maxUsers, "max-users", 0, "--profile: no step above this many users")
	fl.IntVar(&f.maxSteps, "max-steps", f.maxSteps, "loads tried at most (a retry is not counted)")
	fl.DurationVar(&f.hold, "step-duration", f.hold, "each step's hold: judged")
	fl.DurationVar(&f.warmup, "warmup", f.warmup, "each step's warm-up before the hold: the rate ramps up from 0, not judged")
	fl.DurationVar(&f.cooldown, "cooldown", f.cooldown, "pause after each step")
	fl.DurationVar(&f.maxDuration, "max-duration", f.maxDuration, "bound of the whole search: a step that would end after it is not started (0: no bound)")
	fl.StringVar(&f.out, "out", "", "write the result as JSON to this file (- for standard output, instead of the table)")
	fl.StringVar(&f.html, "html", "", "write the result as a self-contained HTML page to this file")
	fl.StringVar(&f.format, "format", f.format, "standard output: table or json")
	fl.StringVar(&f.maxShortfall, "max-shortfall", f.maxShortfall, "a step is INCONCLUSIVE when its achieved rate is more than this below the target")
	fl.StringVar(&f.maxDropped, "max-dropped", f.maxDropped, "a step is INCONCLUSIVE when more than this share of its scheduled work was dropped")
	fl.BoolVar(&f.run.quiet, "quiet", false, "no live progress line")
	fl.StringArrayVar(&f.run.thresholds, "threshold", nil, "the service level: "+thresholdUsage)
	addFaultFlags(cmd, &f.run.faults)
	addTLSFlags(cmd, &f.run.tls)
	return cmd
}

// findMaxRefused are run's flags that mean nothing to a capacity search.
var findMaxRefused = []string{"ramp", "concurrency", "iterations", "think-time", "checkpoint", "hlog", "metrics-addr",
	"segment", "trace", "trace-max-bytes", "procs", "allow-failures", "interval"}

// runFindMax is run --find-max: the capacity search with run's flags. --rate is the
// first step's rate (--users, with --profile, its users), --duration each step's hold,
// --out the result's JSON (- for standard output), --threshold the service level,
// --max-shortfall and --max-dropped the generator's limits; the rest of the search
// takes capacity's defaults (--factor 2, --max-steps 8, --warmup 5s, --cooldown 2s,
// --max-duration 1h).
func runFindMax(cmd *cobra.Command, e *env, f runFlags, args []string) error {
	fl := cmd.Flags()
	for _, n := range findMaxRefused {
		if fl.Changed(n) {
			return usageErr("--find-max and --%s: a capacity search sets the load per step and reports its steps; see chatload capacity --help", n)
		}
	}
	c := capacityDefaults(f)
	c.maxShortfall, c.maxDropped = f.health.shortfall, f.health.dropped
	if fl.Changed("rate") {
		c.start = *f.settings["rate"]
	}
	if fl.Changed("duration") {
		d, err := time.ParseDuration(strings.TrimSpace(*f.settings["duration"]))
		if err != nil {
			return usageErr("--duration %q: want a duration such as 20s (each step's hold)", *f.settings["duration"])
		}
		c.hold = d
	}
	c.out = f.out
	return runCapacity(cmd, e, &c, args)
}

// searchConfig reads the search flags.
func (f *capacityFlags) searchConfig(fl *pflag.FlagSet) (capacity.Config, error) {
	c := capacity.Config{MaxSteps: f.maxSteps, Hold: f.hold, Warmup: f.warmup, Cooldown: f.cooldown, Factor: f.factor,
		MaxDuration: f.maxDuration, Users: f.run.profile != ""}
	changed := func(n string) bool { return fl.Lookup(n) != nil && fl.Changed(n) }
	if c.Users {
		for _, n := range []string{"start", "step", "max-rate"} {
			if changed(n) {
				return c, usageErr("--%s and --profile: a population search steps users (--users-start, --users-step, --max-users)", n)
			}
		}
		c.Start, c.Step, c.Max = float64(f.usersStart), float64(f.usersStep), float64(f.maxUsers)
		if !changed("users-start") {
			if !changed("users") {
				return c, usageErr("--profile %s: give the first step's population with --users-start N (or --users N)", f.run.profile)
			}
			n, err := strconv.Atoi(strings.TrimSpace(*f.run.settings["users"]))
			if err != nil {
				return c, usageErr("--users %q: want a whole number", *f.run.settings["users"])
			}
			c.Start = float64(n)
		} else if changed("users") {
			return c, usageErr("--users-start and --users: give one (the first step's population)")
		}
		if c.Step == 0 && !changed("factor") {
			c.Factor = 2
		}
	} else {
		for _, n := range []string{"users-start", "users-step", "max-users"} {
			if changed(n) {
				return c, usageErr("--%s: steps a population; give --profile too", n)
			}
		}
		rate := func(flag, s string) (float64, error) {
			r, err := scenarios.ParseRate(s)
			if err != nil {
				return 0, usageErr("%s: %v", flag, err)
			}
			return float64(r), nil
		}
		var err error
		if c.Start, err = rate("--start", f.start); err != nil {
			return c, err
		}
		if f.step != "" {
			if c.Step, err = rate("--step", f.step); err != nil {
				return c, err
			}
		} else if !changed("factor") {
			c.Factor = 2
		}
		if f.maxRate != "" {
			if c.Max, err = rate("--max-rate", f.maxRate); err != nil {
				return c, err
			}
		}
	}
	h := healthFlags{shortfall: f.maxShortfall, dropped: f.maxDropped}
	var err error
	if c.Health, err = h.limits(); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, usageErr("%v", err)
	}
	return c, nil
}

// serviceLevel is the search's thresholds: ths, else the default; "for N
// intervals" and "abort" are refused.
func serviceLevel(ths []report.Threshold) ([]report.Threshold, error) {
	if len(ths) == 0 {
		for _, s := range capacity.DefaultThresholds {
			t, err := report.ParseThreshold(s)
			if err != nil {
				return nil, err
			}
			ths = append(ths, t)
		}
	}
	for _, t := range ths {
		if t.ForIntervals > 0 || t.Abort {
			return nil, usageErr("--threshold %q: capacity judges each step's hold as a whole: drop \"for N intervals\" and \"abort\"", t.Expr)
		}
	}
	return ths, nil
}

func runCapacity(cmd *cobra.Command, e *env, f *capacityFlags, args []string) error {
	switch f.format {
	case "table", "json":
	default:
		return usageErr("--format %q: want table or json", f.format)
	}
	if f.out == "-" { // the JSON on standard output
		f.out, f.format = "", "json"
	}
	for _, o := range []struct{ flag, path string }{{"--out", f.out}, {"--html", f.html}} {
		if err := checkOutputPath(o.flag, o.path); err != nil {
			return err
		}
	}
	sc, err := f.searchConfig(cmd.Flags())
	if err != nil {
		return err
	}
	if sc.Users {
		return runCapacityProfile(cmd, e, f, args, sc)
	}
	ctx := cmd.Context()
	cfg, err := f.run.config(cmd.Flags(), args)
	if err != nil {
		return err
	}
	if cfg.Model() != "open" || len(cfg.Ramp) > 0 || cfg.Iterations > 0 {
		return usageErr("capacity sets the load itself (an open-model rate per step): drop concurrency, ramp and iterations from the scenario file")
	}
	ths, _ := checkThresholds(cfg, "", nil, nil) // checked by config
	if sc.Thresholds, err = serviceLevel(ths); err != nil {
		return err
	}
	cfg.Thresholds = nil // judged by the search, not by each step's run
	sc.MaxInFlight = cfg.MaxInFlight

	faults, err := f.run.faults.Faults()
	if err != nil {
		return usageErr("%v", err)
	}
	if cfg.Target != "" && faults.Enabled() {
		return usageErr("--fault-* apply to the embedded server only; with --target inject faults in the server under test")
	}
	users, err := runUsers(cfg)
	if err != nil {
		return err
	}
	sharing, err := transportSharing(cfg.TransportSharing, cfg.Protocol, cfg.Transport, len(users))
	if err != nil {
		return err
	}
	// Without --target a child `chatload serve`, as a single run's (embedded.go):
	// the generator's health (its CPU, its schedule) is then judged apart from
	// the server's.
	rt, err := openRunTarget(ctx, e, f.run, cfg, faults, sharing,
		embeddedOptions{Users: users, UsersFile: cfg.UsersFile, Rooms: len(scenarios.RoomURIs(cfg))})
	if err != nil {
		return err
	}
	defer func() {
		if note := rt.close(e); note != "" {
			fmt.Fprintf(e.stderr, "note: %s\n", note)
		}
	}()
	drv := rt.drv

	stepCfg := cfg // the progress line's total: one step's hold
	stepCfg.Duration, stepCfg.Ramp = sc.Hold, nil
	pp := newProgressPrinter(e.stderr, f.run.quiet, f.run.iv.every, stepCfg)
	steps := capacity.EngineRunner(drv, capacity.StepConfig{Scenario: cfg, Users: users, Warmup: sc.Warmup, Hold: sc.Hold,
		RunID: newRunID(), Progress: pp.show})
	run := func(ctx context.Context, rate float64) (*report.Report, time.Time, error) {
		fmt.Fprintf(e.stderr, "step at %s: warm-up %v, hold %v\n", scenarios.Rate(rate), sc.Warmup, sc.Hold)
		rep, hold, err := steps(ctx, rate)
		pp.done()
		if errors.Is(err, engine.ErrSetup) {
			return nil, hold, err // nobody could log on or join: the step could not run
		}
		return rep, hold, err
	}
	return searchAndWrite(ctx, e, f, sc, run)
}

// stopEmbedded stops an embedded server, saying why when it did not end well.
func stopEmbedded(e *env, emb *embeddedServer) {
	if _, note := emb.Stop(e); note != "" {
		fmt.Fprintf(e.stderr, "note: %s\n", note)
	}
}

// runCapacityProfile is the population search of --profile: each step is the
// profile's mixed run for its users, against the target or an embedded server
// (a child chatload serve) of its own, sized for the step.
func runCapacityProfile(cmd *cobra.Command, e *env, f *capacityFlags, args []string, sc capacity.Config) error {
	ctx := cmd.Context()
	fl := cmd.Flags()
	if len(args) > 0 {
		return usageErr("--profile %s: give the profile or a scenario file, not both", f.run.profile)
	}
	set := map[string]string{}
	fl.Visit(func(p *pflag.Flag) {
		if _, ok := f.run.settings[p.Name]; ok && p.Name != "users" && !slices.Contains(capacityLoadFlags, p.Name) {
			set[p.Name] = p.Value.String()
		}
	})
	for _, n := range profileOwnFlags {
		if _, ok := set[n]; ok {
			return usageErr("--%s and --profile: the profile sets it", n)
		}
	}
	base, err := scenarios.Default(scenarios.Steady)
	if err != nil {
		return err
	}
	base.Transport = "" // the protocol's default unless --transport
	if err := base.Apply(set); err != nil {
		return usageErr("%v", err)
	}
	if base.Transport == "" {
		base.Transport = "udp"
		if p, ok := protocolNamed(base.Protocol); ok {
			base.Transport = p.Transports[0]
		}
	}
	build := func(n int) (scenarios.Mix, error) {
		mix, err := scenarios.Profile(f.run.profile, n, base)
		if err != nil {
			return mix, err
		}
		for i := range mix.Workloads {
			w := &mix.Workloads[i].Config
			if w.Transport == "" {
				w.Transport = base.Transport
			}
			if err := w.CheckProtocol(protocolList()); err != nil {
				return mix, fmt.Errorf("workload %s: %w", mix.Workloads[i].Name, err)
			}
		}
		return mix, mix.Validate()
	}
	first, err := build(int(sc.Start))
	if err != nil {
		return usageErr("%v", err)
	}
	var ths []report.Threshold
	for _, s := range f.run.thresholds {
		t, err := report.ParseThreshold(s)
		if err != nil {
			return usageErr("%v", err)
		}
		if t.Workload != "" && !mixHas(first, t.Workload) {
			return usageErr("threshold %q: no workload %s in the profile %s", s, t.Workload, f.run.profile)
		}
		ths = append(ths, t)
	}
	if sc.Thresholds, err = serviceLevel(ths); err != nil {
		return err
	}
	faults, err := f.run.faults.Faults()
	if err != nil {
		return usageErr("%v", err)
	}
	embedded := base.Target == ""
	if !embedded && faults.Enabled() {
		return usageErr("--fault-* apply to the embedded server only; with --target inject faults in the server under test")
	}
	var fileUsers []scenarios.User
	switch {
	case base.UsersFile != "":
		if fileUsers, err = readUsers(base.UsersFile); err != nil {
			return err
		}
		if len(fileUsers) < first.Users() {
			return usageErr("the users file %s has %d users; the profile for %d users takes %d", base.UsersFile, len(fileUsers), int(sc.Start), first.Users())
		}
	case !embedded:
		return usageErr("--users-file is required with --target (the accounts to log on)")
	}
	if _, err := transportSharing(base.TransportSharing, base.Protocol, base.Transport, first.Users()); err != nil {
		return err
	}
	if err := f.run.tls.validate(base.Transport, base.Target); err != nil {
		return err
	}
	var auth []string
	target := base.Target
	var tlsConf *tls.Config
	if embedded {
		if auth, err = embeddedAuth(base.Auth); err != nil {
			return err
		}
	} else if target, err = resolveTarget(ctx, e, target, base.Transport); err != nil {
		return usageErr("%v", err)
	} else if tlsConf, err = f.run.tls.config(e, base.Transport, base.Target); err != nil {
		return err
	}
	self, _ := buildVersions()
	prepare := func(ctx context.Context, n int) (capacity.MixStep, error) {
		mix, err := build(n)
		if err != nil {
			return capacity.MixStep{}, fmt.Errorf("%w: %v", capacity.ErrBound, err)
		}
		users := fileUsers
		if fileUsers == nil {
			users = server.GeneratedUsers(mix.Users(), base.Domain)
		} else if len(fileUsers) < mix.Users() {
			return capacity.MixStep{}, fmt.Errorf("%w: the users file %s has %d users; %d users take %d", capacity.ErrBound, base.UsersFile, len(fileUsers), n, mix.Users())
		}
		sharing, err := transportSharing(base.TransportSharing, base.Protocol, base.Transport, mix.Users())
		if err != nil {
			return capacity.MixStep{}, fmt.Errorf("%w: %v", capacity.ErrBound, err)
		}
		addr, tc := target, tlsConf
		var emb *embeddedServer
		if embedded {
			if emb, err = startEmbedded(ctx, e, embeddedOptions{Domain: base.Domain, Transport: base.Transport, Users: users,
				UsersFile: base.UsersFile, Rooms: mix.Rooms(), Faults: f.run.faults, Auth: auth, AnnounceMax: mix.AnnounceMax}); err != nil {
				return capacity.MixStep{}, err
			}
			addr, tc = emb.Addr, emb.TLS
		}
		drv, err := drivers[base.Protocol](driverOptions{target: addr, transport: base.Transport, tls: tc, timeout: base.Timeout,
			userAgent: "chatload/" + self, auth: base.Auth, kerberos: kerberosConfig(e, base.Auth, base.Krb5Conf, base.Krb5Keytab), sharing: sharing})
		if err != nil {
			if emb != nil {
				stopEmbedded(e, emb)
			}
			return capacity.MixStep{}, err
		}
		ws := make([]engine.Workload, len(mix.Workloads))
		var rate float64
		for i, w := range mix.Workloads {
			ws[i] = engine.Workload{Name: w.Name, Start: w.Start,
				Run: engine.RunConfig{Scenario: w.Config, Users: users[w.First : w.First+w.Count]}}
			rate += float64(w.Config.Rate)
		}
		fmt.Fprintf(e.stderr, "step at %d users (%d accounts, %d rooms, %.3g operations/s in all): warm-up %v, hold %v\n",
			n, mix.Users(), mix.Rooms(), rate, sc.Warmup, sc.Hold)
		if !f.run.quiet && mix.Note != "" {
			fmt.Fprintln(e.stderr, mix.Note)
		}
		return capacity.MixStep{Driver: drv, Workloads: ws, Close: func() {
			drv.Close()
			if emb != nil {
				stopEmbedded(e, emb)
			}
		}}, nil
	}
	steps := capacity.MixRunner(prepare, capacity.StepConfig{Warmup: sc.Warmup, Hold: sc.Hold, RunID: newRunID()})
	run := func(ctx context.Context, users float64) (*report.Report, time.Time, error) {
		rep, hold, err := steps(ctx, users)
		if rep == nil && errors.Is(err, engine.ErrSetup) {
			return nil, hold, err // nobody could log on or join: the step could not run
		}
		return rep, hold, err
	}
	return searchAndWrite(ctx, e, f, sc, run)
}

// searchAndWrite runs the search and writes its result: the table or JSON on
// standard output, --out and --html. Exit 1 when it could not run or was interrupted.
func searchAndWrite(ctx context.Context, e *env, f *capacityFlags, sc capacity.Config, run capacity.Runner) error {
	res, err := capacity.Search(ctx, sc, run)
	if err != nil {
		return &exitError{code: exitCannotRun, err: err}
	}
	write := res.WriteTable
	if f.format == "json" {
		write = res.WriteJSON
	}
	if err := write(e.stdout); err != nil {
		return err
	}
	for _, o := range []struct {
		path  string
		write func(io.Writer) error
	}{{f.out, res.WriteJSON}, {f.html, res.WriteHTML}} {
		if o.path == "" {
			continue
		}
		if err := writeFile(o.path, o.write); err != nil {
			return &exitError{code: exitCannotRun, err: err}
		}
		fmt.Fprintf(e.stderr, "written to %s\n", o.path)
	}
	if res.Stop == "interrupted" {
		return &exitError{code: exitCannotRun, err: errors.New("interrupted: the result covers the steps run until then")}
	}
	return nil
}

// writeFile writes path with write.
func writeFile(path string, write func(io.Writer) error) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(fh); err != nil {
		fh.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return fh.Close()
}
