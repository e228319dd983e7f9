package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Workload is one named workload of a mixed run (several scenarios at once): its
// own report, whose totals, messages and failures are that workload's alone. The
// mixed run's report holds the total over all of them beside their list. A plain
// value.
type Workload struct {
	Name   string  `json:"name"`
	Report *Report `json:"report"`
}

// Combine makes the report of a mixed run from the reports of its workloads, run
// at the same time over one target: operations, messages, failures and load summed
// (as Merge sums segments), the generator's health taken as one process's (its CPU
// seconds, peak goroutines and memory are process-wide figures each workload read:
// their largest, not their sum; drops and in-flight peaks are summed) and each
// workload kept whole in
// Workloads, in the order given. The run covers the earliest start to the latest
// end, its end reason is the worst. Intervals are merged by time when the workloads'
// intervals line up (same length), else left out of the total (each workload keeps
// its own). The scenario is {"workloads": [each workload's scenario with its
// name]}. Names must be unique and non-empty. The inputs are not modified; Combine is
// safe for concurrent use.
func Combine(runID string, ws []Workload) (*Report, error) {
	if len(ws) == 0 {
		return nil, errors.New("combine: no workloads")
	}
	seen := map[string]bool{}
	for i, w := range ws {
		switch {
		case w.Name == "":
			return nil, fmt.Errorf("combine: workload %d has no name", i+1)
		case seen[w.Name]:
			return nil, fmt.Errorf("combine: workload %q twice", w.Name)
		case w.Report == nil:
			return nil, fmt.Errorf("combine: workload %q has no report", w.Name)
		}
		seen[w.Name] = true
	}
	first := ws[0].Report
	out := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          first.Tool,
		RunID:         runID,
		Target:        first.Target,
		StartedAt:     first.StartedAt,
		EndedAt:       first.EndedAt,
		EndReason:     first.EndReason,
		Load:          Load{Model: "mixed"},
		Operations:    map[string]Operation{},
		Failures:      []Failure{},
	}
	var err error
	if out.Scenario, err = workloadScenario(ws); err != nil {
		return nil, fmt.Errorf("combine: %w", err)
	}
	var intervals [][]Interval
	for i, w := range ws {
		r := w.Report
		if !r.StartedAt.IsZero() && (out.StartedAt.IsZero() || r.StartedAt.Before(out.StartedAt)) {
			out.StartedAt = r.StartedAt
		}
		if r.EndedAt.After(out.EndedAt) {
			out.EndedAt = r.EndedAt
		}
		if endRank(r.EndReason) > endRank(out.EndReason) {
			out.EndReason = r.EndReason
		}
		out.Target.Embedded = out.Target.Embedded || r.Target.Embedded
		out.Load.TargetRate += r.Load.TargetRate
		out.Load.AchievedRate += r.Load.AchievedRate
		out.Load.Dropped += r.Load.Dropped
		if err := MergeOperations(out.Operations, r.Operations); err != nil {
			return nil, fmt.Errorf("combine: workload %q: %w", w.Name, err)
		}
		out.Messages.Add(r.Messages)
		out.Failures = MergeFailures(out.Failures, r.Failures)
		if i == 0 {
			out.Generator = r.Generator
			out.Generator.Note = ""
		} else {
			out.Generator = sameProcess(out.Generator, r.Generator)
		}
		if r.Generator.Note != "" {
			out.Generator.Note = joinNote(out.Generator.Note, w.Name+": "+r.Generator.Note)
		}
		intervals = append(intervals, r.Intervals)
		out.Workloads = append(out.Workloads, Workload{Name: w.Name, Report: r})
	}
	if ivs, err := mergeIntervals(intervals); err == nil {
		for i := range ivs {
			ivs[i].Generator = sameProcessOf(ivs[i].Generator, intervals, ivs[i])
		}
		out.Intervals = ivs
	}
	return out, nil
}

// workloadScenario is a mixed run's scenario echo: {"workloads": [{"name": ...,
// "scenario": {...}}, ...]}.
func workloadScenario(ws []Workload) (json.RawMessage, error) {
	type named struct {
		Name     string          `json:"name"`
		Scenario json.RawMessage `json:"scenario"`
	}
	scen := make([]named, 0, len(ws))
	for _, w := range ws {
		s := w.Report.Scenario
		if len(s) == 0 {
			s = json.RawMessage("null")
		}
		scen = append(scen, named{Name: w.Name, Scenario: s})
	}
	return json.Marshal(map[string]any{"workloads": scen})
}

// WorkloadNamed returns r's workload called name, nil when it has none.
func (r *Report) WorkloadNamed(name string) *Report {
	i := slices.IndexFunc(r.Workloads, func(w Workload) bool { return w.Name == name })
	if i < 0 {
		return nil
	}
	return r.Workloads[i].Report
}

// sameProcess merges the generator figures of two workloads of one process: a
// process-wide figure (CPU seconds, peak memory, goroutines) is the larger, the
// workloads' own (drops, overflow, ops in flight, lag) are summed or maxed as
// mergeGenerator does.
func sameProcess(a, b Generator) Generator {
	m := mergeGenerator(a, b)
	m.CPUSeconds = max(a.CPUSeconds, b.CPUSeconds)
	m.Goroutines = max(a.Goroutines, b.Goroutines)
	return m
}

// sameProcessOf recomputes the process-wide generator figures of merged interval m
// from the workloads' intervals that fall in it (mergeIntervals summed them).
func sameProcessOf(g Generator, perWorkload [][]Interval, m Interval) Generator {
	g.CPUSeconds, g.Goroutines = 0, 0
	for _, ivs := range perWorkload {
		for _, iv := range ivs {
			if !iv.Start.Before(m.Start) && !iv.End.After(m.End) {
				g.CPUSeconds = max(g.CPUSeconds, iv.Generator.CPUSeconds)
				g.Goroutines = max(g.Goroutines, iv.Generator.Goroutines)
			}
		}
	}
	return g
}

// MergeWorkloadIntervals merges the intervals of a mixed run's workloads that cover
// the same part of the run (one per workload at most, each on the run's grid) into
// the run's interval: operations, messages, failures and load summed, the phase the
// earliest of theirs, the span their union, the generator's figures as one
// process's (see Combine). It is what Combine's intervals hold, one at a time, for
// a run's live outputs. The inputs are not modified.
func MergeWorkloadIntervals(ivs []Interval) (Interval, error) {
	if len(ivs) == 0 {
		return Interval{}, errors.New("merge: no intervals")
	}
	var out Interval
	for i, iv := range ivs {
		if i == 0 {
			out = iv
			out.Operations = map[string]Operation{}
			if err := MergeOperations(out.Operations, iv.Operations); err != nil {
				return Interval{}, err
			}
			out.Failures = MergeFailures(nil, iv.Failures)
			continue
		}
		if err := out.add(iv, sameProcess); err != nil {
			return Interval{}, err
		}
	}
	return out, nil
}
