// Package capacity is the logic of `chatload capacity`: it steps the load up (the
// offered rate, or the population of a profile), judges each step against a service level (thresholds) and the generator's own
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
	// Users: the load stepped is a population (a profile's users, whole numbers), not
	// a rate; Start, Step and Max are then in users.
	Users    bool
	Start    float64       // the first step's load: a rate per second, or users
	Factor   float64       // > 1: each step's load is the previous one's times Factor
	Step     float64       // > 0 (with Factor 0): each step adds Step
	Max      float64       // 0: no bound; steps above it are not run
	MaxSteps int           // the number of loads tried at most (retries not counted)
	Warmup   time.Duration // per step, before the hold: not judged
	Hold     time.Duration // per step: judged
	Cooldown time.Duration // after each step, before the next
	// MaxDuration bounds the whole search (0: no bound): a step (or retry) is not
	// started when it would end after it, judged by the step's planned length or the
	// longest step so far, whichever is longer.
	MaxDuration time.Duration
	// Thresholds are the service level; Health the generator's limits.
	Thresholds []report.Threshold
	Health     report.HealthLimits
	// Knee is the latency growth over the first step's that marks the knee (0: 2, i.e. doubled).
	Knee float64
	// MaxInFlight is the generator's cap on operations in flight (the scenario's
	// --max-in-flight; 0: unknown). Work dropped at the cap counts against the target
	// only when a target meeting the broken latency limit would not have reached it.
	MaxInFlight int
}

// Flags are the names of the flags that set Start, Step and Max: --start, --step
// and --max-rate, or --users-start, --users-step and --max-users for a population.
func (c Config) Flags() (start, step, maxf string) {
	if c.Users {
		return "--users-start", "--users-step", "--max-users"
	}
	return "--start", "--step", "--max-rate"
}

