package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
)

// Workload is one named part of a mixed run: a scenario with its own load model,
// users and rooms (Run: its users are its slice of the population, its rooms its
// own), started Start after the mixed run starts. A plain value.
type Workload struct {
	Name  string
	Start time.Duration
	Run   RunConfig
}

// RunMix runs the workloads at the same time over d, each as Run runs a scenario
// (its own plan, pacer, recorders and tracker; its RunID is the mix's with "-" and
// its name, so that copies of one workload's posts are never taken for another's),
// each starting Start after RunMix is called. It returns the mixed run's report
// (report.Combine: the total, and each workload's own report in Workloads, in the
// order given) and the workloads' setup errors joined, each naming its workload.
// Canceling ctx stops every workload gracefully (a workload not started yet is not
// run and not reported). runID "" means a random one. The workloads must not share
// users or rooms. RunMix is safe for concurrent use.
func RunMix(ctx context.Context, d Driver, runID string, ws []Workload) (*report.Report, error) {
	if len(ws) == 0 {
		return nil, errors.New("mixed run: no workloads")
	}
	seen := map[string]bool{}
	for i, w := range ws {
		switch {
		case w.Name == "":
			return nil, fmt.Errorf("mixed run: workload %d has no name", i+1)
		case seen[w.Name]:
			return nil, fmt.Errorf("mixed run: workload %q twice", w.Name)
		case w.Start < 0:
			return nil, fmt.Errorf("mixed run: workload %q: start %v is negative", w.Name, w.Start)
		}
		seen[w.Name] = true
		c := withDefaults(w.Run.Scenario)
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("workload %s: %w", w.Name, err)
		}
	}
	runID = bodyRunID(runID)
	reps := make([]*report.Report, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			if w.Start > 0 {
				t := time.NewTimer(w.Start)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					return // stopped before it started
				}
			}
			cfg := w.Run
			cfg.RunID = runID + "-" + w.Name
			rep, err := Run(ctx, d, cfg)
			reps[i] = rep
			if err != nil {
				errs[i] = fmt.Errorf("workload %s: %w", w.Name, err)
			}
		})
	}
	wg.Wait()
	var parts []report.Workload
	for i, w := range ws {
		if reps[i] != nil {
			parts = append(parts, report.Workload{Name: w.Name, Report: reps[i]})
		}
	}
	if len(parts) == 0 {
		return nil, errors.Join(append(errs, errors.New("mixed run: no workload ran"))...)
	}
	rep, err := report.Combine(runID, parts)
	if err != nil {
		return nil, err
	}
	return rep, errors.Join(errs...)
}
