package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

// scenarioFlags are the flags that are scenario settings: same names as the YAML keys,
// passed to scenarios.Config.Apply as text when the user set them.
var scenarioFlags = []struct{ name, usage string }{
	{"scenario", "built-in scenario: " + strings.Join(scenarios.Names(), ", ") + " (default steady, or the file's)"},
	{"target", "registrar/proxy HOST:PORT; empty starts the embedded server"},
	{"protocol", "chat protocol: imc or xccos (Lync/Skype for Business Persistent Chat)"},
	{"transport", "SIP transport: udp, tcp or tls (default udp; tls for --protocol xccos)"},
	{"auth", "authentication: auto (by the schemes offered: Kerberos with --krb5-conf, else NTLM, else Digest), digest, ntlm or kerberos (Lync sign-in, MS-SIPAE; the embedded server then offers ntlm)"},
	{"krb5-conf", "Kerberos configuration file (default: $KRB5_CONFIG, else /etc/krb5.conf with --auth kerberos)"},
	{"krb5-keytab", "Kerberos keytab holding the users' keys, used instead of their passwords (a credential is then optional)"},
	{"transport-sharing", "how users share transports: per-user (a socket or connection each, as real clients; default for tls and xccos), shared (N by the load: one per 5,000 users; default for imc over udp and tcp) or shared:N (users spread over N sockets or connections)"},
	{"rate", "open model: arrivals of the scenario's unit per second, e.g. 200/s, 1.5k/s, 30/m"},
	{"ramp", "open model stages, linear between rates, e.g. 30s:100/s,1m:500/s,30s:0/s"},
	{"concurrency", "closed model: virtual users looping over the scenario's unit"},
	{"max-in-flight", "open model: operations in flight at most; more are counted as dropped, never queued (default 10000)"},
	{"duration", "length of the steady phase, e.g. 20s, 10m"},
	{"iterations", "number of operations of the steady phase (instead of --duration)"},
	{"think-time", "closed model: pause between a virtual user's operations"},
	{"pairs", "steady, pair-cycle: sender/receiver pairs"},
	{"rooms", "number of rooms (room001.. at conf.<domain>) or a comma-separated list of room URIs"},
	{"room-size", "fanout: members per room (every post is delivered to the others)"},
	{"users", "users taking part (churn, login, message, history) or generated for the embedded server"},
	{"history", "history scenario: messages posted per room, then fetched back and checked (default 20)"},
	{"users-file", "CSV file of users: uri,username,password (required with --target)"},
	{"message-size", "bytes of each posted message body (default 64)"},
	{"delivery-timeout", "a copy not received within this is counted lost (default 10s)"},
	{"timeout", "per operation (default 10s)"},
	{"logon-rate", "log-ons (sign-ins) per second during setup, paced on a schedule, e.g. 12/s (a Lync pool signs in about 12/s); the report's load line gives the rate achieved; alias --login-rate (default sized to the target: 12/s for an xccos --target, a Lync pool's planned maximum; otherwise unlimited: --logon-parallel at a time)"},
	{"logon-parallel", "log-ons in flight during setup (default 64; with --logon-rate, a second's worth, up to 20000)"},
	{"expires", "registration expiry to ask the registrar for, e.g. 300s (default: none asked, the registrar's default, as Lync clients do; chatload serve and Kamailio grant 1h); sessions refresh a tenth of what was granted before it runs out: 100,000 users refresh 31/s at 1h, 370/s at 300s"},
	{"to", "message scenario: request URI of the page-mode MESSAGEs"},
	{"domain", "users' domain for generated users, and of conf.<domain> rooms (default example.test)"},
	{"seed", "seed of the deterministic assignment of users to pairs and rooms (default 1)"},
	{"segment", "distributed run: this process's slice INDEX/COUNT, 0-based (0/4 .. 3/4): COUNT processes together run exactly the one-process workload (default: all of it)"},
}

