// Package capacity is the logic of `chatload capacity`: it steps the offered rate
// up, judges each step against a service level (thresholds) and the generator's own
// health, and finds the highest passing load and the knee. Running a step is the
// caller's (a Runner, engine.Run in the CLI); everything here is pure and
// deterministic given the steps' reports.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chatload/chatload/report"
)

// The verdicts of a step.
const (
	Pass         = "PASS"         // the service level held and the generator was healthy
	Trip         = "TRIP"         // the service level broke while the generator was healthy
	Inconclusive = "INCONCLUSIVE" // the generator could not hold its schedule (or was saturated): nothing said about the target
)

// DefaultThresholds are the service level when none is given: delivery p99 and p95,
// the failure rate and the loss rate. A threshold with nothing to observe in a step
// (no deliveries in a login scenario) is left out of its judgement.
var DefaultThresholds = []string{"delivery.p99 < 250ms", "delivery.p95 < 100ms", "failures.rate < 1%", "messages.loss_rate < 0.1%"}

// Config is a search. A plain value.
type Config struct {
	Start    float64       // the first step's rate, per second
	Factor   float64       // > 1: each step's rate is the previous one's times Factor
	Step     float64       // > 0 (with Factor 0): each step adds Step per second
	MaxRate  float64       // 0: no bound; steps above it are not run
	MaxSteps int           // the number of rates tried at most (retries not counted)
	Warmup   time.Duration // per step, before the hold: not judged
	Hold     time.Duration // per step: judged
	Cooldown time.Duration // after each step, before the next
	// Thresholds are the service level; Health the generator's limits.
	Thresholds []report.Threshold
	Health     report.HealthLimits
	// Knee is the latency growth over the first step's that marks the knee (0: 2, i.e. doubled).
	Knee float64
}

// Validate checks c, naming the flag at fault.
func (c Config) Validate() error {
	switch {
	case !(c.Start > 0):
		return errors.New("--start: want a rate above 0, such as 50/s")
	case c.Factor != 0 && c.Step != 0:
		return errors.New("--factor and --step: give one (multiply or add)")
	case c.Factor == 0 && !(c.Step > 0):
		return errors.New("--step: want a rate above 0, or --factor above 1")
	case c.Factor != 0 && !(c.Factor > 1):
		return fmt.Errorf("--factor %v: want more than 1", c.Factor)
	case c.MaxSteps < 1:
		return fmt.Errorf("--max-steps %d: want 1 or more", c.MaxSteps)
	case c.MaxRate < 0:
		return errors.New("--max-rate: want a rate above 0")
	case c.MaxRate > 0 && c.MaxRate < c.Start:
		return fmt.Errorf("--max-rate %v is below --start %v", c.MaxRate, c.Start)
	case c.Hold <= 0:
		return errors.New("--step-duration: want a duration above 0, such as 30s")
	case c.Warmup < 0:
		return errors.New("--warmup: want 0 or more")
	case c.Cooldown < 0:
		return errors.New("--cooldown: want 0 or more")
	}
	return nil
}

// Step is one step's outcome. Latencies are of the hold window, in milliseconds.
type Step struct {
	Index      int              `json:"index"`   // 1-based: the step's rate
	Attempt    int              `json:"attempt"` // 1, or 2 for the retry of a TRIP or INCONCLUSIVE
	TargetRate float64          `json:"target_rate"`
	Achieved   float64          `json:"achieved_rate"` // over the hold window
	Dropped    uint64           `json:"dropped"`
	P50MS      *float64         `json:"p50_ms"`
	P99MS      *float64         `json:"p99_ms"`
	Metric     string           `json:"metric"` // whose latency: "delivery", or the scenario's operation
	ErrorRate  float64          `json:"error_rate"`
	LossRate   *float64         `json:"loss_rate"`
	Verdict    string           `json:"verdict"`
	Reason     string           `json:"reason"`
	Thresholds []report.Verdict `json:"thresholds"`
	Noise      *report.Noise    `json:"noise,omitempty"`
}

// Result is a finished search.
type Result struct {
	// HighestPass is the highest rate that passed (0: none did).
	HighestPass float64 `json:"highest_passing_rate"`
	// Knee is the highest passing rate whose latency was at most Config.Knee times the
	// first step's (0: none); KneeNote says how it was found.
	Knee     float64 `json:"knee_rate"`
	KneeNote string  `json:"knee_note"`
	// Stop says why the search ended.
	Stop  string `json:"stop"`
	Steps []Step `json:"steps"`
}

// Runner runs one step at rate (per second) with warm-up and hold, and returns its
// report and the start of the hold window. An error means the step could not run at
// all (nothing measured); a report with an error is still judged.
type Runner func(ctx context.Context, rate float64) (rep *report.Report, holdFrom time.Time, err error)

// ErrNoStep is wrapped when the first step could not run: the search could not run.
var ErrNoStep = errors.New("the search could not run")

