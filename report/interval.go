package report

import "time"

// Interval is what happened in one reporting interval of a run (--interval): the
// operations that completed in it, the messages and failures counted in it, and the
// generator's health at its end. Intervals are aligned to the run's start, so that
// reports of several segments of one distributed run can be merged by time. It is a
// plain value.
type Interval struct {
	Start      time.Time            `json:"start"`
	End        time.Time            `json:"end"`
	Phase      string               `json:"phase"` // the run's phase at End: setup|steady|drain|teardown
	Operations map[string]Operation `json:"operations"`
	Messages   Messages             `json:"messages"` // counted in this interval only
	Failures   []Failure            `json:"failures"`
	Load       IntervalLoad         `json:"load"`
	Generator  Generator            `json:"generator"` // cpu_seconds in this interval; max_rss_bytes so far
	Noise      *Noise               `json:"noise,omitempty"`
}

// IntervalLoad is the load of one interval: rates are per second over the interval.
type IntervalLoad struct {
	TargetRate   float64 `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Dropped      uint64  `json:"dropped"`
	InFlight     int64   `json:"in_flight"` // at End
}
