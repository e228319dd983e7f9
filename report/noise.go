package report

import (
	"fmt"
	"strings"
	"time"
)

// Noise is what the machine did to the generator while it measured: how much CPU it
// used of what there was, how long its threads waited in the run queue for a CPU
// (other load), the host's busy and stolen CPU. With the generator's schedule lag and
// dropped work (Generator, Load) it tells whether a run's latencies are the target's
// or the generator's (see Saturation). Shares are fractions (0.05 = 5%); a figure
// the system does not give (no /proc) is nil. A plain value.
type Noise struct {
	WallSeconds float64 `json:"wall_seconds"`
	CPUs        int     `json:"cpus"` // CPUs the generator could run on
	// GeneratorCPUShare is the generator's CPU time over wall time x CPUs.
	GeneratorCPUShare float64 `json:"generator_cpu_share"`
	// RunQueueWaitSeconds is the time the generator's threads were runnable but
	// waiting for a CPU (/proc/self/task/*/schedstat); RunQueueWaitShare is that time
	// over the time they ran plus waited: 0 on an idle machine, 0.5 when every
	// slice of CPU cost as long a wait.
	RunQueueWaitSeconds *float64 `json:"run_queue_wait_seconds,omitempty"`
	RunQueueWaitShare   *float64 `json:"run_queue_wait_share,omitempty"`
	// RunQueueWaitPerSliceUS is the mean wait for a CPU each time a generator thread
	// became runnable, in microseconds: the delay other load adds to every wake-up,
	// measured latencies included.
	RunQueueWaitPerSliceUS *float64 `json:"run_queue_wait_per_slice_us,omitempty"`
	// HostBusyShare and StealShare are the whole machine's busy and stolen CPU time
	// over its total (/proc/stat): other load, and a hypervisor's.
	HostBusyShare *float64 `json:"host_busy_share,omitempty"`
	StealShare    *float64 `json:"steal_share,omitempty"`
}

// HealthLimits say when a run's generator did not hold its schedule or was
// saturated. The zero value is not useful: start from DefaultHealthLimits.
type HealthLimits struct {
	// RateShortfall: the achieved rate may be at most this fraction below the target
	// (0.01: 1%).
	RateShortfall float64
	// Dropped: the work dropped at the in-flight cap may be at most this fraction of
	// the scheduled work (0.001: 0.1%).
	Dropped float64
	// CPUShare: the generator is saturated at this share of the CPUs it could use.
	CPUShare float64
	// RunQueueWaitUS: the generator is saturated when its threads waited this long
	// (microseconds) for a CPU per wake-up on average: every latency it measures then
	// carries that much of other load. (The share of time waiting is no such measure:
	// a generator that runs little waits most of its little time on a busy machine,
	// and the wait is the same for both sides of a comparison.)
	RunQueueWaitUS float64
	// Steal: the generator is saturated when the hypervisor stole this share of the
	// machine's CPU.
	Steal float64
	// LagP99: the generator is saturated when its schedule lag p99 is above this, in
	// microseconds (0: not judged).
	LagP99US float64
}

// DefaultHealthLimits are chatload's defaults: a 1% rate shortfall and 0.1% dropped
// work (run's exit status 5), and the saturation limits compare and capacity use
// (docs/spec/thresholds-compare-merge.md says how they were chosen).
func DefaultHealthLimits() HealthLimits {
	return HealthLimits{RateShortfall: 0.01, Dropped: 0.001, CPUShare: 0.9, RunQueueWaitUS: 2000, Steal: 0.1, LagP99US: 100_000}
}

// ScheduleProblem says, in one line, why r's generator did not hold its schedule:
// the achieved rate more than RateShortfall (and two operations) below the target, or more than Dropped of
// the scheduled work dropped; "" when it held it (or the run is a closed model without
// a target rate and dropped nothing). It is safe for concurrent use.
func ScheduleProblem(r *Report, l HealthLimits) string {
	ld := r.Load
	// Short of the target by more than the share, by more than one operation (at low
	// rates and short runs one operation is more than 1%), and by more than 100 ms of
	// the steady phase: the phase ends with a timer wake-up after its schedule's end, and
	// the achieved rate is counted over it, so one late wake-up on a busy machine
	// stretches a 1 s run by several percent while every operation started on time.
	el := r.steadySeconds()
	short := (ld.TargetRate - ld.AchievedRate) * el // operations
	if ld.TargetRate > 0 && ld.AchievedRate < ld.TargetRate*(1-l.RateShortfall) && short > 1.5 &&
		(1-ld.AchievedRate/ld.TargetRate)*el > 0.1 {
		return fmt.Sprintf("the generator did not hold its schedule: achieved %s, %.1f%% below the target %s (allowed %s)",
			formatRate(ld.AchievedRate), (1-ld.AchievedRate/ld.TargetRate)*100, formatRate(ld.TargetRate), pct(l.RateShortfall))
	}
	if ld.Dropped > 0 {
		var scheduled float64
		if el := r.steadySeconds(); el > 0 {
			scheduled = ld.AchievedRate*el + float64(ld.Dropped)
		}
		if scheduled <= 0 || float64(ld.Dropped)/scheduled > l.Dropped {
			share := 1.0
			if scheduled > 0 {
				share = float64(ld.Dropped) / scheduled
			}
			return fmt.Sprintf("the generator did not hold its schedule: dropped %d operations (%s of the scheduled, allowed %s)",
				ld.Dropped, pct(share), pct(l.Dropped))
		}
	}
	return ""
}