// Search steps the rate up from c.Start: each step is run (run) and judged (Judge);
// a TRIP or INCONCLUSIVE is run once more at the same rate, and the search stops at
// the first one confirmed by its retry (a TRIP: the target's limit; INCONCLUSIVE: the
// generator's), after MaxSteps rates, above MaxRate, or when ctx is done. Cooldown is
// waited between steps. It returns what was found, and an error wrapping ErrNoStep
// when not even the first step could run.
func Search(ctx context.Context, c Config, run Runner) (Result, error) {
	var res Result
	rate := c.Start
	for i := 1; i <= c.MaxSteps; i++ {
		if c.MaxRate > 0 && rate > c.MaxRate*(1+1e-9) {
			res.Stop = fmt.Sprintf("no trip up to the --max-rate %s", fmtRate(c.MaxRate))
			break
		}
		var st Step
		for attempt := 1; attempt <= 2; attempt++ {
			if len(res.Steps) > 0 && !pause(ctx, c.Cooldown) {
				res.Stop = "interrupted"
				return finish(res, c), nil
			}
			rep, holdFrom, err := run(ctx, rate)
			if rep == nil {
				if len(res.Steps) == 0 {
					return res, fmt.Errorf("%w: step 1 at %s: %v", ErrNoStep, fmtRate(rate), err)
				}
				res.Stop = fmt.Sprintf("step %d at %s could not run: %v", i, fmtRate(rate), err)
				return finish(res, c), nil
			}
			st = Judge(rep, holdFrom, c)
			st.Index, st.Attempt, st.TargetRate = i, attempt, rate
			if err != nil && st.Verdict == Pass {
				st.Verdict, st.Reason = Inconclusive, "the step ended early: "+err.Error()
			}
			res.Steps = append(res.Steps, st)
			if ctx.Err() != nil {
				res.Stop = "interrupted"
				return finish(res, c), nil
			}
			if st.Verdict == Pass {
				break
			}
		}
		switch st.Verdict {
		case Trip:
			res.Stop = fmt.Sprintf("confirmed TRIP at %s (step %d, retried once): %s", fmtRate(rate), i, st.Reason)
			return finish(res, c), nil
		case Inconclusive:
			if first := res.Steps[len(res.Steps)-2]; first.Verdict == Trip {
				res.Stop = fmt.Sprintf("TRIP at %s (step %d) not confirmed: its retry was INCONCLUSIVE (%s); the limit is at or below %s, the target's or this generator's",
					fmtRate(rate), i, st.Reason, fmtRate(rate))
				return finish(res, c), nil
			}
			res.Stop = fmt.Sprintf("the generator could not hold %s (step %d, retried once): %s; the target's limit is above what this generator can offer", fmtRate(rate), i, st.Reason)
			return finish(res, c), nil
		}
		if i == c.MaxSteps {
			res.Stop = fmt.Sprintf("no trip within --max-steps %d", c.MaxSteps)
		}
		if c.Factor > 0 {
			rate *= c.Factor
		} else {
			rate += c.Step
		}
	}
	return finish(res, c), nil
}

// pause waits d unless ctx is done first; false when it was.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// finish fills the highest passing rate and the knee.
func finish(res Result, c Config) Result {
	knee := c.Knee
	if knee <= 0 {
		knee = 2
	}
	var first *float64
	for _, s := range res.Steps {
		if s.Verdict != Pass {
			continue
		}
		res.HighestPass = max(res.HighestPass, s.TargetRate)
		if s.P99MS == nil {
			continue
		}
		if first == nil {
			first = s.P99MS
		}
		if *s.P99MS <= knee**first {
			res.Knee = max(res.Knee, s.TargetRate)
		}
	}
	switch {
	case first == nil:
		res.KneeNote = "no passing step with latencies"
	default:
		res.KneeNote = fmt.Sprintf("the highest passing rate whose p99 stayed within %gx the first step's (%s ms)", knee, fmtMS(*first))
	}
	return res
}

