package scenarios

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"time"
)

// Schedule is the open model's absolute schedule: op i is due at Due(i) after the start
// of the steady phase, whatever happened to the ops before it, so that a late generator
// catches up instead of drifting. It is pure math (no clock), immutable once made, and
// safe for concurrent use.
//
// With a fixed Rate r, op i is due at exactly i/r (integer math, no drift even after
// 10^9 ops). With a Ramp, the rate moves linearly within each stage, so the number of
// ops due by time t, N(t), is piecewise quadratic; op i is due when N(t) passes i
// (solved per stage). Ops due in [0,T) are therefore ceil(N(T)): the integral of the
// rate, up to rounding to whole nanoseconds.
type Schedule struct {
	perHour uint64        // fixed rate: ops per hour times rateScale/3600 (see rateScale)
	rate    Rate          // fixed rate, for RateAt
	stages  []stageMath   // ramp; nil with a fixed rate
	end     time.Duration // no op at or after end; 0 = no time limit
	limit   int64         // ops 0..limit-1 only; 0 = no count limit
	seg     Segment       // the ops of one segment only (segment.go)
}

// rateScale is the integer unit of a fixed rate: rates are held as round(r*rateScale),
// which is exact for every rate written with up to six decimals per hour, and op i is
// due at floor(i * 1e9 * rateScale / (r*rateScale)) nanoseconds, computed in 128 bits.
const rateScale = 3.6e9

// stageMath is one ramp stage of positive duration with its cumulative op counts.
type stageMath struct {
	start, dur time.Duration
	r0, r1     float64 // rate at start and end, ops per second
	n0, n1     float64 // N(start), N(start+dur)
}

// NewSchedule returns the schedule of c's open model: its Rate or Ramp, capped by
// Duration and Iterations. It fails for the closed model (no Rate, no Ramp) and for the
// load settings Validate would refuse.
func NewSchedule(c Config) (Schedule, error) {
	if err := c.checkLoad(); err != nil {
		return Schedule{}, err
	}
	if c.Model() != "open" {
		return Schedule{}, fmt.Errorf("--concurrency: the closed model has no schedule (give --rate or --ramp for the open model)")
	}
	s := Schedule{end: c.Duration, limit: c.Iterations, seg: c.Segment}
	if len(c.Ramp) == 0 {
		perHour := math.Round(float64(c.Rate) * rateScale)
		if perHour < 1 {
			return Schedule{}, fmt.Errorf("--rate %s: too low to schedule", c.Rate)
		}
		s.rate, s.perHour = c.Rate, uint64(perHour)
		return s, nil
	}
	var at time.Duration
	var n, prev float64
	for _, st := range c.Ramp {
		r := float64(st.Rate)
		if st.Duration > 0 {
			add := (prev + r) / 2 * st.Duration.Seconds()
			s.stages = append(s.stages, stageMath{start: at, dur: st.Duration, r0: prev, r1: r, n0: n, n1: n + add})
			at += st.Duration
			n += add
		}
		prev = r
	}
	if s.end == 0 || s.end > at {
		s.end = at
	}
	return s, nil
}

// Due returns op i's intended start as an offset from the start of the steady phase;
// ok is false when op i falls at or after the end (Duration, Iterations, or the end of
// the last stage). Due is non-decreasing in i. In a segment i/n (Config.Segment) op
// i is op i*n+Index of the whole run's schedule, at that op's time.
func (s Schedule) Due(i int64) (offset time.Duration, ok bool) {
	if i, ok = s.seg.global(i); !ok {
		return 0, false
	}
	if i < 0 || (s.limit > 0 && i >= s.limit) {
		return 0, false
	}
	if s.stages == nil {
		if s.perHour == 0 {
			return 0, false // the zero Schedule
		}
		hi, lo := bits.Mul64(uint64(i), uint64(1e9*rateScale))
		if hi >= s.perHour {
			return 0, false // beyond any time.Duration
		}
		q, _ := bits.Div64(hi, lo, s.perHour)
		if q > math.MaxInt64 {
			return 0, false
		}
		offset = time.Duration(q)
	} else {
		x := float64(i)
		k := sort.Search(len(s.stages), func(k int) bool { return s.stages[k].n1 > x })
		if k == len(s.stages) {
			return 0, false
		}
		offset = s.stages[k].due(x - s.stages[k].n0)
	}
	if s.end > 0 && offset >= s.end {
		return 0, false
	}
	return offset, true
}

// due returns the time at which the stage's count since its start reaches y: the root
// of r0*t + a*t^2 = y with a = (r1-r0)/(2*dur), in the form that does not cancel when
// a is small or negative.
func (st stageMath) due(y float64) time.Duration {
	if y <= 0 {
		return st.start
	}
	d := st.dur.Seconds()
	a := (st.r1 - st.r0) / (2 * d)
	disc := st.r0*st.r0 + 4*a*y
	if disc < 0 {
		disc = 0 // rounding at the very end of a ramp down to 0
	}
	den := st.r0 + math.Sqrt(disc)
	t := d
	if den > 0 {
		t = min(2*y/den, d)
	}
	return st.start + min(time.Duration(math.Round(t*1e9)), st.dur)
}

// End returns the end of the steady phase: Duration, or the end of the last ramp stage
// when that is sooner; 0 when only Iterations ends a fixed rate.
func (s Schedule) End() time.Duration { return s.end }

// RateAt returns the target rate at t (for progress lines): the fixed Rate, or the
// ramp's rate at t; 0 before the start and from the end on. A segment's is its share:
// the whole rate divided by the number of segments.
func (s Schedule) RateAt(t time.Duration) Rate {
	if !s.seg.Whole() {
		return s.wholeRateAt(t) / Rate(s.seg.Count)
	}
	return s.wholeRateAt(t)
}

func (s Schedule) wholeRateAt(t time.Duration) Rate {
	if t < 0 || (s.end > 0 && t >= s.end) {
		return 0
	}
	if s.stages == nil {
		return s.rate
	}
	k := sort.Search(len(s.stages), func(k int) bool { return s.stages[k].start+s.stages[k].dur > t })
	if k == len(s.stages) {
		return 0
	}
	st := s.stages[k]
	f := float64(t-st.start) / float64(st.dur)
	return Rate(st.r0 + (st.r1-st.r0)*f)
}