type runFlags struct {
	settings   map[string]*string
	noRegister bool
	out        string
	quiet      bool
	procs      int // --procs: 0 auto (procs.go)
	faults     server.FaultFlags
	tls        tlsFlags
	iv         intervalFlags // --interval, --checkpoint, --hlog, --metrics-addr (intervals.go)
	thresholds []string      // --threshold, repeatable (thresholds.go)
	profile    string        // --profile: a built-in population (mix.go)
	health     healthFlags   // --allow-failures, --max-shortfall, --max-dropped (health.go)
	trace      traceFlags    // --trace, --trace-max-bytes (trace.go)
	findMax    bool          // --find-max: the capacity search with run's flags (capacity.go)
}

func newRunCmd(e *env) *cobra.Command {
	f := runFlags{settings: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "run [SCENARIO.yaml]",
		Short: "Load or soak a chat service: many sender/receiver pairs at a controlled rate",
		Long: `Run a scenario: log users on, join rooms, post messages at a controlled rate (open
model, --rate/--ramp) or by looping virtual users (closed model, --concurrency), and
measure what a chat user feels: post-to-delivery latency per receiver (from the
intended post time, so coordinated omission is not hidden), with loss, duplicates,
reordering and corruption counted exactly.

Built-in scenarios (--scenario): pair-cycle (the synthetic transaction as a loop),
steady (pairs stay joined and post), fanout (rooms of --room-size members), churn
(join/leave storms), login (log on/off storms), message (page-mode MESSAGE to --to;
with --no-register against any SIP UAS). A YAML file takes the same keys as the
flags; flags override it.

Without --target the embedded server is started on 127.0.0.1 with generated users
(and --fault-* faults, to see chatload detect them).

Output: a live progress line on stderr, the summary tables at the end, and the JSON
report with --out. Ctrl-C stops gracefully and still reports; a second Ctrl-C exits.
Soak runs: every --interval the report gets an interval row, --checkpoint a fsynced
JSON line (after a crash, chatload report CHECKPOINT rebuilds the report), --hlog
HdrHistogram log lines, and --metrics-addr serves live Prometheus metrics.
Distributed runs: --segment I/N (0-based) runs one of N slices that together are
the whole workload; chatload merge combines their reports.
Thresholds (--threshold, repeatable, and the file's thresholds list) are judged on
the report at the end (and per interval with "for N intervals"); each verdict is in
the tables and the JSON report; "abort" stops the run as soon as one fails.
--find-max runs chatload capacity's search instead (see its --help): --rate is the
first step's rate (with --profile, --users the first step's users), --duration each
step's hold, --threshold the service level, --out the result (- for standard
output), --max-shortfall/--max-dropped the generator's limits; the rest takes
capacity's defaults (factor 2, 8 steps, warm-up 5s, cool-down 2s, at most 1h).

` + exitStatusHelp,
		Example: `  chatload run --scenario steady --rate 200/s --duration 20s --out report.json
  chatload run --scenario fanout --rooms 5 --room-size 20 --rate 50/s --duration 1m
  chatload run soak.yaml --target 127.0.0.1:5090 --users-file users.csv
  chatload run --scenario steady --rate 500/s --duration 30s --fault-stall 1s/10s`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyFileFlags(cmd.Flags(), f.settings, args); err != nil {
				return err
			}
			if f.findMax {
				return runFindMax(cmd, e, f, args)
			}
			return runRun(cmd, e, f, args)
		},
	}
	fl := cmd.Flags()
	for _, s := range scenarioFlags {
		v := new(string)
		f.settings[s.name] = v
		fl.StringVar(v, s.name, "", s.usage)
	}
	fl.BoolVar(&f.noRegister, "no-register", false, "message scenario: send without registering (any SIP UAS, e.g. SIPp's)")
	fl.StringVar(&f.out, "out", "", "write the JSON report to this file, checked before the run; - for standard output, the tables then on stderr (default: not written)")
	fl.BoolVar(&f.quiet, "quiet", false, "no live progress line")
	fl.IntVar(&f.procs, "procs", 0, "GOMAXPROCS of the generator: 0 sizes it to the load (1 P, more when busy; the GOMAXPROCS environment variable, when set, is kept), N pins it")
	fl.StringArrayVar(&f.thresholds, "threshold", nil, thresholdUsage)
	fl.StringVar(&f.profile, "profile", "", "a built-in population run with --users N: "+strings.Join(scenarios.Profiles(), ", ")+
		" (Lync Server 2013 Persistent Chat's capacity model scaled to N users: rooms of 30, 150 and 16,000, joins, sign-ins and posts at once)")
	fl.BoolVar(&f.findMax, "find-max", false, "run the capacity search instead (chatload capacity): step the rate from --rate (or, with --profile, the users from --users) up until the service level (--threshold) breaks")
	addFaultFlags(cmd, &f.faults)
	addTLSFlags(cmd, &f.tls)
	addIntervalFlags(cmd, &f.iv)
	addHealthFlags(cmd, &f.health)
	addTraceFlags(cmd, &f.trace)
	showScenarioDefaults(cmd)
	setGroupedUsage(cmd, runFlagGroups)
	completeValues(cmd, "scenario", scenarios.Names()...)
	completeValues(cmd, "protocol", "imc", "xccos")
	completeValues(cmd, "transport", "udp", "tcp", "tls")
	aliasLoginRate(fl) // --login-rate is --logon-rate (loginrate.go)
	return cmd
}

