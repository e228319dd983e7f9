package report

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry shared by every recorder and report, so that histograms from
// different workers, shards and runs merge without loss.
const (
	histLowest  = int64(time.Microsecond) // resolution floor: 1 us in ns
	histHighest = int64(60 * time.Second) // longest trackable value: 60 s in ns
	histDigits  = 3                       // significant digits (0.1% error)
)

// Bounds on what a recorder keeps per failure class: a long run must not grow
// memory with the number (or variety) of failures.
const (
	maxExamples   = 3   // distinct raw messages kept per class, first seen first
	maxTries      = 10  // error texts built per class at most, looking for distinct examples
	maxCodes      = 32  // distinct non-zero codes per class; the rest go under code 0
	maxExampleLen = 512 // bytes kept of one example (cut at a rune boundary)
)

// NoCode is the JSON and table key of code 0 in Failure.Codes: failures without a
// status or reply code, plus those whose code did not fit the per-class bound. It is
// a constant, safe for concurrent use.
const NoCode = "-"

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLowest, histHighest, histDigits) }

// clamp maps d to the histogram's range in ns. Values below the 1 us resolution
// (down to 0) are in range: synctest runs and loopback fakes produce them, and they
// are not a measurement problem. Negative values (a clock or caller bug) and values
// above 60 s are moved to the nearest bound and reported as out of range.
func clamp(d time.Duration) (v int64, out bool) {
	switch {
	case d < 0:
		return 0, true
	case int64(d) > histHighest:
		return histHighest, true
	}
	return int64(d), false
}

// opStats is one operation's tallies. Histograms are allocated on first use (each is
// ~144 KiB): a recorder pays only for the operations its scenario performs.
type opStats struct {
	count, errors uint64
	lat           *hdrhistogram.Histogram
	// svc holds service times once any differed from latency (svcOn); until then
	// service equals latency and lat stands for both, which saves a histogram and a
	// second RecordValue per op for scenarios that do not measure service apart.
	svc   *hdrhistogram.Histogram
	svcOn bool
}

type codeCount struct {
	code int
	n    uint64
}

// classStats is one failure class's tallies, fixed size so that tallying never
// allocates.
type classStats struct {
	count    uint64
	uncoded  uint64 // code 0, and codes beyond maxCodes
	codes    [maxCodes]codeCount
	ncodes   int
	examples [maxExamples]string
	nex      int
	tries    int // error texts built (Record), bounded by maxTries
}

func (cs *classStats) addCode(code int, n uint64) {
	if code != 0 {
		for i := range cs.ncodes {
			if cs.codes[i].code == code {
				cs.codes[i].n += n
				return
			}
		}
		if cs.ncodes < maxCodes {
			cs.codes[cs.ncodes] = codeCount{code, n}
			cs.ncodes++
			return
		}
	}
	cs.uncoded += n
}

// offerExample keeps s when a slot is free and s is neither empty nor already kept.
func (cs *classStats) offerExample(s string) {
	if s == "" || cs.nex >= maxExamples {
		return
	}
	s = truncateExample(s)
	for _, e := range cs.examples[:cs.nex] {
		if e == s {
			return
		}
	}
	cs.examples[cs.nex] = s
	cs.nex++
}

// wantsText reports whether Record should build an error's text for an example:
// only while a slot is free, and only maxTries times per class, so a class whose
// failures all read the same stops allocating after a few.
func (cs *classStats) wantsText() bool {
	if cs.nex >= maxExamples || cs.tries >= maxTries {
		return false
	}
	cs.tries++
	return true
}

// truncateExample bounds an example to maxExampleLen bytes without splitting a
// rune, copying it so a huge error text is not retained through the substring.
func truncateExample(s string) string {
	if len(s) <= maxExampleLen {
		return s
	}
	n := maxExampleLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return string([]byte(s[:n]))
}

// Recorder holds one worker's (or one tracker shard's) measurements: per operation
// counts and latency/service histograms, failure tallies by class and code with a few
// examples, and the pacer's schedule lag. A Recorder is NOT safe for concurrent use:
// each goroutine owns one, and Merge combines them at the end of a run or interval.
// Record, Fail and Lag do not allocate once each histogram they touch exists.
type Recorder struct {
	ops      [NumOps]opStats
	classes  [numClasses]classStats
	lag      *hdrhistogram.Histogram
	overflow uint64
}

// NewRecorder returns an empty recorder. It is safe for concurrent use; the recorder
// it returns is not.
func NewRecorder() *Recorder { return &Recorder{} }

// record adds v to *h (allocating it on first use); a RecordValue error is counted
// as overflow, never ignored.
func (r *Recorder) record(h **hdrhistogram.Histogram, v int64) {
	if *h == nil {
		*h = newHist()
	}
	if (*h).RecordValue(v) != nil {
		r.overflow++
	}
}

// startService makes st.svc a copy of st.lat: every earlier op had service ==
// latency. It reuses st.svc's storage after a Reset.
func (r *Recorder) startService(st *opStats) {
	if st.svc == nil {
		st.svc = newHist()
	} else {
		st.svc.Reset()
	}
	if st.lat != nil {
		r.merge(st.svc, st.lat)
	}
	st.svcOn = true
}

