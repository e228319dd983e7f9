package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// segmentKey is the scenario setting that says which slice of a distributed run a
// report covers (--segment i/n): the one setting in which the reports of one run's
// segments differ.
const segmentKey = "segment"

// MergeOperation combines two operations losslessly: the histograms are decoded,
// merged and re-encoded, the counts summed and the latency summary recomputed from
// the merged histogram (so merged percentiles are those of one recorder that saw
// every sample). Service times are kept only when one side has successful samples:
// the report keeps their summary, not their histogram, and percentiles of two
// summaries cannot be combined. An empty Histogram counts as no samples. It is safe
// for concurrent use.
func MergeOperation(a, b Operation) (Operation, error) {
	ha, err := decodeOrEmpty(a.Histogram)
	if err != nil {
		return Operation{}, err
	}
	hb, err := decodeOrEmpty(b.Histogram)
	if err != nil {
		return Operation{}, err
	}
	h := newHist()
	lost := h.Merge(ha) + h.Merge(hb)
	if lost > 0 {
		return Operation{}, fmt.Errorf("merging histograms: %d values outside 1us..60s (a report from another tool?)", lost)
	}
	o := Operation{
		Count:     a.Count + b.Count,
		Errors:    a.Errors + b.Errors,
		LatencyUS: latencyOf(h),
		Histogram: encodeHistogram(h),
	}
	switch {
	case ha.TotalCount() == 0 && a.ServiceUS == nil:
		o.ServiceUS = cloneLatency(b.ServiceUS)
	case hb.TotalCount() == 0 && b.ServiceUS == nil:
		o.ServiceUS = cloneLatency(a.ServiceUS)
	}
	return o, nil
}

func cloneLatency(l *Latency) *Latency {
	if l == nil {
		return nil
	}
	c := *l
	return &c
}

func decodeOrEmpty(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return newHist(), nil
	}
	return DecodeHistogram(s)
}

// MergeOperations merges every operation of from into into (which must not be nil),
// keyed by name; an operation only in from is copied. On error into holds the
// operations merged before the failing one. It is not safe for concurrent use of into.
func MergeOperations(into map[string]Operation, from map[string]Operation) error {
	for _, name := range slices.Sorted(maps.Keys(from)) {
		o := from[name]
		cur, ok := into[name]
		if !ok {
			o.ServiceUS = cloneLatency(o.ServiceUS)
			into[name] = o
			continue
		}
		m, err := MergeOperation(cur, o)
		if err != nil {
			return fmt.Errorf("operation %s: %w", name, err)
		}
		into[name] = m
	}
	return nil
}

// MergeFailures combines two failure lists: one entry per class in Classes() order,
// counts and codes summed, and the first 3 distinct examples (a's first). Like a
// recorder, a class keeps at most 32 distinct codes: beyond them the least frequent
// go under NoCode, so the codes still add up to the count. Neither input is modified;
// the result is never nil. It is safe for concurrent use.
func MergeFailures(a, b []Failure) []Failure {
	var byClass [numClasses]*Failure
	var extra []Failure // classes this version does not know, in first-seen order
	add := func(f Failure) {
		var m *Failure
		if f.Class < numClasses {
			m = byClass[f.Class]
			if m == nil {
				m = &Failure{Class: f.Class, Codes: map[string]uint64{}, Examples: []string{}}
				byClass[f.Class] = m
			}
		} else {
			i := slices.IndexFunc(extra, func(e Failure) bool { return e.Class == f.Class })
			if i < 0 {
				extra = append(extra, Failure{Class: f.Class, Codes: map[string]uint64{}, Examples: []string{}})
				i = len(extra) - 1
			}
			m = &extra[i]
		}
		m.Count += f.Count
		for code, n := range f.Codes {
			m.Codes[code] += n
		}
		for _, e := range f.Examples {
			if len(m.Examples) < maxExamples && !slices.Contains(m.Examples, e) {
				m.Examples = append(m.Examples, e)
			}
		}
	}
	for _, f := range a {
		add(f)
	}
	for _, f := range b {
		add(f)
	}
	out := []Failure{}
	for _, m := range byClass {
		if m != nil {
			boundCodes(m.Codes)
			out = append(out, *m)
		}
	}
	for _, m := range extra {
		boundCodes(m.Codes)
		out = append(out, m)
	}
	return out
}