// config builds the scenario: its defaults, then the file, then the flags set.
func (f runFlags) config(fl *pflag.FlagSet, args []string) (scenarios.Config, error) {
	name := "steady"
	var path string
	var data []byte
	if len(args) == 1 {
		path = args[0]
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return scenarios.Config{}, usageErr("scenario file: %v", err)
		}
		// The command's keys (interval, out, ...) were set as flags by applyFileFlags.
		if _, data, err = commandKeys(fl, f.settings, path, data); err != nil {
			return scenarios.Config{}, err
		}
		s, err := scenarios.PeekScenario(path, data)
		if err != nil {
			return scenarios.Config{}, usageErr("%v", err)
		}
		if s != "" {
			name = s
		}
	}
	if fl.Changed("scenario") {
		name = *f.settings["scenario"]
	}
	cfg, err := scenarios.Default(name)
	if err != nil {
		return cfg, usageErr("--scenario: %v", err)
	}
	// Unset until the file or a flag sets it: the default depends on the
	// protocol (tls for xccos, as Persistent Chat clients use; see SPEC).
	defTransport := cfg.Transport
	cfg.Transport = ""
	if data != nil {
		if err := scenarios.Load(path, data, &cfg); err != nil {
			return cfg, usageErr("%v", err)
		}
		// A relative users-file in the file is relative to the file's directory (as
		// scenarios.LoadFile does), so that "chatload run dir/s.yaml" works from anywhere.
		var top map[string]any
		if yaml.Unmarshal(data, &top) == nil && top["users-file"] != nil && cfg.UsersFile != "" && !filepath.IsAbs(cfg.UsersFile) {
			cfg.UsersFile = filepath.Join(filepath.Dir(path), cfg.UsersFile)
		}
	}
	set := map[string]string{}
	fl.Visit(func(p *pflag.Flag) {
		if _, ok := f.settings[p.Name]; ok || p.Name == "no-register" || p.Name == "allow-failures" {
			set[p.Name] = p.Value.String()
		}
		if p.Name == "threshold" { // a list: one threshold per line (see Config.Apply)
			set[p.Name] = strings.Join(f.thresholds, "\n")
		}
	})
	if err := cfg.Apply(set); err != nil {
		return cfg, usageErr("%v", err)
	}
	if err := refuseCombinations(path, data, set); err != nil {
		return cfg, err
	}
	given := givenSettings(path, data, set)
	defaultLogonRate(&cfg, given)
	sizeLogonParallel(&cfg, given)
	if cfg.Transport == "" {
		cfg.Transport = defTransport
		if p, ok := protocolNamed(cfg.Protocol); ok {
			cfg.Transport = p.Transports[0] // the protocol's default
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageErr("%v", err)
	}
	if err := cfg.CheckProtocol(protocolList()); err != nil {
		return cfg, usageErr("%v", err)
	}
	if _, err := checkThresholds(cfg, path, data, f.thresholds); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func runRun(cmd *cobra.Command, e *env, f runFlags, args []string) error {
	if _, err := f.health.limits(); err != nil {
		return err
	}
	if mix, ok, err := loadMix(cmd, f, args); ok || err != nil { // --profile, or a file with workloads (mix.go)
		if err != nil {
			return err
		}
		return runMix(cmd, e, f, mix)
	}
	ctx := cmd.Context()
	cfg, err := f.config(cmd.Flags(), args)
	if err != nil {
		return err
	}
	if err := checkOutputPath("--out", f.out); err != nil {
		return err
	}
	faults, err := f.faults.Faults()
	if err != nil {
		return usageErr("%v", err)
	}
	if f.procs < 0 {
		return usageErr("--procs %d: want 0 (auto) or a number of Ps", f.procs)
	}
	if cfg.Target != "" && faults.Enabled() {
		return usageErr("--fault-* apply to the embedded server only; with --target inject faults in the server under test")
	}

	if cfg.UsersFile == "" { // a file's users are counted once read
		if err := checkRunSize(cfg, cfg.UserCount(), cfg.Target == ""); err != nil {
			return err
		}
	}
	users, err := runUsers(cfg)
	if err != nil {
		return err
	}
	if cfg.UsersFile != "" {
		if err := checkRunSize(cfg, len(users), cfg.Target == ""); err != nil {
			return err
		}
	}
	sharing, err := transportSharing(cfg.TransportSharing, cfg.Protocol, cfg.Transport, len(users))
	if err != nil {
		return err
	}
	if cfg.UsersFile != "" && !cmd.Flags().Changed("domain") && cfg.Domain == defaultDomain(cfg.Scenario) {
		// Rooms live at conf.<the users' domain> unless told otherwise.
		cfg.Domain = scenarios.HostPart(users[0].URI)
	}
	rt, err := openRunTarget(ctx, e, f, cfg, faults, sharing,
		embeddedOptions{Users: users, UsersFile: cfg.UsersFile, Rooms: len(scenarios.RoomURIs(cfg))})
	if err != nil {
		return err
	}
	defer rt.close(e) // on the error paths; after the run the server was stopped already
	target, embedded, emb, drv, self := rt.addr, rt.embedded, rt.emb, rt.drv, rt.self

	thresholds, _ := checkThresholds(cfg, "", nil, nil) // checked by config
	runCtx, cancelRun := context.WithCancel(ctx)        // an abort threshold cancels it
	defer cancelRun()
	gate := newRunGate(thresholds, cancelRun, e.stderr)
	runID := newRunID()
	rtarget := report.Target{Address: target, Protocol: cfg.Protocol, Transport: cfg.Transport, Embedded: embedded}
	outs, err := f.iv.open(e, cfg, checkpointHeader(cfg, runID, self, rtarget))
	if err != nil {
		return err
	}
	defer outs.close()
	pp := newProgressPrinter(e.stderr, f.quiet, f.iv.every, cfg)
	procs := startProcs(f.procs, e.getenv)
	nr := startNoise()
	rep, runErr := engine.Run(runCtx, drv, engine.RunConfig{
		Scenario: cfg, Users: users, RunID: runID,
		Progress: func(p engine.Progress) { pp.show(p); outs.progress(p) },
		Interval: f.iv.every, OnInterval: nr.wrap(chainIntervals(outs.interval, gate.onInterval)), Aborted: gate.isAborted,
	})
	procsNote := procs.stopProcs()
	pp.done()
	if emb != nil {
		var embNote string
		rtarget.Server, embNote = emb.Stop(e)
		procsNote = strings.Trim(procsNote+"; "+embNote, "; ")
	}
	if rep == nil {
		return &exitError{code: 1, err: runErr}
	}
	procsNote = strings.Trim(sharingNote(sharing, cfg.Transport, len(users))+"; "+procsNote, "; ")
	rep.Generator.Note = strings.TrimPrefix(rep.Generator.Note+"; "+procsNote, "; ")
	rep.Tool = toolInfo()
	rtarget.Auth = authScheme(drv)
	rep.Target = rtarget
	nr.attach(rep)
	failed := gate.judge(rep) // before the tables and the JSON: both show the verdicts
	if err := outs.end(rep); err != nil {
		fmt.Fprintf(e.stderr, "chatload: %v\n", err) // the report itself is still written
	}
	if err := writeRunOutputs(e, f.out, rep); err != nil {
		return err
	}
	switch {
	case runErr != nil:
		// engine.ErrSetup (nothing could log on) and other errors: could not run.
		return &exitError{code: 1, err: runErr}
	case rep.EndReason == engine.EndAborted:
		_ = thresholdsFailed(e.stderr, failed, len(thresholds)) // the lines; the abort's error says the rest
		return &exitError{code: 3, err: errors.New("aborted by a threshold: the report covers what was measured until then")}
	case rep.EndReason == engine.EndInterrupted:
		// Not a completed run: a script must not read it as one.
		return &exitError{code: 1, err: errors.New("interrupted: the report covers what was measured until then")}
	}
	if err := segmentThresholds(e.stderr, cfg.Segment, failed, len(thresholds)); err != nil {
		return err
	}
	return f.health.verdict(e.stderr, rep, cfg.AllowFailures)
}

// defaultDomain is the scenario's default domain (the embedded server's).
func defaultDomain(scenario string) string {
	d, _ := scenarios.Default(scenario)
	return d.Domain
}

// runUsers returns the population: the users file, or the embedded server's generated users.
func runUsers(cfg scenarios.Config) ([]scenarios.User, error) {
	if cfg.UsersFile != "" {
		return readUsers(cfg.UsersFile)
	}
	if cfg.Target != "" && !cfg.NoRegister {
		return nil, usageErr("--users-file is required with --target (the accounts to log on)")
	}
	return server.GeneratedUsers(cfg.UserCount(), cfg.Domain), nil
}

func writeReport(path string, rep *report.Report) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := rep.WriteJSON(fh); err != nil {
		fh.Close()
		return fmt.Errorf("--out %s: %w", path, err)
	}
	return fh.Close()
}