func (r *Recorder) merge(dst, src *hdrhistogram.Histogram) {
	if d := dst.Merge(src); d > 0 {
		r.overflow += uint64(d)
	}
}

// Record counts one operation; op must be below NumOps. On success (err == nil)
// latency (intended start -> completion, coordinated-omission free) goes into op's
// latency histogram and service (actual send -> completion) into its service
// histogram; service <= 0 means "same as latency". On failure the op counts as an
// error and is tallied by ClassOf(err) and code; err.Error() is built only while the
// class has a free example slot (3 distinct texts, first seen first), and at most 10
// times per class, so the failure path does not allocate in steady state. Values
// outside 0..60 s are clamped and counted in Overflow. Record is not safe for
// concurrent use (see Recorder).
func (r *Recorder) Record(op Op, latency, service time.Duration, err error) {
	st := &r.ops[op]
	st.count++
	if err != nil {
		st.errors++
		c, code := ClassOf(err)
		if cs := r.tally(c, code, 1); cs.wantsText() {
			cs.offerExample(err.Error())
		}
		return
	}
	lv, out := clamp(latency)
	if out {
		r.overflow++
	}
	if service > 0 && !st.svcOn {
		r.startService(st)
	}
	r.record(&st.lat, lv)
	if !st.svcOn {
		return
	}
	sv := lv
	if service > 0 {
		if sv, out = clamp(service); out {
			r.overflow++
		}
	}
	r.record(&st.svc, sv)
}

// RecordSubset counts one operation of op that is also recorded under another
// op (a sub-row such as OpIdleDelivery of OpDelivery): a success with its
// latency, or a failure (failed) counted as op's error but not tallied by
// class, since the other op's record tallies it. Not safe for concurrent use.
func (r *Recorder) RecordSubset(op Op, latency time.Duration, failed bool) {
	st := &r.ops[op]
	st.count++
	if failed {
		st.errors++
		return
	}
	lv, _ := clamp(latency) // an overflow is counted by the other op's record
	r.record(&st.lat, lv)
}

// tally counts n failures of class with code and returns the class's stats.
func (r *Recorder) tally(class Class, code int, n uint64) *classStats {
	if class >= numClasses {
		class = Other
	}
	cs := &r.classes[class]
	cs.count += n
	cs.addCode(code, n)
	return cs
}

// Fail tallies n failures that are not an operation's result (lost, duplicate,
// out-of-order, corrupted, dropped) of class with code (0 when none); example is
// kept while the class has a free example slot and it is new to the class. n == 0
// does nothing. Fail does not allocate, but building example does: callers on a hot
// path may pass a constant text. Fail is not safe for concurrent use (see Recorder).
func (r *Recorder) Fail(class Class, code int, n uint64, example string) {
	if n == 0 {
		return
	}
	r.tally(class, code, n).offerExample(example)
}

// Lag records one schedule lag sample (actual start - intended start) of the pacer,
// clamped like latencies. Lag is not safe for concurrent use (see Recorder).
func (r *Recorder) Lag(d time.Duration) {
	v, out := clamp(d)
	if out {
		r.overflow++
	}
	r.record(&r.lag, v)
}

// Merge adds everything from into r; from is not modified and must not be r.
// Histogram values Merge drops count in Overflow. Per class, codes beyond the bound
// go under code 0, and from's examples that r does not hold fill r's free slots (so
// many workers failing alike still give distinct examples).
// Merge is not safe for concurrent use of r or from.
func (r *Recorder) Merge(from *Recorder) {
	if from == r {
		panic("report: Recorder.Merge of a recorder into itself")
	}
	for i := range r.ops {
		st, fs := &r.ops[i], &from.ops[i]
		st.count += fs.count
		st.errors += fs.errors
		// Service first: startService copies r's own latencies, before from's join them.
		if fs.svcOn || st.svcOn {
			if !st.svcOn {
				r.startService(st)
			}
			src := fs.lat
			if fs.svcOn {
				src = fs.svc
			}
			if src != nil {
				r.merge(st.svc, src)
			}
		}
		if fs.lat != nil {
			if st.lat == nil {
				st.lat = newHist()
			}
			r.merge(st.lat, fs.lat)
		}
	}
	for i := range r.classes {
		cs, fc := &r.classes[i], &from.classes[i]
		if fc.count == 0 {
			continue
		}
		cs.count += fc.count
		for _, cc := range fc.codes[:fc.ncodes] {
			cs.addCode(cc.code, cc.n)
		}
		cs.uncoded += fc.uncoded
		for _, e := range fc.examples[:fc.nex] {
			cs.offerExample(e)
		}
	}
	if from.lag != nil {
		if r.lag == nil {
			r.lag = newHist()
		}
		r.merge(r.lag, from.lag)
	}
	r.overflow += from.overflow
}

