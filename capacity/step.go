package capacity

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/noise"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// StepConfig is what EngineRunner needs besides the driver. A plain value.
type StepConfig struct {
	Scenario scenarios.Config // the run's settings; the load model is replaced per step
	Users    []engine.User
	Warmup   time.Duration
	Hold     time.Duration
	// RunID names the steps' runs: RunID-sN for the Nth run.
	RunID string
	// Progress, when set, is told of each step's progress.
	Progress func(engine.Progress)
}

// StepScenario is base with the open-model load of one step: a ramp from 0 to rate
// over warmup, then rate for hold (without warm-up, rate for hold).
func StepScenario(base scenarios.Config, rate float64, warmup, hold time.Duration) scenarios.Config {
	c := base
	c.Concurrency, c.ThinkTime, c.Iterations = 0, 0, 0
	r := scenarios.Rate(rate)
	if warmup > 0 {
		c.Rate, c.Duration = 0, 0
		c.Ramp = []scenarios.Stage{{Duration: warmup, Rate: r}, {Duration: hold, Rate: r}}
	} else {
		c.Rate, c.Ramp, c.Duration = r, nil, hold
	}
	return c
}

// StepInterval is the reporting interval of a step: 1 s, shorter for holds under 5 s
// so that the hold has about five intervals to judge.
func StepInterval(hold time.Duration) time.Duration {
	if hold >= 5*time.Second {
		return time.Second
	}
	return max(hold/5, engine.MinInterval)
}

// EngineRunner returns a Runner that runs each step with engine.Run against d,
// recording the noise model (noise.Sampler) in its report. The hold window starts one
// interval after the warm-up ends (the interval holding the steady start is not
// judged: so no warm-up operation is).
func EngineRunner(d engine.Driver, sc StepConfig) Runner {
	n := 0
	return func(ctx context.Context, rate float64) (*report.Report, time.Time, error) {
		n++
		c := StepScenario(sc.Scenario, rate, sc.Warmup, sc.Hold)
		every := StepInterval(sc.Hold)
		s := noise.Start(engine.ProcessCPU)
		ivNoise := map[int64]*report.Noise{}
		rep, err := engine.Run(ctx, d, engine.RunConfig{
			Scenario: c, Users: sc.Users, RunID: stepID(sc.RunID, n), Progress: sc.Progress, Interval: every,
			OnInterval: func(iv report.Interval) { ivNoise[iv.Start.UnixNano()] = s.Interval() },
		})
		if rep == nil {
			return nil, time.Time{}, err
		}
		rep.Noise = s.Total()
		var holdFrom time.Time
		for i := range rep.Intervals {
			iv := &rep.Intervals[i]
			iv.Noise = ivNoise[iv.Start.UnixNano()]
			if holdFrom.IsZero() && iv.Phase == engine.PhaseSteady {
				holdFrom = iv.Start.Add(sc.Warmup + every)
			}
		}
		return rep, holdFrom, err
	}
}

func stepID(id string, n int) string {
	if id == "" {
		id = "capacity"
	}
	return id + "-s" + strconv.Itoa(n)
}

// MixStep is one step of a population search as its caller prepared it: the driver
// to run it over and its workloads (their rates are the population's; MixRunner
// adds the warm-up and the hold). Close, when set, releases what was prepared for
// the step (an embedded server sized for it, the driver).
type MixStep struct {
	Driver    engine.Driver
	Workloads []engine.Workload
	Close     func()
}

// Prepare prepares the step of a population search for users users. An error
// wrapping ErrBound ends the search there (the population cannot grow further);
// another means the step could not run.
type Prepare func(ctx context.Context, users int) (MixStep, error)

// MixRunner returns a Runner for a population search: each step is prepared for its
// users (prepare) and run with engine.RunMix, every workload at its own rate with a
// ramp from 0 over the warm-up, then the hold (StepScenario), the noise model
// recorded for the whole step. Each workload's hold window is its own (Judge):
// their setups differ (a room of 16,000 members takes longer to join than one of 30).
func MixRunner(prepare Prepare, sc StepConfig) Runner {
	n := 0
	return func(ctx context.Context, load float64) (*report.Report, time.Time, error) {
		n++
		ms, err := prepare(ctx, int(load))
		if err != nil {
			return nil, time.Time{}, err
		}
		if ms.Close != nil {
			defer ms.Close()
		}
		every := StepInterval(sc.Hold)
		ws := slices.Clone(ms.Workloads)
		for i := range ws {
			r := &ws[i].Run
			r.Scenario = StepScenario(r.Scenario, float64(r.Scenario.Rate), sc.Warmup, sc.Hold)
			r.Interval, r.OnInterval = every, nil
		}
		s := noise.Start(engine.ProcessCPU)
		rep, err := engine.RunMix(ctx, ms.Driver, engine.MixConfig{RunID: stepID(sc.RunID, n), Workloads: ws, Interval: every, Progress: sc.Progress})
		if rep == nil {
			return nil, time.Time{}, err
		}
		rep.Noise = s.Total()
		return rep, time.Time{}, err // Judge finds each workload's hold window
	}
}