// newRunID names a run: its start time and a random suffix, sortable and unique.
func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// givenSettings maps each setting given, as a flag (set) or in the scenario file, to
// where: "--rate" or "soak.yaml: rate".
func givenSettings(path string, data []byte, set map[string]string) map[string]string {
	given := map[string]string{}
	for k := range set {
		given[k] = "--" + k
	}
	if data != nil {
		var top map[string]any
		if yaml.Unmarshal(data, &top) == nil {
			for k := range top {
				if _, ok := given[k]; !ok {
					given[k] = path + ": " + k
				}
			}
		}
	}
	return given
}

// refuseCombinations refuses settings that would silently ignore one another, whether
// given as flags or in the scenario file (set: the flags given).
func refuseCombinations(path string, data []byte, set map[string]string) error {
	given := givenSettings(path, data, set)
	for _, c := range []struct{ a, b, why string }{
		{"rate", "concurrency", "--rate is the open model and --concurrency the closed one; to cap the operations in flight of an open model use --max-in-flight"},
		{"ramp", "concurrency", "--ramp is the open model and --concurrency the closed one; to cap the operations in flight of an open model use --max-in-flight"},
		{"rate", "ramp", "give a fixed --rate or the stages of --ramp"},
		{"iterations", "duration", "the steady phase ends after --iterations operations or after --duration, not both"},
	} {
		if wa, ok := given[c.a]; ok {
			if wb, ok := given[c.b]; ok {
				return usageErr("%s and %s: give one (%s)", wa, wb, c.why)
			}
		}
	}
	if th, ok := set["threshold"]; ok {
		for _, l := range strings.Split(th, "\n") {
			if strings.TrimSpace(l) == "" {
				return usageErr("--threshold \"\": empty; want e.g. 'delivery.p99 < 250ms'")
			}
		}
	}
	return nil
}

// writeRunOutputs writes a run's tables and its JSON report to out (--out): "-"
// puts the JSON on standard output and the tables on stderr, "" writes no JSON.
func writeRunOutputs(e *env, out string, rep *report.Report) error {
	tables := e.stdout
	if out == "-" { // the JSON report on standard output: the tables go to stderr
		tables = e.stderr
	}
	if err := rep.WriteTables(tables); err != nil {
		return err
	}
	if out == "-" {
		if err := rep.WriteJSON(e.stdout); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--out -: %w", err)}
		}
	} else if out != "" {
		if err := writeReport(out, rep); err != nil {
			return &exitError{code: 1, err: err}
		}
		fmt.Fprintf(e.stderr, "report written to %s\n", out)
	}
	return nil
}