// steadySeconds is the length of r's steady phase, from its intervals (or, without
// them, the run's length).
func (r *Report) steadySeconds() float64 {
	var s float64
	for _, iv := range r.Intervals {
		if isSteady(iv) {
			s += iv.End.Sub(iv.Start).Seconds()
		}
	}
	if s == 0 { // no interval ended in the steady phase: the scenario's duration, else the run's
		if f, err := scenarioFields(r.Scenario); err == nil {
			if d, err := time.ParseDuration(strings.Trim(f.get("duration"), `"`)); err == nil && d > 0 {
				return d.Seconds()
			}
		}
		s = r.EndedAt.Sub(r.StartedAt).Seconds()
	}
	return s
}

// FailedKinds says, in one line, which kinds of operation failed every time they
// ran ("every send failed (2000 of 2000)"), and whether every expected delivery was
// lost; "" when none. It is safe for concurrent use.
func FailedKinds(r *Report) string {
	var out []string
	for _, op := range opOrder(r.Operations) {
		o := r.Operations[op]
		if o.Count > 0 && o.Errors == o.Count {
			out = append(out, fmt.Sprintf("every %s failed (%d of %d)", op, o.Errors, o.Count))
		}
	}
	if m := r.Messages; m.ExpectedDeliveries > 0 && m.Delivered == 0 {
		out = append(out, fmt.Sprintf("every delivery was lost (%d expected)", m.ExpectedDeliveries))
	}
	return strings.Join(out, ", ")
}

// Saturation says, in one line, why the generator's own measurements of r cannot be
// trusted: the schedule was not held (ScheduleProblem), or the generator was short of
// CPU: it used CPUShare of its CPUs, waited RunQueueWaitUS per wake-up in the run
// queue, the hypervisor stole Steal, or its schedule lag p99 exceeded LagP99US. ""
// when none. It is safe for concurrent use.
func Saturation(r *Report, l HealthLimits) string {
	if s := ScheduleProblem(r, l); s != "" {
		return s
	}
	return noiseProblem(r.Noise, r.Generator.ScheduleLagP99US, l)
}

// noiseProblem judges one run's or interval's noise figures.
func noiseProblem(n *Noise, lagP99US float64, l HealthLimits) string {
	if l.LagP99US > 0 && lagP99US > l.LagP99US {
		return fmt.Sprintf("the generator's schedule lag p99 was %s ms (limit %s ms): it could not start work on time",
			formatMS(lagP99US), formatMS(l.LagP99US))
	}
	if n == nil {
		return ""
	}
	switch {
	case n.GeneratorCPUShare >= l.CPUShare:
		return fmt.Sprintf("the generator was CPU-saturated: it used %s of %d CPUs (limit %s)", pct(n.GeneratorCPUShare), n.CPUs, pct(l.CPUShare))
	case n.RunQueueWaitPerSliceUS != nil && *n.RunQueueWaitPerSliceUS >= l.RunQueueWaitUS:
		return fmt.Sprintf("the generator waited %s ms per wake-up for a CPU (other load; limit %s ms)",
			formatMS(*n.RunQueueWaitPerSliceUS), formatMS(l.RunQueueWaitUS))
	case n.StealShare != nil && *n.StealShare >= l.Steal:
		return fmt.Sprintf("the hypervisor stole %s of the CPU (limit %s)", pct(*n.StealShare), pct(l.Steal))
	}
	return ""
}

// String is the one-line summary of the tables: "generator CPU 3.1% of 2 CPUs,
// run-queue wait 4.2%, host busy 61%, steal 0.0%".
func (n *Noise) String() string {
	if n == nil {
		return ""
	}
	s := fmt.Sprintf("generator CPU %s of %d CPUs", pct(n.GeneratorCPUShare), n.CPUs)
	if n.RunQueueWaitShare != nil {
		s += fmt.Sprintf(", run-queue wait %s (%.2f s", pct(*n.RunQueueWaitShare), *n.RunQueueWaitSeconds)
		if n.RunQueueWaitPerSliceUS != nil {
			s += fmt.Sprintf(", %s ms per wake-up", formatMS(*n.RunQueueWaitPerSliceUS))
		}
		s += ")"
	}
	if n.HostBusyShare != nil {
		s += ", host busy " + pct(*n.HostBusyShare)
	}
	if n.StealShare != nil {
		s += ", steal " + pct(*n.StealShare)
	}
	return s
}

func pct(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return fmt.Sprintf("%.3f%%", f*100)
	case f < 0.1:
		return fmt.Sprintf("%.1f%%", f*100)
	}
	return fmt.Sprintf("%.0f%%", f*100)
}