// Reset empties r for reuse, keeping its histograms' storage. It is not safe for
// concurrent use (see Recorder).
func (r *Recorder) Reset() {
	for i := range r.ops {
		st := &r.ops[i]
		st.count, st.errors, st.svcOn = 0, 0, false
		if st.lat != nil {
			st.lat.Reset()
		}
		if st.svc != nil {
			st.svc.Reset()
		}
	}
	r.classes = [numClasses]classStats{}
	if r.lag != nil {
		r.lag.Reset()
	}
	r.overflow = 0
}

// Overflow returns how many values were out of the histograms' range (clamped) or
// lost in merges; a non-zero value means percentiles are not exact and must be
// reported. It is not safe for concurrent use with writers (see Recorder).
func (r *Recorder) Overflow() uint64 { return r.overflow }

// Histograms returns how many histograms r holds (allocated on first use, kept
// across Reset; ~144 KiB each): its memory, for whoever keeps recorders around.
// It is not safe for concurrent use with writers (see Recorder).
func (r *Recorder) Histograms() int {
	n := 0
	if r.lag != nil {
		n++
	}
	for i := range r.ops {
		if r.ops[i].lat != nil {
			n++
		}
		if r.ops[i].svc != nil {
			n++
		}
	}
	return n
}

// Count returns how many op ran and how many of them failed. It is not safe for
// concurrent use with writers (see Recorder).
func (r *Recorder) Count(op Op) (count, errors uint64) {
	st := &r.ops[op]
	return st.count, st.errors
}

// ValueAtPercentile returns op's latency at percentile p (0..100; 99.9 for p99.9),
// 0 when op has no successful sample. It is not safe for concurrent use with writers
// (see Recorder).
func (r *Recorder) ValueAtPercentile(op Op, p float64) time.Duration {
	h := r.ops[op].lat
	if h == nil {
		return 0
	}
	return time.Duration(h.ValueAtPercentile(p))
}

// LagAtPercentile returns the schedule lag at percentile p (0..100), 0 without
// samples. It is not safe for concurrent use with writers (see Recorder).
func (r *Recorder) LagAtPercentile(p float64) time.Duration {
	if r.lag == nil {
		return 0
	}
	return time.Duration(r.lag.ValueAtPercentile(p))
}

// Operations returns the report entry of every operation that ran (count > 0), keyed
// by Op.String. ServiceUS is set only when some service time differed from latency.
// It allocates (encoding histograms) and is meant for the end of a run or interval;
// it is not safe for concurrent use with writers (see Recorder).
func (r *Recorder) Operations() map[string]Operation {
	m := make(map[string]Operation)
	for i := range r.ops {
		st := &r.ops[i]
		if st.count == 0 {
			continue
		}
		o := Operation{Count: st.count, Errors: st.errors}
		if st.lat != nil {
			o.LatencyUS = latencyOf(st.lat)
			o.Histogram = encodeHistogram(st.lat)
		} else {
			o.Histogram = encodeHistogram(newHist()) // only failures: still decodable (empty)
		}
		if st.svcOn {
			l := latencyOf(st.svc)
			o.ServiceUS = &l
		}
		m[Op(i).String()] = o
	}
	return m
}

// Failures returns one entry per class with failures, in Classes() order. Codes are
// keyed by their decimal value, code 0 by NoCode; examples are in first-seen order.
// It allocates and is not safe for concurrent use with writers (see Recorder).
func (r *Recorder) Failures() []Failure {
	fs := []Failure{}
	for _, c := range Classes() {
		cs := &r.classes[c]
		if cs.count == 0 {
			continue
		}
		f := Failure{Class: c, Count: cs.count, Codes: make(map[string]uint64, cs.ncodes+1), Examples: []string{}}
		for _, cc := range cs.codes[:cs.ncodes] {
			f.Codes[strconv.Itoa(cc.code)] = cc.n
		}
		if cs.uncoded > 0 {
			f.Codes[NoCode] = cs.uncoded
		}
		f.Examples = append(f.Examples, cs.examples[:cs.nex]...)
		fs = append(fs, f)
	}
	return fs
}

// latencyOf summarizes h (ns) in microseconds; hdrhistogram's values are integers
// in ns, so dividing by 1000 keeps exactly 3 decimals.
func latencyOf(h *hdrhistogram.Histogram) Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		Min:  us(h.Min()),
		Mean: math.Round(h.Mean()) / 1e3,
		P50:  us(h.ValueAtPercentile(50)),
		P90:  us(h.ValueAtPercentile(90)),
		P95:  us(h.ValueAtPercentile(95)),
		P99:  us(h.ValueAtPercentile(99)),
		P999: us(h.ValueAtPercentile(99.9)),
		Max:  us(h.Max()),
	}
}

func encodeHistogram(h *hdrhistogram.Histogram) string {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		// Encoding writes to memory only; it fails only on an unsupported version.
		panic("report: encoding a histogram: " + err.Error())
	}
	return string(b)
}

// DecodeHistogram returns the histogram of an Operation.Histogram string (the
// compressed "HISTF..." encoding, values in ns), so reports can be merged and any
// percentile computed later. It is safe for concurrent use.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decoding histogram: %w", err)
	}
	return h, nil
}