// boundCodes keeps the maxCodes most frequent codes (other than NoCode) of a class
// and folds the rest into NoCode.
func boundCodes(codes map[string]uint64) {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		if k != NoCode {
			keys = append(keys, k)
		}
	}
	if len(keys) <= maxCodes {
		return
	}
	slices.SortFunc(keys, func(x, y string) int {
		if codes[x] != codes[y] {
			if codes[x] > codes[y] {
				return -1
			}
			return 1
		}
		return compareCodes(x, y)
	})
	for _, k := range keys[maxCodes:] {
		codes[NoCode] += codes[k]
		delete(codes, k)
	}
}

func compareCodes(x, y string) int {
	a, errA := strconv.Atoi(x)
	b, errB := strconv.Atoi(y)
	if errA == nil && errB == nil {
		return a - b
	}
	return bytes.Compare([]byte(x), []byte(y))
}

// Add adds o's counts to m. It is not safe for concurrent use of m.
func (m *Messages) Add(o Messages) {
	m.Sent += o.Sent
	m.Accepted += o.Accepted
	m.ExpectedDeliveries += o.ExpectedDeliveries
	m.Delivered += o.Delivered
	m.Lost += o.Lost
	m.Duplicated += o.Duplicated
	m.OutOfOrder += o.OutOfOrder
	m.Corrupted += o.Corrupted
}

// Merge combines the reports of the segments of one run (--segment i/n, one report
// per process) into the report of the whole run, losslessly: operations merged
// (MergeOperation), messages and failures summed, load rates and drops summed,
// intervals aligned by time (see mergeIntervals: segments started within half an
// interval of each other line up; the same Start always merges), and the generator's
// health combined (cpu, drops, overflow, goroutines and workers summed; max RSS and
// schedule lag p99 the worst of any process). The run covers the earliest start to
// the latest end; its end reason is the worst of the reports' (error, aborted,
// crashed, interrupted, completed).
//
// Merge refuses reports of different scenarios: their scenario settings must be equal
// except "segment" (a setting absent from one equals a zero value in the other), and
// no two reports may be of the same segment. When the reports are of several segments
// the merged scenario's "segment" is "" (the whole run's, as a one-process run writes
// it), so that it compares with a one-process run of the same workload. The run id is
// the first report's when all agree, else the first's with "+N" for the N others.
// Threshold verdicts are not kept: they were about one segment. The inputs are not
// modified. Merge is safe for concurrent use.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, errors.New("merge: no reports")
	}
	for i, r := range reports {
		if r == nil {
			return nil, fmt.Errorf("merge: report %d is nil", i+1)
		}
		if r.SchemaVersion != SchemaVersion {
			return nil, fmt.Errorf("merge: report %d (run %s): schema_version %d is not supported (want %d)", i+1, r.RunID, r.SchemaVersion, SchemaVersion)
		}
	}
	mixed := len(reports[0].Workloads) > 0
	var scenario json.RawMessage
	var err error
	if !mixed {
		// A mixed run's scenario is its workloads': merged with them, below.
		if scenario, err = mergeScenarios(reports); err != nil {
			return nil, err
		}
	}
	first := reports[0]
	out := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          first.Tool,
		RunID:         first.RunID,
		Scenario:      scenario,
		Target:        first.Target,
		StartedAt:     first.StartedAt,
		EndedAt:       first.EndedAt,
		EndReason:     first.EndReason,
		Load:          Load{Model: first.Load.Model},
		Operations:    map[string]Operation{},
		Failures:      []Failure{},
	}
	others := 0
	var intervals [][]Interval
	for i, r := range reports {
		if r.RunID != first.RunID {
			others++
		}
		out.Target.Embedded = out.Target.Embedded || r.Target.Embedded
		if !r.StartedAt.IsZero() && (out.StartedAt.IsZero() || r.StartedAt.Before(out.StartedAt)) {
			out.StartedAt = r.StartedAt
		}
		if r.EndedAt.After(out.EndedAt) {
			out.EndedAt = r.EndedAt
		}
		if endRank(r.EndReason) > endRank(out.EndReason) {
			out.EndReason = r.EndReason
		}
		out.Load.TargetRate += r.Load.TargetRate
		out.Load.AchievedRate += r.Load.AchievedRate
		out.Load.Dropped += r.Load.Dropped
		if s := r.Load.SignIn; s != nil {
			// Segments sign in side by side: their users and rates add up.
			if out.Load.SignIn == nil {
				out.Load.SignIn = &SignIn{}
			}
			m := out.Load.SignIn
			m.Users += s.Users
			m.Seconds = max(m.Seconds, s.Seconds)
			m.TargetRate += s.TargetRate
			m.AchievedRate += s.AchievedRate
		}
		if err := MergeOperations(out.Operations, r.Operations); err != nil {
			return nil, fmt.Errorf("merge: report %d (run %s): %w", i+1, r.RunID, err)
		}
		out.Messages.Add(r.Messages)
		out.Failures = MergeFailures(out.Failures, r.Failures)
		if i == 0 {
			out.Generator = r.Generator
			out.Generator.Note = ""
		} else {
			out.Generator = mergeGenerator(out.Generator, r.Generator)
		}
		out.Generator.Note = joinNote(out.Generator.Note, r.Generator.Note)
		intervals = append(intervals, r.Intervals)
	}
	if others > 0 {
		out.RunID = fmt.Sprintf("%s+%d", first.RunID, others)
	}
	if out.Intervals, err = mergeIntervals(intervals); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if mixed {
		for i, r := range reports {
			if len(r.Workloads) == 0 {
				return nil, fmt.Errorf("merge: report %d (run %s) is not of a mixed run, report 1 is", i+1, r.RunID)
			}
		}
		if out.Workloads, err = mergeWorkloads(reports); err != nil {
			return nil, err
		}
		if out.Scenario, err = workloadScenario(out.Workloads); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
	}
	return out, nil
}

