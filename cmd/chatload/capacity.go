package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/capacity"
	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

// capacityLoadFlags are run's scenario flags that capacity sets itself per step.
var capacityLoadFlags = []string{"rate", "ramp", "concurrency", "duration", "iterations", "think-time"}

type capacityFlags struct {
	run                      runFlags
	start, step, maxRate     string
	factor                   float64
	hold, warmup, cooldown   time.Duration
	maxSteps                 int
	out, html                string
	format                   string
	maxShortfall, maxDropped string
}

func newCapacityCmd(e *env) *cobra.Command {
	f := capacityFlags{run: runFlags{settings: map[string]*string{}}}
	cmd := &cobra.Command{
		Use:   "capacity [SCENARIO.yaml]",
		Short: "Find how much load the service takes: step the rate up until the service level breaks",
		Long: `Step the offered rate up from --start (times --factor, or plus --step) and judge
each step against the service level: the thresholds (--threshold, repeatable, and the
file's; default ` + strings.Join(capacity.DefaultThresholds, ", ") + `;
a threshold with nothing to observe in a scenario is left out).

Each step is a run of the scenario: log on and join, a warm-up (--warmup, the rate
ramping up from 0, not judged), the hold (--step-duration, judged on its intervals;
losses and failures on the whole step), drain and log off, then --cooldown before
the next. A step is
  PASS          every threshold held and the generator was healthy
  TRIP          a threshold failed while the generator was healthy
  INCONCLUSIVE  the generator could not hold its schedule (achieved rate more than
                --max-shortfall below the target, more than --max-dropped dropped) or
                was saturated (CPU, run-queue wait, steal, schedule lag): a weak
                generator never reads as a weak server.
A TRIP or INCONCLUSIVE step is run once more at the same rate; the search stops at the
first one its retry confirms, at --max-steps rates or above --max-rate. It reports the
highest passing load, the knee (the highest passing rate whose p99 stayed within 2x
the first step's) and the per-step table; --out writes it as JSON, --html as a page.

Without --target the embedded server is started (with --fault-* faults: --fault-delay
makes it trip).

Exit status: 0 the search finished (whatever it found), 1 it could not run (the
first step failed to start, or interrupted), 2 usage error.`,
		Example: `  chatload capacity --start 50/s --factor 1.5 --step-duration 20s --max-steps 8
  chatload capacity --target 10.0.0.5:5060 --users-file users.csv --start 100/s --step 100/s --threshold 'delivery.p99 < 200ms' --out cap.json
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
	fl.StringVar(&f.start, "start", "10/s", "the first step's rate")
	fl.Float64Var(&f.factor, "factor", 0, "each step's rate is the previous one's times this (default 2, unless --step)")
	fl.StringVar(&f.step, "step", "", "each step adds this rate, e.g. 50/s (instead of --factor)")
	fl.StringVar(&f.maxRate, "max-rate", "", "no step above this rate")
	fl.IntVar(&f.maxSteps, "max-steps", 8, "rates tried at most (a retry is not counted)")
	fl.DurationVar(&f.hold, "step-duration", 20*time.Second, "each step's hold: judged")
	fl.DurationVar(&f.warmup, "warmup", 5*time.Second, "each step's warm-up before the hold: the rate ramps up from 0, not judged")
	fl.DurationVar(&f.cooldown, "cooldown", 2*time.Second, "pause after each step")
	fl.StringVar(&f.out, "out", "", "write the result as JSON to this file")
	fl.StringVar(&f.html, "html", "", "write the result as a self-contained HTML page to this file")
	fl.StringVar(&f.format, "format", "table", "standard output: table or json")
	fl.StringVar(&f.maxShortfall, "max-shortfall", "1%", "a step is INCONCLUSIVE when its achieved rate is more than this below the target")
	fl.StringVar(&f.maxDropped, "max-dropped", "0.1%", "a step is INCONCLUSIVE when more than this share of its scheduled work was dropped")
	fl.BoolVar(&f.run.quiet, "quiet", false, "no live progress line")
	fl.StringArrayVar(&f.run.thresholds, "threshold", nil, "the service level: "+thresholdUsage)
	addFaultFlags(cmd, &f.run.faults)
	addTLSFlags(cmd, &f.run.tls)
	return cmd
}

// searchConfig reads the search flags.
func (f *capacityFlags) searchConfig(fl interface{ Changed(string) bool }) (capacity.Config, error) {
	c := capacity.Config{MaxSteps: f.maxSteps, Hold: f.hold, Warmup: f.warmup, Cooldown: f.cooldown, Factor: f.factor}
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
	} else if !fl.Changed("factor") {
		c.Factor = 2
	}
	if f.maxRate != "" {
		if c.MaxRate, err = rate("--max-rate", f.maxRate); err != nil {
			return c, err
		}
	}
	h := healthFlags{shortfall: f.maxShortfall, dropped: f.maxDropped}
	if c.Health, err = h.limits(); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, usageErr("%v", err)
	}
	return c, nil
}

func runCapacity(cmd *cobra.Command, e *env, f *capacityFlags, args []string) error {
	ctx := cmd.Context()
	switch f.format {
	case "table", "json":
	default:
		return usageErr("--format %q: want table or json", f.format)
	}
	sc, err := f.searchConfig(cmd.Flags())
	if err != nil {
		return err
	}
	cfg, err := f.run.config(cmd.Flags(), args)
	if err != nil {
		return err
	}
	if cfg.Model() != "open" || len(cfg.Ramp) > 0 || cfg.Iterations > 0 {
		return usageErr("capacity sets the load itself (an open-model rate per step): drop concurrency, ramp and iterations from the scenario file")
	}
	ths, _ := checkThresholds(cfg, "", nil, nil) // checked by config
	if len(ths) == 0 {
		for _, s := range capacity.DefaultThresholds {
			t, err := report.ParseThreshold(s)
			if err != nil {
				return err
			}
			ths = append(ths, t)
		}
	}
	for _, t := range ths {
		if t.ForIntervals > 0 || t.Abort {
			return usageErr("--threshold %q: capacity judges each step's hold as a whole: drop \"for N intervals\" and \"abort\"", t.Expr)
		}
	}
	sc.Thresholds = ths
	cfg.Thresholds = nil // judged by the search, not by each step's run

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
	if err := f.run.tls.validate(cfg.Transport, cfg.Target); err != nil {
		return err
	}
	target := cfg.Target
	var tlsConf *tls.Config
	if target == "" {
		srv, err := server.New(server.Config{Domain: cfg.Domain, Listen: []string{cfg.Transport + ":127.0.0.1:0"}, Users: users,
			Generated: cfg.UsersFile == "", Rooms: len(scenarios.RoomURIs(cfg)), Faults: faults})
		if err != nil {
			return usageErr("embedded server: %v", err)
		}
		if err := srv.Start(ctx); err != nil {
			return &exitError{code: exitCannotRun, err: fmt.Errorf("embedded server: %w", err)}
		}
		defer srv.Close()
		target = srv.Addrs()[0].Addr
		if tlsConf, err = embeddedTLS(cfg.Transport, srv.CertificatePEM()); err != nil {
			return &exitError{code: exitCannotRun, err: err}
		}
		if faults.Enabled() {
			fmt.Fprintf(e.stderr, "embedded server with fault injection: %s\n", faults)
		}
	} else if target, err = resolveTarget(ctx, e, target, cfg.Transport); err != nil {
		return usageErr("%v", err)
	} else if tlsConf, err = f.run.tls.config(e, cfg.Transport, cfg.Target); err != nil {
		return err
	}
	self, _ := buildVersions()
	drv, err := drivers[cfg.Protocol](driverOptions{target: target, transport: cfg.Transport, tls: tlsConf, timeout: cfg.Timeout,
		noRegister: cfg.NoRegister, userAgent: "chatload/" + self, sharing: sharing})
	if err != nil {
		return &exitError{code: exitCannotRun, err: err}
	}
	defer drv.Close()

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