// Judge judges one step: INCONCLUSIVE when the generator did not hold its schedule
// or was saturated (report.Saturation), unless it held its schedule and a latency
// limit is broken by more than the generator's schedule lag p99 (TRIP); else TRIP
// when a threshold of the service level fails on the hold window (the intervals from holdFrom; losses and failures of
// the whole step, since copies are counted lost only after their deadline), else PASS.
// A threshold with nothing to observe is left out. It is safe for concurrent use.
func Judge(rep *report.Report, holdFrom time.Time, c Config) Step {
	hold := HoldWindow(rep, holdFrom)
	st := Step{Achieved: rep.Load.AchievedRate, Dropped: rep.Load.Dropped, Noise: rep.Noise, Thresholds: []report.Verdict{}}
	op := "delivery"
	if o, ok := hold.Operations[op]; !ok || o.Count == o.Errors {
		op = headOp(hold)
	}
	st.Metric = op
	if len(hold.Intervals) > 0 && len(hold.Intervals) < len(rep.Intervals) {
		var sum float64
		for _, iv := range hold.Intervals {
			sum += iv.Load.AchievedRate
		}
		st.Achieved = sum / float64(len(hold.Intervals)) // the hold's, not the warm-up's
	}
	if o, ok := hold.Operations[op]; ok && o.Count > o.Errors {
		st.P50MS, st.P99MS = ptr(o.LatencyUS.P50/1e3), ptr(o.LatencyUS.P99/1e3)
	}
	var n, errs uint64
	for _, o := range rep.Operations {
		n += o.Count
		errs += o.Errors
	}
	if n > 0 {
		st.ErrorRate = float64(errs) / float64(n)
	}
	if m := rep.Messages; m.ExpectedDeliveries > 0 {
		st.LossRate = ptr(float64(m.Lost) / float64(m.ExpectedDeliveries))
	}
	var failed, beyond []string
	lag := rep.Generator.ScheduleLagP99US
	for _, t := range c.Thresholds {
		v := t.Check(hold)
		if v.Observed == "-" && strings.Contains(v.Detail, "nothing to check") {
			continue
		}
		st.Thresholds = append(st.Thresholds, v)
		if !v.Pass {
			failed = append(failed, fmt.Sprintf("%s (observed %s)", v.Threshold, v.Observed))
			if latencyBeyond(t, hold, lag) {
				beyond = append(beyond, fmt.Sprintf("%s (observed %s, more than the generator's schedule lag p99 %s ms over it)", v.Threshold, v.Observed, fmtMS(lag/1e3)))
			}
		}
	}
	// A saturated generator makes the step INCONCLUSIVE, unless a latency limit is
	// broken by more than the generator's own lateness: then the target is slow anyway.
	if why := report.Saturation(rep, c.Health); why != "" {
		if len(beyond) > 0 && report.ScheduleProblem(rep, c.Health) == "" {
			st.Verdict, st.Reason = Trip, strings.Join(beyond, ", ")+"; the generator was busy too: "+why
			return st
		}
		st.Verdict, st.Reason = Inconclusive, why
		return st
	}
	if len(failed) > 0 {
		st.Verdict, st.Reason = Trip, strings.Join(failed, ", ")
		return st
	}
	st.Verdict, st.Reason = Pass, fmt.Sprintf("%d thresholds held", len(st.Thresholds))
	return st
}

// latencyBeyond reports whether t is an upper limit on an operation's latency
// percentile ("delivery.p99 < 250ms") that the hold window breaks even with the
// generator's schedule lag p99 (lagUS) taken off the observed value.
func latencyBeyond(t report.Threshold, hold *report.Report, lagUS float64) bool {
	op, stat, ok := strings.Cut(t.Metric, ".")
	o, found := hold.Operations[op]
	if !ok || !found || (t.Op != "<" && t.Op != "<=") || o.Count == o.Errors {
		return false
	}
	l := o.LatencyUS
	v, known := map[string]float64{"p50": l.P50, "p90": l.P90, "p95": l.P95, "p99": l.P99, "p999": l.P999, "max": l.Max, "mean": l.Mean}[stat]
	unit := map[string]float64{"us": 1, "ms": 1e3, "s": 1e6}[t.Unit]
	if !known || unit == 0 {
		return false
	}
	limit := t.Value * unit
	v -= lagUS
	return v > limit || (t.Op == "<" && v == limit)
}

// HoldWindow returns rep as judged: its operations those of the steady intervals
// that start at or after holdFrom (all of them when none does, or holdFrom is zero),
// its intervals those, the rest (messages, failures, load) the whole step's.
func HoldWindow(rep *report.Report, holdFrom time.Time) *report.Report {
	h := *rep
	var ivs []report.Interval
	for _, iv := range rep.Intervals {
		if (iv.Phase == "steady" || iv.Phase == "") && !iv.Start.Before(holdFrom) {
			ivs = append(ivs, iv)
		}
	}
	if len(ivs) == 0 {
		return &h
	}
	ops := map[string]report.Operation{}
	for _, iv := range ivs {
		if err := report.MergeOperations(ops, iv.Operations); err != nil {
			return &h // a histogram that does not decode: judge the whole step
		}
	}
	h.Operations, h.Intervals = ops, ivs
	return &h
}

// headOp is the operation with the most successful samples: the scenario's unit.
func headOp(r *report.Report) string {
	best, n := "", uint64(0)
	for k, o := range r.Operations {
		if s := o.Count - o.Errors; s > n || (s == n && k < best) {
			best, n = k, s
		}
	}
	return best
}

func ptr(f float64) *float64 { return &f }

func fmtRate(r float64) string {
	if r == math.Trunc(r) {
		return fmt.Sprintf("%.0f/s", r)
	}
	return fmt.Sprintf("%.1f/s", r)
}

func fmtMS(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.2f", ms)
}