// mergeWorkloads merges mixed runs' workloads by name (each name's reports as Merge
// merges segments), in the order the names first appear.
func mergeWorkloads(reports []*Report) ([]Workload, error) {
	var names []string
	by := map[string][]*Report{}
	for _, r := range reports {
		for _, w := range r.Workloads {
			if _, ok := by[w.Name]; !ok {
				names = append(names, w.Name)
			}
			by[w.Name] = append(by[w.Name], w.Report)
		}
	}
	var out []Workload
	for _, n := range names {
		m, err := Merge(by[n]...)
		if err != nil {
			return nil, fmt.Errorf("merge: workload %s: %w", n, err)
		}
		out = append(out, Workload{Name: n, Report: m})
	}
	return out, nil
}

// endRank orders end reasons from best to worst; an unknown one ranks with error.
func endRank(reason string) int {
	switch reason {
	case "completed", "":
		return 0
	case "interrupted":
		return 1
	case "crashed":
		return 2
	case "aborted":
		return 3
	}
	return 4
}

func mergeGenerator(a, b Generator) Generator {
	a.CPUSeconds += b.CPUSeconds
	a.MaxRSSBytes = max(a.MaxRSSBytes, b.MaxRSSBytes)
	a.ScheduleLagP99US = max(a.ScheduleLagP99US, b.ScheduleLagP99US)
	a.Dropped += b.Dropped
	a.Overflow += b.Overflow
	a.Goroutines += b.Goroutines
	a.Workers += b.Workers
	return a
}

// joinNote adds a note unless it is already there; notes are short and few.
func joinNote(notes, n string) string {
	switch {
	case n == "" || notes == n:
		return notes
	case notes == "":
		return n
	}
	for _, p := range bytes.Split([]byte(notes), []byte("; ")) {
		if string(p) == n {
			return notes
		}
	}
	return notes + "; " + n
}

