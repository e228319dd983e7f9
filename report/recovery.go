package report

import (
	"fmt"
	"strings"
	"time"
)

// RecoveryText describes an outage and the recovery from it, from the
// intervals: when posts (send) began and stopped failing, and the reconnect
// operations (users logging on and joining again after the target forgot them).
// "" when nothing reconnected. Times are offsets from the run's start.
func (r *Report) RecoveryText() string {
	rc, ok := r.Operations[OpReconnect.String()]
	if !ok || rc.Count == 0 {
		return ""
	}
	origin := r.StartedAt
	if len(r.Intervals) > 0 && (origin.IsZero() || r.Intervals[0].Start.Before(origin)) {
		origin = r.Intervals[0].Start
	}
	at := func(t time.Time) string { return fmt.Sprintf("+%.1f s", t.Sub(origin).Seconds()) }
	parts := []string{fmt.Sprintf("%d reconnects (%d failed)", rc.Count, rc.Errors)}
	var firstBad, lastBad, lastBack int = -1, -1, -1
	for i, iv := range r.Intervals {
		if o := iv.Operations[OpSend.String()]; o.Errors > 0 {
			if firstBad < 0 {
				firstBad = i
			}
			lastBad = i
		}
		if o := iv.Operations[OpReconnect.String()]; o.Count > o.Errors {
			lastBack = i
		}
	}
	if firstBad >= 0 {
		parts = append(parts, "posts failing from "+at(r.Intervals[firstBad].Start)+" to "+at(r.Intervals[lastBad].End))
	}
	if lastBack >= 0 {
		parts = append(parts, "last user back by "+at(r.Intervals[lastBack].End))
	}
	return strings.Join(parts, ", ")
}