// Validate checks c, naming the flag at fault.
func (c Config) Validate() error {
	start, step, maxf := c.Flags()
	whole := func(v float64) bool { return !c.Users || v == math.Trunc(v) }
	switch {
	case c.Users && !(c.Start >= 2 && whole(c.Start)):
		return fmt.Errorf("%s %v: want a whole number of users, 2 or more", start, c.Start)
	case !(c.Start > 0):
		return fmt.Errorf("%s: want a rate above 0, such as 50/s", start)
	case c.Factor != 0 && c.Step != 0:
		return fmt.Errorf("--factor and %s: give one (multiply or add)", step)
	case c.Factor == 0 && !(c.Step > 0 && whole(c.Step)):
		return fmt.Errorf("%s: want a load above 0 (whole users for a population), or --factor above 1", step)
	case c.Factor != 0 && !(c.Factor > 1):
		return fmt.Errorf("--factor %v: want more than 1", c.Factor)
	case c.MaxSteps < 1:
		return fmt.Errorf("--max-steps %d: want 1 or more", c.MaxSteps)
	case c.Max < 0:
		return fmt.Errorf("%s: want a load above 0", maxf)
	case c.Max > 0 && c.Max < c.Start:
		return fmt.Errorf("%s %v is below %s %v", maxf, c.Max, start, c.Start)
	case c.MaxDuration < 0:
		return errors.New("--max-duration: want 0 (no bound) or more")
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
	Index   int `json:"index"`   // 1-based: the step's load
	Attempt int `json:"attempt"` // 1, or 2 for the retry of a TRIP or INCONCLUSIVE
	// Users is the population of a population search's step (0 in a rate search).
	Users int `json:"users,omitempty"`
	// TargetRate is the offered rate: the step's (a rate search), or the sum of the
	// workloads' rates at Users (a population search).
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
	// Stepping is what was stepped: "rate", or "users" (a population search).
	Stepping string `json:"stepping"`
	// HighestPass is the offered rate of the highest passing step (0: none passed);
	// HighestPassUsers its population in a population search.
	HighestPass      float64 `json:"highest_passing_rate"`
	HighestPassUsers int     `json:"highest_passing_users,omitempty"`
	// Knee is the highest passing step whose latency was at most Config.Knee times
	// the first passing step's (0: none), as HighestPass; KneeNote says how it was found.
	Knee      float64 `json:"knee_rate"`
	KneeUsers int     `json:"knee_users,omitempty"`
	KneeNote  string  `json:"knee_note"`
	// Stop says why the search ended.
	Stop  string `json:"stop"`
	Steps []Step `json:"steps"`
}

// Runner runs one step at load (a rate per second, or a whole number of users) with
// warm-up and hold, and returns its report and the start of the hold window. An error
// with no report means the step could not run at all (nothing measured); a report
// with an error is still judged.
type Runner func(ctx context.Context, load float64) (rep *report.Report, holdFrom time.Time, err error)

// ErrNoStep is wrapped when the first step could not run: the search could not run.
var ErrNoStep = errors.New("the search could not run")

// ErrBound is wrapped by a Runner's error when the load cannot grow further for a
// reason that is no failure (a users file too small for the population): the search
// stops there, as at --max-rate.
var ErrBound = errors.New("the load cannot grow further")

// Search steps the load (the rate, or the users with c.Users) up from c.Start: each
// step is run (run) and judged (Judge); a TRIP or INCONCLUSIVE is run once more at
// the same load, and the search stops at the first one confirmed by its retry (a
// TRIP: the target's limit; INCONCLUSIVE: the generator's), after MaxSteps loads,
// above Max, before a step that would end after MaxDuration, when run reports
// ErrBound, or when ctx is done. Cooldown is waited between steps. It returns what
// was found, and an error wrapping ErrNoStep when not even the first step could run.
func Search(ctx context.Context, c Config, run Runner) (Result, error) {
	res := Result{Stepping: "rate"}
	if c.Users {
		res.Stepping = "users"
	}
	_, _, maxf := c.Flags()
	began := time.Now()
	var longest time.Duration // the longest step so far, setup and drain included
	load, prev := c.Start, 0.0
	for i := 1; i <= c.MaxSteps; i++ {
		if c.Users { // whole users, and always more than the last step
			load = max(math.Round(load), prev+1)
		}
		if c.Max > 0 && load > c.Max*(1+1e-9) {
			res.Stop = fmt.Sprintf("no trip up to the %s %s", maxf, c.fmtLoad(c.Max))
			break
		}
		var st Step
		// Attempts at this load: until a PASS, or two like verdicts in a row (a TRIP
		// confirmed by its retry), or a TRIP whose retry is INCONCLUSIVE. A TRIP after an
		// INCONCLUSIVE is retried in its turn: at most three attempts.
		for attempt := 1; ; attempt++ {
			if len(res.Steps) > 0 && !pause(ctx, c.Cooldown) {
				res.Stop = "interrupted"
				return finish(res, c), nil
			}
			if next := max(longest, c.Warmup+c.Hold); c.MaxDuration > 0 && len(res.Steps) > 0 && time.Since(began)+next > c.MaxDuration {
				res.Stop = fmt.Sprintf("--max-duration %v: step %d at %s (about %v) would end after it", c.MaxDuration, i, c.fmtLoad(load), next.Round(time.Second))
				return finish(res, c), nil
			}
			t0 := time.Now()
			rep, holdFrom, err := run(ctx, load)
			longest = max(longest, time.Since(t0)+c.Cooldown)
			if rep == nil {
				switch {
				case errors.Is(err, ErrBound):
					res.Stop = fmt.Sprintf("step %d at %s not run: %v", i, c.fmtLoad(load), err)
				case len(res.Steps) == 0:
					return res, fmt.Errorf("%w: step 1 at %s: %v", ErrNoStep, c.fmtLoad(load), err)
				default:
					res.Stop = fmt.Sprintf("step %d at %s could not run: %v", i, c.fmtLoad(load), err)
				}
				return finish(res, c), nil
			}
			st = Judge(rep, holdFrom, c)
			st.Index, st.Attempt, st.TargetRate = i, attempt, load
			if c.Users {
				st.Users, st.TargetRate = int(load), rep.Load.TargetRate
			}
			if err != nil && st.Verdict == Pass {
				st.Verdict, st.Reason = Inconclusive, "the step ended early: "+err.Error()
			}
			res.Steps = append(res.Steps, st)
			if ctx.Err() != nil {
				res.Stop = "interrupted"
				return finish(res, c), nil
			}
			if st.Verdict == Pass || (attempt > 1 && !(res.Steps[len(res.Steps)-2].Verdict == Inconclusive && st.Verdict == Trip && attempt < 3)) {
				break
			}
		}
		at := c.fmtLoad(load)
		switch st.Verdict {
		case Trip:
			// The attempt before was a TRIP too (the loop ends on a TRIP only then).
			res.Stop = fmt.Sprintf("confirmed TRIP at %s (step %d, retried once): %s", at, i, st.Reason)
			return finish(res, c), nil
		case Inconclusive:
			if first := res.Steps[len(res.Steps)-2]; first.Verdict == Trip {
				res.Stop = fmt.Sprintf("TRIP at %s (step %d) not confirmed: its retry was INCONCLUSIVE (%s); the limit is at or below %s, the target's or this generator's",
					at, i, st.Reason, at)
				return finish(res, c), nil
			}
			if st.Reason == nothingObserved {
				res.Stop = fmt.Sprintf("INCONCLUSIVE at %s (step %d, retried once): %s", at, i, st.Reason)
				return finish(res, c), nil
			}
			res.Stop = fmt.Sprintf("the generator could not hold %s (step %d, retried once): %s; the target's limit is above what this generator can offer", at, i, st.Reason)
			return finish(res, c), nil
		}
		if i == c.MaxSteps {
			res.Stop = fmt.Sprintf("no trip within --max-steps %d", c.MaxSteps)
		}
		prev = load
		if c.Factor > 0 {
			load *= c.Factor
		} else {
			load += c.Step
		}
	}
	return finish(res, c), nil
}

// fmtLoad is a load as the flags take it: "50/s" or "2000 users".
func (c Config) fmtLoad(v float64) string {
	if c.Users {
		return fmt.Sprintf("%.0f users", v)
	}
	return fmtRate(v)
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

// finish fills the highest passing load and the knee.
func finish(res Result, c Config) Result {
	knee := c.Knee
	if knee <= 0 {
		knee = 2
	}
	var first *float64
	var best, kneeStep *Step
	for i := range res.Steps {
		s := &res.Steps[i]
		if s.Verdict != Pass {
			continue
		}
		if best == nil || s.load() > best.load() {
			best = s
		}
		if s.P99MS == nil {
			continue
		}
		if first == nil {
			first = s.P99MS
		}
		if *s.P99MS <= knee**first && (kneeStep == nil || s.load() > kneeStep.load()) {
			kneeStep = s
		}
	}
	if best != nil {
		res.HighestPass, res.HighestPassUsers = best.TargetRate, best.Users
	}
	if kneeStep != nil {
		res.Knee, res.KneeUsers = kneeStep.TargetRate, kneeStep.Users
	}
	what := "rate"
	if c.Users {
		what = "population"
	}
	switch {
	case first == nil:
		res.KneeNote = "no passing step with latencies"
	default:
		res.KneeNote = fmt.Sprintf("the highest passing %s whose p99 stayed within %gx the first passing step's (%s ms)", what, knee, fmtMS(*first))
	}
	return res
}

// load is what the search stepped: users in a population search, else the rate.
func (s Step) load() float64 {
	if s.Users > 0 {
		return float64(s.Users)
	}
	return s.TargetRate
}

// Judge judges one step: INCONCLUSIVE when the generator did not hold its schedule
// or was saturated (report.Saturation), unless it held its schedule and a latency
// limit is broken by more than the generator's schedule lag p99 (TRIP); else TRIP
// when a threshold of the service level fails on the hold window (the intervals from holdFrom; losses and failures of
// the whole step, since copies are counted lost only after their deadline), else PASS.
// A threshold with nothing to observe is left out; a hold with no operation, or none
// of whose thresholds had anything to observe, is INCONCLUSIVE (nothing to judge). A
// mixed run (rep.Workloads) is judged on each workload's own hold window
// (mixHoldWindow), and each workload must hold its own schedule. It is safe for
// concurrent use.
func Judge(rep *report.Report, holdFrom time.Time, c Config) Step {
	var hold *report.Report
	st := Step{Dropped: rep.Load.Dropped, Noise: rep.Noise, Thresholds: []report.Verdict{}}
	if len(rep.Workloads) > 0 {
		hold, st.Achieved = mixHoldWindow(rep, c.Warmup)
	} else {
		hold = HoldWindow(rep, holdFrom)
		st.Achieved = holdAchieved(rep, hold)
	}
	op := "delivery"
	if o, ok := hold.Operations[op]; !ok || o.Count == o.Errors {
		op = headOp(hold)
	}
	st.Metric = op
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
	var beyondLimit float64 // the largest latency limit broken beyond the lag, seconds
	lag := rep.Generator.ScheduleLagP99US
	var holdOps uint64
	for _, o := range hold.Operations {
		holdOps += o.Count
	}
	for _, t := range c.Thresholds {
		if holdOps == 0 {
			break // nothing happened in the hold: a whole-step figure (0% lost of 0) says nothing either
		}
		on := hold
		if strings.HasPrefix(t.Metric, "failures.") {
			on = rep // a failed log-on or join in the setup is the target's failure too
		}
		v := t.Check(on)
		if v.Observed == "-" && strings.Contains(v.Detail, "nothing to check") {
			continue
		}
		st.Thresholds = append(st.Thresholds, v)
		if !v.Pass {
			failed = append(failed, fmt.Sprintf("%s (observed %s)", v.Threshold, v.Observed))
			if latencyBeyond(t, hold, lag) {
				beyondLimit = max(beyondLimit, t.Value*map[string]float64{"us": 1e-6, "ms": 1e-3, "s": 1}[t.Unit])
				beyond = append(beyond, fmt.Sprintf("%s (observed %s, more than the generator's schedule lag p99 %s ms over it)", v.Threshold, v.Observed, fmtMS(lag/1e3)))
			}
		}
	}
	// A saturated generator makes the step INCONCLUSIVE, unless a latency limit is
	// broken by more than the generator's own lateness: then the target is slow anyway.
	// A mixed run's workloads each hold their own schedule: one short of its rate is
	// not hidden by the others' total.
	sched := workloadSchedule(rep, c.Health)
	why := sched
	if why == "" {
		why = report.Saturation(rep, c.Health)
	}
	if why != "" {
		if len(beyond) > 0 && sched == "" && report.ScheduleProblem(rep, c.Health) == "" {
			st.Verdict, st.Reason = Trip, strings.Join(beyond, ", ")+"; the generator was busy too: "+why
			return st
		}
		// Work dropped at the --max-in-flight cap by a generator that was otherwise
		// healthy (its CPU, run-queue wait, steal and schedule lag within limits) was
		// dropped waiting for the target's answers. When a target within the broken
		// latency limit would not have filled the cap (Little's law: rate x limit below
		// it) and the limit is broken by more than the generator's lateness, the target
		// is the slow one; else the cap may be too low for the service level: the
		// generator's limit.
		if len(beyond) > 0 && rep.Load.Dropped > 0 && c.MaxInFlight > 0 &&
			peakRate(rep, hold)*beyondLimit < float64(c.MaxInFlight) && atCapOnly(rep, c.Health) {
			st.Verdict, st.Reason = Trip, fmt.Sprintf("%s; the generator dropped %d operations at its --max-in-flight cap waiting for the target's answers, its CPU and schedule lag within limits (%s)",
				strings.Join(beyond, ", "), rep.Load.Dropped, why)
			return st
		}
		st.Verdict, st.Reason = Inconclusive, why
		return st
	}
	if len(failed) > 0 {
		st.Verdict, st.Reason = Trip, strings.Join(failed, ", ")
		return st
	}
	if len(st.Thresholds) == 0 {
		st.Verdict, st.Reason = Inconclusive, nothingObserved
		return st
	}
	st.Verdict, st.Reason = Pass, fmt.Sprintf("%d thresholds held", len(st.Thresholds))
	return st
}

// workloadSchedule is the first workload of a mixed run that did not hold its
// schedule, with why; "" when each did (or rep is one scenario's).
func workloadSchedule(rep *report.Report, l report.HealthLimits) string {
	for _, w := range rep.Workloads {
		if w.Report == nil {
			continue
		}
		if why := report.ScheduleProblem(w.Report, l); why != "" {
			return "workload " + w.Name + ": " + why
		}
	}
	return ""
}

// nothingObserved is the reason of a step none of whose thresholds had anything to
// observe: too few operations in the hold (a small population's rates are low).
const nothingObserved = "nothing to judge: no threshold had anything to observe in the hold (too few operations: lengthen --step-duration or raise the load)"

// peakRate is the highest target rate of hold's intervals (the hold's rate, not the
// warm-up's ramp), else of the whole step.
func peakRate(rep, hold *report.Report) float64 {
	r := rep.Load.TargetRate
	for _, iv := range hold.Intervals {
		r = max(r, iv.Load.TargetRate)
	}
	return r
}

// atCapOnly reports whether rep's generator was healthy but for its schedule: the
// noise model's limits (CPU, run-queue wait, steal, schedule lag) held, so that work
// it dropped or fell short of was lost at the in-flight cap, not for want of CPU.
func atCapOnly(rep *report.Report, l report.HealthLimits) bool {
	held := *rep
	held.Load.AchievedRate, held.Load.Dropped = rep.Load.TargetRate, 0
	held.Workloads = nil
	return report.Saturation(&held, l) == ""
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

// holdAchieved is the achieved rate of hold, rep's hold window: the mean of its
// intervals' (the warm-up's ramp left out), or the whole step's.
func holdAchieved(rep, hold *report.Report) float64 {
	if len(hold.Intervals) == 0 || len(hold.Intervals) >= len(rep.Intervals) {
		return rep.Load.AchievedRate
	}
	var sum float64
	for _, iv := range hold.Intervals {
		sum += iv.Load.AchievedRate
	}
	return sum / float64(len(hold.Intervals))
}

// mixHoldWindow is a mixed run's report as judged, and its achieved rate: each
// workload's own hold window (HoldWindow from one interval after the warm-up that
// follows its own steady start: the workloads' setups take different times), their
// operations merged, the workloads' reports those windows (so that a threshold
// naming a workload judges its hold); the achieved rate is the sum of theirs.
func mixHoldWindow(rep *report.Report, warmup time.Duration) (*report.Report, float64) {
	h := *rep
	h.Operations = map[string]report.Operation{}
	h.Workloads = make([]report.Workload, 0, len(rep.Workloads))
	h.Intervals = nil
	var achieved float64
	for _, w := range rep.Workloads {
		if w.Report == nil {
			continue
		}
		var from time.Time
		for _, iv := range w.Report.Intervals {
			if iv.Phase == "steady" {
				from = iv.Start.Add(warmup + iv.End.Sub(iv.Start))
				break
			}
		}
		wh := HoldWindow(w.Report, from)
		if err := report.MergeOperations(h.Operations, wh.Operations); err != nil {
			return rep, rep.Load.AchievedRate // a histogram that does not decode: judge the whole step
		}
		achieved += holdAchieved(w.Report, wh)
		h.Workloads = append(h.Workloads, report.Workload{Name: w.Name, Report: wh})
	}
	return &h, achieved
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
	switch {
	case r == math.Trunc(r):
		return fmt.Sprintf("%.0f/s", r)
	case r < 10: // a population's rates are small: 0.62/s
		return fmt.Sprintf("%.3g/s", r)
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