// mergeIntervals aligns the reports' intervals by time and merges those that fall
// together. Each report's intervals lie on a grid of its interval length from its own
// start (only the last is shorter), and the segments of a run start about together,
// not at the same nanosecond: an interval goes to the merged interval nearest its
// start on the grid of the common length from the earliest start (intervals with the
// same Start always merge). The merged interval spans its members' earliest start to
// latest end. Reports with different interval lengths are refused: their rows cannot
// be lined up.
func mergeIntervals(perReport [][]Interval) ([]Interval, error) {
	var length time.Duration // the common interval length; 0 while unknown
	var origin time.Time
	for i, ivs := range perReport {
		if len(ivs) >= 2 { // the first is whole (only the last may be short)
			d := ivs[0].End.Sub(ivs[0].Start)
			if length != 0 && d != length && d > 0 {
				return nil, fmt.Errorf("report %d has %v intervals, another %v: merge reports of runs with the same --interval", i+1, d, length)
			}
			if d > 0 {
				length = d
			}
		}
		for _, iv := range ivs {
			if origin.IsZero() || iv.Start.Before(origin) {
				origin = iv.Start
			}
		}
	}
	slot := func(iv Interval) int64 {
		if length <= 0 {
			return iv.Start.UnixNano() // no grid known: the same Start only
		}
		return int64(math.Round(float64(iv.Start.Sub(origin)) / float64(length)))
	}
	var ivs []Interval
	for _, r := range perReport {
		ivs = append(ivs, r...)
	}
	if len(ivs) == 0 {
		return nil, nil
	}
	bySlot := map[int64]int{} // slot -> index in out
	var out []Interval
	for _, iv := range ivs {
		k := slot(iv)
		j, ok := bySlot[k]
		if !ok {
			c := iv
			c.Operations = map[string]Operation{}
			if err := MergeOperations(c.Operations, iv.Operations); err != nil {
				return nil, fmt.Errorf("interval %s: %w", iv.Start.Format(time.RFC3339Nano), err)
			}
			c.Failures = MergeFailures(nil, iv.Failures)
			bySlot[k] = len(out)
			out = append(out, c)
			continue
		}
		if err := out[j].add(iv, mergeGenerator); err != nil {
			return nil, fmt.Errorf("interval %s: %w", iv.Start.Format(time.RFC3339Nano), err)
		}
	}
	slices.SortStableFunc(out, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// add merges iv into m, an interval of the same slot: the span of both, the
// earlier phase (steady only when both are), operations, messages, failures and
// load added; the generators' figures combined by gen (other processes: added;
// the same process: the larger).
func (m *Interval) add(iv Interval, gen func(a, b Generator) Generator) error {
	if iv.Start.Before(m.Start) {
		m.Start = iv.Start
	}
	if iv.End.After(m.End) {
		m.End = iv.End
	}
	if phaseRank(iv.Phase) < phaseRank(m.Phase) {
		m.Phase = iv.Phase
	}
	if err := MergeOperations(m.Operations, iv.Operations); err != nil {
		return err
	}
	m.Messages.Add(iv.Messages)
	m.Failures = MergeFailures(m.Failures, iv.Failures)
	m.Load.TargetRate += iv.Load.TargetRate
	m.Load.AchievedRate += iv.Load.AchievedRate
	m.Load.Dropped += iv.Load.Dropped
	m.Load.InFlight += iv.Load.InFlight
	m.Generator = gen(m.Generator, iv.Generator)
	m.Generator.Note = joinNote(m.Generator.Note, iv.Generator.Note)
	return nil
}

// phaseRank orders the run phases; an unknown one sorts last.
func phaseRank(p string) int {
	switch p {
	case "setup":
		return 0
	case "steady":
		return 1
	case "drain":
		return 2
	case "teardown":
		return 3
	}
	return 4
}

// mergeScenarios checks that the reports are of one scenario (equal settings but
// for the segment, each segment once) and returns the merged run's scenario.
func mergeScenarios(reports []*Report) (json.RawMessage, error) {
	first, err := scenarioFields(reports[0].Scenario)
	if err != nil {
		return nil, fmt.Errorf("merge: report 1 (run %s): %w", reports[0].RunID, err)
	}
	seen := map[string]int{} // segment -> report number
	segments := 0
	runs := map[string]int{} // run id and segment -> report number: one report given twice
	for i, r := range reports {
		fs := first
		if i > 0 {
			if fs, err = scenarioFields(r.Scenario); err != nil {
				return nil, fmt.Errorf("merge: report %d (run %s): %w", i+1, r.RunID, err)
			}
			if k, a, b, same := diffFields(first, fs, segmentKey); !same {
				return nil, fmt.Errorf("merge: report %d (run %s) is of another scenario: %s is %s in report 1 and %s in report %d",
					i+1, r.RunID, k, a, b, i+1)
			}
		}
		seg := fs.get(segmentKey)
		whole := seg == "" || seg == `""` || seg == "null"
		if j, dup := seen[seg]; dup && !whole {
			return nil, fmt.Errorf("merge: reports %d and %d are both of segment %s: a segment's counts would be counted twice", j, i+1, seg)
		}
		if key := r.RunID + "\x00" + seg; r.RunID != "" {
			if j, dup := runs[key]; dup {
				return nil, fmt.Errorf("merge: reports %d and %d are both of run %s (segment %s): the same report given twice would be counted twice",
					j, i+1, r.RunID, orWhole(seg))
			}
			runs[key] = i + 1
		}
		if whole {
			continue
		}
		seen[seg] = i + 1
		segments++
	}
	if segments > 1 {
		return first.with(segmentKey, `""`), nil // the whole run's: as a one-process run writes it
	}
	return slices.Clone(reports[0].Scenario), nil
}

func orWhole(seg string) string {
	if seg == "" || seg == `""` || seg == "null" {
		return "none: the whole run"
	}
	return seg
}

// jsonFields is a JSON object's members in their order, values as compact JSON text.
type jsonFields []struct{ key, val string }

func (fs jsonFields) get(key string) string {
	for _, f := range fs {
		if f.key == key {
			return f.val
		}
	}
	return ""
}

// with returns the object with key's value replaced by val (JSON text), members in
// their order.
func (fs jsonFields) with(key, val string) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		if f.key == key {
			b.WriteString(val)
		} else {
			b.WriteString(f.val)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// scenarioFields reads a report's scenario object; an absent scenario has no fields.
func scenarioFields(raw json.RawMessage) (jsonFields, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("scenario: not a JSON object")
	}
	var fs jsonFields
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", key, err)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", key, err)
		}
		fs = append(fs, struct{ key, val string }{key, c.String()})
	}
	return fs, nil
}

// diffFields returns the first key (in a's order, then b's) whose value differs
// between a and b, ignoring the keys in ignore; same is true when there is none. A key
// absent from one side equals a zero value ("", 0, false, [], {} or null) on the other:
// a report written before a setting existed had it at its zero value.
func diffFields(a, b jsonFields, ignore ...string) (key, va, vb string, same bool) {
	show := func(v string) string {
		if v == "" {
			return "(none)"
		}
		return v
	}
	check := func(x, y jsonFields, swap bool) (string, string, string, bool) {
		for _, f := range x {
			if slices.Contains(ignore, f.key) {
				continue
			}
			other := y.get(f.key)
			if other == f.val || (other == "" && zeroJSON(f.val)) {
				continue
			}
			if swap {
				return f.key, show(other), show(f.val), false
			}
			return f.key, show(f.val), show(other), false
		}
		return "", "", "", true
	}
	if k, x, y, ok := check(a, b, false); !ok {
		return k, x, y, false
	}
	return check(b, a, true)
}

func zeroJSON(v string) bool {
	switch v {
	case `""`, "0", "false", "[]", "{}", "null":
		return true
	}
	return false
}
