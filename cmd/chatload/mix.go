package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

// runMix runs a mixed run (a scenario file with workloads, or a profile): the
// run's scenario flags apply to every workload after the file, --threshold adds to
// the mix's thresholds; one driver and (without --target) one embedded server with
// every workload's users and rooms serve them all, a child process as for a single
// run. The live outputs (progress, --checkpoint, --hlog, --metrics-addr) and the
// abort thresholds (the total's on the mix's intervals, a workload's on its own)
// work as for a single run. Its exit statuses are run's.
func runMix(cmd *cobra.Command, e *env, f runFlags, mix scenarios.Mix) error {
	ctx := cmd.Context()
	fl := cmd.Flags()
	if fl.Changed("scenario") {
		return usageErr("--scenario: a mixed run names a scenario per workload (in its file)")
	}
	if err := checkOutputPath("--out", f.out); err != nil {
		return err
	}
	if f.procs < 0 {
		return usageErr("--procs %d: want 0 (auto) or a number of Ps", f.procs)
	}
	set := mixFlagSettings(fl, f)
	if f.profile != "" {
		set = map[string]string{} // the profile took them (profileMix)
	}
	faults, err := f.faults.Faults()
	if err != nil {
		return usageErr("%v", err)
	}
	for i := range mix.Workloads {
		w := &mix.Workloads[i]
		if err := w.Config.Apply(set); err != nil {
			return usageErr("workload %s: %v", w.Name, err)
		}
		mix.HoistUsersFile()
		if w.Config.Transport == "" {
			w.Config.Transport = "udp"
			if p, ok := protocolNamed(w.Config.Protocol); ok {
				w.Config.Transport = p.Transports[0]
			}
		}
		if err := w.Config.CheckProtocol(protocolList()); err != nil {
			return usageErr("workload %s: %v", w.Name, err)
		}
	}
	if err := mix.Validate(); err != nil {
		return usageErr("%v", err)
	}
	var ts []report.Threshold
	for _, s := range append(mix.Thresholds, f.thresholds...) {
		t, err := report.ParseThreshold(s)
		if err != nil {
			return usageErr("%v", err)
		}
		if t.Workload != "" && !mixHas(mix, t.Workload) {
			return usageErr("threshold %q: no workload %s in this run", s, t.Workload)
		}
		ts = append(ts, t)
	}
	first := mix.Workloads[0].Config
	if faults.Enabled() && first.Target != "" {
		return usageErr("--fault-* apply to the embedded server only; with --target inject faults in the server under test")
	}
	if mix.UsersFile == "" && first.Target == "" {
		if err := checkRunSize(first, mix.Users(), true); err != nil {
			return err
		}
	}
	var users []scenarios.User
	switch {
	case mix.UsersFile != "":
		if users, err = readUsers(mix.UsersFile); err != nil {
			return err
		}
		if len(users) < mix.Users() {
			return usageErr("the users file %s has %d users; the workloads take %d", mix.UsersFile, len(users), mix.Users())
		}
	case first.Target != "":
		return usageErr("--users-file is required with --target (the accounts to log on)")
	default:
		users = server.GeneratedUsers(mix.Users(), first.Domain)
	}
	sharing, err := transportSharing(first.TransportSharing, first.Protocol, first.Transport, len(users))
	if err != nil {
		return err
	}
	rt, err := openRunTarget(ctx, e, f, first, faults, sharing,
		embeddedOptions{Users: users, UsersFile: mix.UsersFile, Rooms: mix.Rooms(), AnnounceMax: mix.AnnounceMax})
	if err != nil {
		return err
	}
	defer rt.close(e) // on the error paths; after the run the server was stopped already
	target, embedded, emb, drv := rt.addr, rt.embedded, rt.emb, rt.drv
	if mix.Note != "" && !f.quiet {
		fmt.Fprintln(e.stderr, mix.Note)
	}
	ws := make([]engine.Workload, len(mix.Workloads))
	for i, w := range mix.Workloads {
		ws[i] = engine.Workload{Name: w.Name, Start: w.Start,
			Run: engine.RunConfig{Scenario: w.Config, Users: users[w.First : w.First+w.Count]}}
		if !f.quiet {
			fmt.Fprintf(e.stderr, "workload %s: %s\n", w.Name, w.Config)
		}
	}

	runCtx, cancelRun := context.WithCancel(ctx) // an abort threshold cancels it
	defer cancelRun()
	gate := newRunGate(ts, cancelRun, e.stderr)
	runID := newRunID()
	rtarget := report.Target{Address: target, Protocol: first.Protocol, Transport: first.Transport, Embedded: embedded}
	label := mixLabel(mix, f.profile)
	outs, err := f.iv.open(e, scenarios.Config{Scenario: label}, mixHeader(mix, runID, rtarget))
	if err != nil {
		return err
	}
	defer outs.close()
	pp := newProgressPrinter(e.stderr, f.quiet, f.iv.every, scenarios.Config{Scenario: label, Duration: mixPlanned(mix)})
	procs := startProcs(f.procs, e.getenv)
	nr := startNoise()
	rep, runErr := engine.RunMix(runCtx, drv, engine.MixConfig{
		RunID: runID, Workloads: ws, Interval: f.iv.every,
		Progress:           func(p engine.Progress) { pp.show(p); outs.progress(p) },
		OnInterval:         nr.wrap(chainIntervals(outs.interval, gate.onInterval)),
		OnWorkloadInterval: gate.onWorkloadInterval,
		Aborted:            gate.isAborted,
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
	if procsNote != "" {
		rep.Generator.Note = strings.TrimPrefix(rep.Generator.Note+"; "+procsNote, "; ")
	}
	rep.Tool = toolInfo()
	rtarget.Auth = authScheme(drv)
	rep.Target = rtarget
	nr.attach(rep)
	failed := gate.judge(rep)
	if err := outs.end(rep); err != nil {
		fmt.Fprintf(e.stderr, "chatload: %v\n", err) // the report itself is still written
	}
	if err := writeRunOutputs(e, f.out, rep); err != nil {
		return err
	}
	switch {
	case runErr != nil:
		return &exitError{code: 1, err: runErr}
	case rep.EndReason == engine.EndAborted:
		_ = thresholdsFailed(e.stderr, failed, len(ts))
		return &exitError{code: 3, err: errors.New("aborted by a threshold: the report covers what was measured until then")}
	case rep.EndReason == engine.EndInterrupted:
		return &exitError{code: 1, err: errors.New("interrupted: the report covers what was measured until then")}
	}
	if err := thresholdsFailed(e.stderr, failed, len(ts)); err != nil {
		return err
	}
	return f.health.verdict(e.stderr, rep, first.AllowFailures || f.health.allowFailures)
}

// mixLabel names a mixed run on its progress line and metrics: the profile, else
// "mix".
func mixLabel(m scenarios.Mix, profile string) string {
	if profile != "" {
		return profile
	}
	return "mix"
}

// mixPlanned is how long the mix's steady phase is planned to last: until the
// last workload's planned end (0 when one runs by iterations).
func mixPlanned(m scenarios.Mix) time.Duration {
	var d time.Duration
	for _, w := range m.Workloads {
		p := plannedSteady(w.Config)
		if p == 0 {
			return 0
		}
		d = max(d, w.Start+p)
	}
	return d
}

// mixHeader is a mixed run's checkpoint header: its identity and its workloads'
// scenarios, known before it starts.
func mixHeader(m scenarios.Mix, runID string, target report.Target) *report.Report {
	type named struct {
		Name     string           `json:"name"`
		Scenario scenarios.Config `json:"scenario"`
	}
	var list []named
	for _, w := range m.Workloads {
		list = append(list, named{w.Name, w.Config})
	}
	scen, err := json.Marshal(map[string]any{"workloads": list})
	if err != nil {
		scen = []byte("null")
	}
	return &report.Report{SchemaVersion: report.SchemaVersion, Tool: toolInfo(), RunID: runID, Scenario: scen,
		Target: target, StartedAt: time.Now(), Load: report.Load{Model: "mixed"}}
}

// mixFlagSettings are the scenario flags the user set, as Config.Apply takes them
// (--threshold apart: it adds to the mix's thresholds).
func mixFlagSettings(fl *pflag.FlagSet, f runFlags) map[string]string {
	set := map[string]string{}
	fl.Visit(func(p *pflag.Flag) {
		if _, ok := f.settings[p.Name]; (ok && p.Name != "scenario") || p.Name == "no-register" {
			set[p.Name] = p.Value.String()
		}
	})
	return set
}

func mixHas(m scenarios.Mix, name string) bool {
	for _, w := range m.Workloads {
		if w.Name == name {
			return true
		}
	}
	return false
}

// loadMix returns the mixed run args and the flags ask for (ok): --profile, or a
// scenario file with workloads. Anything else is left to the one-scenario path.
func loadMix(cmd *cobra.Command, f runFlags, args []string) (mix scenarios.Mix, ok bool, err error) {
	if f.profile != "" {
		return profileMix(cmd, f, args)
	}
	if len(args) != 1 {
		return mix, false, nil
	}
	data, err := os.ReadFile(args[0])
	if err != nil || !scenarios.IsMix(args[0], data) {
		return mix, false, nil // the one-scenario path reports a read error
	}
	if mix, err = scenarios.LoadMix(args[0], data); err != nil {
		return mix, true, usageErr("%v", err)
	}
	return mix, true, nil
}

// profileMix is the mix of --profile for --users N, over the common settings of the
// other flags (target, protocol, duration, ...).
func profileMix(cmd *cobra.Command, f runFlags, args []string) (scenarios.Mix, bool, error) {
	fl := cmd.Flags()
	switch {
	case len(args) > 0:
		return scenarios.Mix{}, true, usageErr("--profile %s: give the profile or a scenario file, not both", f.profile)
	case !fl.Changed("users"):
		return scenarios.Mix{}, true, usageErr("--profile %s: give the population with --users N", f.profile)
	}
	base, err := scenarios.Default(scenarios.Steady)
	if err != nil {
		return scenarios.Mix{}, true, err
	}
	base.Transport = ""    // the protocol's default unless --transport
	base.LogonParallel = 0 // the profile's pacing unless --logon-parallel
	set := mixFlagSettings(fl, f)
	users, err := strconv.Atoi(strings.TrimSpace(set["users"]))
	if err != nil {
		return scenarios.Mix{}, true, usageErr("--users %q: want a whole number", set["users"])
	}
	for _, k := range []string{"users", "pairs", "rooms", "room-size", "rate", "ramp", "concurrency", "iterations", "think-time", "to", "no-register", "history"} {
		delete(set, k) // the profile's own
	}
	if err := base.Apply(set); err != nil {
		return scenarios.Mix{}, true, usageErr("%v", err)
	}
	mix, err := scenarios.Profile(f.profile, users, base)
	if err != nil {
		return scenarios.Mix{}, true, usageErr("%v", err)
	}
	return mix, true, nil
}
