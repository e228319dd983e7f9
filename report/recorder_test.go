package report

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOpNamesRoundTrip(t *testing.T) {
	for o := range NumOps {
		got, err := ParseOp(o.String())
		if err != nil || got != o {
			t.Errorf("ParseOp(%q) = %v, %v; want %v", o.String(), got, err, o)
		}
	}
	if _, err := ParseOp("post"); err == nil || !strings.Contains(err.Error(), "register") {
		t.Errorf("ParseOp(post) error = %v; want one listing the known operations", err)
	}
	if got, want := NumOps.String(), "op(10)"; got != want { // delivery-idle added
		t.Errorf("NumOps.String() = %q; want %q", got, want)
	}
}

func TestRecordCounts(t *testing.T) {
	rejected := Errorf(Rejected, "send", 403, "403 Forbidden")
	cases := []struct {
		name                string
		record              func(r *Recorder)
		op                  Op
		wantCount, wantErrs uint64
		wantService         bool // Operations()[op].ServiceUS is set
	}{
		// Successes only, service never given: service is latency, not reported apart.
		{"successes", func(r *Recorder) {
			for range 5 {
				r.Record(OpJoin, time.Millisecond, 0, nil)
			}
		}, OpJoin, 5, 0, false},
		// One explicit service time is enough to report service apart.
		{"service", func(r *Recorder) {
			r.Record(OpSend, 2*time.Millisecond, 0, nil)
			r.Record(OpSend, 2*time.Millisecond, time.Millisecond, nil)
		}, OpSend, 2, 0, true},
		// Failures count as operations and as errors.
		{"mixed", func(r *Recorder) {
			r.Record(OpSend, time.Millisecond, 0, nil)
			r.Record(OpSend, 0, 0, rejected)
			r.Record(OpSend, 0, 0, errors.New("boom"))
		}, OpSend, 3, 2, false},
		// Fail is not an operation: it leaves the op counts alone.
		{"fail only", func(r *Recorder) { r.Fail(Lost, 0, 4, "lost") }, OpDelivery, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRecorder()
			c.record(r)
			n, e := r.Count(c.op)
			if n != c.wantCount || e != c.wantErrs {
				t.Errorf("Count(%v) = %d, %d; want %d, %d", c.op, n, e, c.wantCount, c.wantErrs)
			}
			o, ok := r.Operations()[c.op.String()]
			if ok != (c.wantCount > 0) {
				t.Fatalf("Operations()[%v] present = %v; want %v", c.op, ok, c.wantCount > 0)
			}
			if got := o.ServiceUS != nil; got != c.wantService {
				t.Errorf("ServiceUS set = %v; want %v", got, c.wantService)
			}
			if ok && (o.Count != c.wantCount || o.Errors != c.wantErrs) {
				t.Errorf("Operation = %d, %d errors; want %d, %d", o.Count, o.Errors, c.wantCount, c.wantErrs)
			}
		})
	}
}

// within reports whether got is within frac of want.
func within(got, want time.Duration, frac float64) bool {
	return math.Abs(float64(got-want)) <= frac*float64(want)
}

func TestPercentilesUniform(t *testing.T) {
	r := NewRecorder()
	// 1..1000 ms uniform, every millisecond.
	for d := time.Millisecond; d <= time.Second; d += time.Millisecond {
		r.Record(OpSend, d, 0, nil)
		r.Lag(d)
	}
	cases := []struct {
		p    float64
		want time.Duration
	}{
		{50, 500 * time.Millisecond},
		{90, 900 * time.Millisecond},
		{99, 990 * time.Millisecond},
		{99.9, 999 * time.Millisecond},
		{100, time.Second},
	}
	for _, c := range cases {
		if got := r.ValueAtPercentile(OpSend, c.p); !within(got, c.want, 0.001) {
			t.Errorf("ValueAtPercentile(send, %v) = %v; want %v +-0.1%%", c.p, got, c.want)
		}
		if got := r.LagAtPercentile(c.p); !within(got, c.want, 0.001) {
			t.Errorf("LagAtPercentile(%v) = %v; want %v +-0.1%%", c.p, got, c.want)
		}
	}
	l := r.Operations()["send"].LatencyUS
	checks := []struct {
		name      string
		got, want float64
	}{
		{"min", l.Min, 1000},
		{"mean", l.Mean, 500500},
		{"p50", l.P50, 500000},
		{"p999", l.P999, 999000},
		{"max", l.Max, 1000000},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 0.001*c.want {
			t.Errorf("latency_us.%s = %v; want %v +-0.1%%", c.name, c.got, c.want)
		}
		if s := strconv.FormatFloat(c.got, 'f', -1, 64); strings.Contains(s, ".") && len(s)-strings.Index(s, ".")-1 > 3 {
			t.Errorf("latency_us.%s = %s; want at most 3 decimals", c.name, s)
		}
	}
	if got := r.ValueAtPercentile(OpJoin, 50); got != 0 {
		t.Errorf("ValueAtPercentile(join, 50) without samples = %v; want 0", got)
	}
	if got := NewRecorder().LagAtPercentile(99); got != 0 {
		t.Errorf("LagAtPercentile(99) without samples = %v; want 0", got)
	}
}

func TestOverflow(t *testing.T) {
	cases := []struct {
		name     string
		record   func(r *Recorder)
		want     uint64
		wantMax  time.Duration // latency max of send (0: not checked)
		checkLag bool          // check the lag max against wantMax instead
	}{
		// Sub-microsecond values are below the resolution, not out of range.
		{"zero and 999ns", func(r *Recorder) {
			r.Record(OpSend, 0, 0, nil)
			r.Record(OpSend, 999, 0, nil)
		}, 0, 0, false},
		// The top of the range is in range.
		{"60s", func(r *Recorder) { r.Record(OpSend, time.Minute, 0, nil) }, 0, time.Minute, false},
		// Above the range: clamped to 60 s and counted.
		{"61s", func(r *Recorder) { r.Record(OpSend, 61*time.Second, 0, nil) }, 1, time.Minute, false},
		// Far above (hours) is clamped the same way.
		{"3h", func(r *Recorder) { r.Record(OpSend, 3*time.Hour, 0, nil) }, 1, time.Minute, false},
		// Negative (a clock or caller bug): clamped to 0 and counted.
		{"negative", func(r *Recorder) { r.Record(OpSend, -time.Millisecond, 0, nil) }, 1, 0, false},
		// A same-as-latency service does not count the latency twice.
		{"service same", func(r *Recorder) {
			r.Record(OpSend, time.Millisecond, time.Millisecond, nil) // service recorded apart from now on
			r.Record(OpSend, 2*time.Minute, 0, nil)
		}, 1, time.Minute, false},
		// An explicit out-of-range service counts on its own.
		{"service too", func(r *Recorder) { r.Record(OpSend, 2*time.Minute, 2*time.Minute, nil) }, 2, time.Minute, false},
		// Schedule lag is clamped and counted like latencies.
		{"lag", func(r *Recorder) {
			r.Lag(-1)
			r.Lag(time.Hour)
		}, 2, time.Minute, true},
		// Failures carry no latency: nothing to clamp.
		{"failure", func(r *Recorder) { r.Record(OpSend, time.Hour, time.Hour, errors.New("x")) }, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRecorder()
			c.record(r)
			if got := r.Overflow(); got != c.want {
				t.Errorf("Overflow() = %d; want %d", got, c.want)
			}
			if c.wantMax == 0 {
				return
			}
			got := r.ValueAtPercentile(OpSend, 100)
			if c.checkLag {
				got = r.LagAtPercentile(100)
			}
			if !within(got, c.wantMax, 0.001) {
				t.Errorf("max = %v; want %v (clamped)", got, c.wantMax)
			}
			// Overflow survives a merge.
			m := NewRecorder()
			m.Merge(r)
			if got := m.Overflow(); got != c.want {
				t.Errorf("Overflow() after Merge = %d; want %d", got, c.want)
			}
		})
	}
}

// sample is one recorded value for the merge test.
type sample struct {
	op               Op
	latency, service time.Duration
	err              error
	fail             Class // with failN > 0: a Fail instead of a Record
	failN            uint64
	lag              time.Duration // > 0: a Lag instead
}

func (s sample) apply(r *Recorder) {
	switch {
	case s.lag > 0:
		r.Lag(s.lag)
	case s.failN > 0:
		r.Fail(s.fail, int(s.failN%3)*100, s.failN, fmt.Sprintf("%v x%d", s.fail, s.failN))
	default:
		r.Record(s.op, s.latency, s.service, s.err)
	}
}

// samples returns n pseudo-random samples; withService decides whether successes
// carry an explicit service time.
func samples(rng *rand.Rand, n int, withService bool) []sample {
	ss := make([]sample, n)
	for i := range ss {
		s := sample{op: Op(rng.IntN(int(NumOps)))}
		switch k := rng.IntN(20); {
		case k == 0:
			s.lag = time.Duration(1 + rng.Int64N(int64(10*time.Millisecond)))
		case k == 1:
			s.fail, s.failN = Classes()[rng.IntN(len(Classes()))], uint64(1+rng.IntN(5))
		case k == 2:
			// 20 codes (+ Fail's 0, 100, 200): within the 32 kept per class, where
			// merging is exact (TestCodesBounded covers the bound).
			s.err = Errorf(Rejected, s.op.String(), 400+rng.IntN(20), "failure %d", i)
		case k == 3:
			s.err = fmt.Errorf("wrapped %d: %w", i, Errorf(Timeout, s.op.String(), 0, "no answer"))
		default:
			s.latency = time.Duration(rng.Int64N(int64(70 * time.Second))) // some beyond 60 s
			if withService {
				s.service = s.latency / 2
			}
		}
		ss[i] = s
	}
	return ss
}

// recorderState is everything a recorder tells, for comparisons.
type recorderState struct {
	Operations map[string]Operation
	Failures   []Failure
	Overflow   uint64
	Lag        [3]time.Duration
}

func stateOf(r *Recorder) recorderState {
	return recorderState{r.Operations(), r.Failures(), r.Overflow(),
		[3]time.Duration{r.LagAtPercentile(0), r.LagAtPercentile(99), r.LagAtPercentile(100)}}
}

func TestMergeEqualsSingle(t *testing.T) {
	cases := []struct {
		name         string
		nA, nB       int
		svcA, svcB   bool
		wantNoChange bool // merging leaves the receiver as it was
	}{
		// Neither measures service apart.
		{"no service", 3000, 3000, false, false, false},
		// Only the merged-in recorder has service times: the receiver's latencies seed its service.
		{"service in from", 3000, 3000, false, true, false},
		// Only the receiver has service times: from's latencies count as service.
		{"service in receiver", 3000, 3000, true, false, false},
		// An empty recorder merged in changes nothing.
		{"empty from", 3000, 0, true, false, true},
		// Merging into an empty recorder copies.
		{"empty receiver", 0, 3000, false, true, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			sa, sb := samples(rng, c.nA, c.svcA), samples(rng, c.nB, c.svcB)
			a, b, single := NewRecorder(), NewRecorder(), NewRecorder()
			for _, s := range sa {
				s.apply(a)
				s.apply(single)
			}
			for _, s := range sb {
				s.apply(b)
				s.apply(single)
			}
			before, bBefore := stateOf(a), stateOf(b)
			a.Merge(b)
			got, want := stateOf(a), stateOf(single)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("merged:\n%+v\nwant (one recorder):\n%+v", got, want)
			}
			if c.wantNoChange && !reflect.DeepEqual(got, before) {
				t.Errorf("merging an empty recorder changed the receiver")
			}
			if !reflect.DeepEqual(stateOf(b), bBefore) {
				t.Errorf("Merge modified its argument")
			}
			for o := range NumOps {
				gn, ge := a.Count(o)
				wn, we := single.Count(o)
				if gn != wn || ge != we {
					t.Errorf("Count(%v) = %d, %d; want %d, %d", o, gn, ge, wn, we)
				}
			}
		})
	}
}

func TestMergeDeduplicatesExamples(t *testing.T) {
	r := NewRecorder()
	for i := range 4 {
		w := NewRecorder()
		w.Record(OpSend, 0, 0, Errorf(Timeout, "send", 0, "no answer"))
		if i == 3 {
			w.Record(OpSend, 0, 0, Errorf(Timeout, "send", 0, "other"))
		}
		r.Merge(w)
	}
	got := r.Failures()[0].Examples
	if want := []string{"send: no answer", "send: other"}; !reflect.DeepEqual(got, want) {
		t.Errorf("examples = %q; want %q", got, want)
	}
}

func TestMergeSelfPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("r.Merge(r) did not panic")
		}
	}()
	r := NewRecorder()
	r.Merge(r)
}

// countingErr counts how often its text is built.
type countingErr struct{ calls *int }

func (e countingErr) Error() string { *e.calls++; return fmt.Sprintf("failure #%d", *e.calls) }

// sameErr always reads the same, and counts how often its text is built.
type sameErr struct{ calls *int }

func (e sameErr) Error() string { *e.calls++; return "same" }

func TestExamplesBounded(t *testing.T) {
	calls := 0
	r := NewRecorder()
	for range 10 {
		r.Record(OpJoin, 0, 0, countingErr{&calls})
	}
	if calls != maxExamples {
		t.Errorf("err.Error() called %d times; want %d (only while a slot is free)", calls, maxExamples)
	}
	same := 0
	rs := NewRecorder()
	for range 100 {
		rs.Record(OpJoin, 0, 0, sameErr{&same})
	}
	if same != maxTries {
		t.Errorf("identical errors: err.Error() called %d times; want %d (bounded tries)", same, maxTries)
	}
	if got := rs.Failures()[0].Examples; !reflect.DeepEqual(got, []string{"same"}) {
		t.Errorf("identical errors: examples = %q; want [same] (distinct only)", got)
	}
	f := r.Failures()
	if len(f) != 1 {
		t.Fatalf("Failures() = %+v; want one class", f)
	}
	if want := []string{"failure #1", "failure #2", "failure #3"}; !reflect.DeepEqual(f[0].Examples, want) {
		t.Errorf("examples = %q; want %q (first seen, in order)", f[0].Examples, want)
	}
	if f[0].Class != Other || f[0].Count != 10 || !reflect.DeepEqual(f[0].Codes, map[string]uint64{NoCode: 10}) {
		t.Errorf("failure = %+v; want other x10 under code %q", f[0], NoCode)
	}
}

func TestExampleText(t *testing.T) {
	long := strings.Repeat("a", maxExampleLen-1) + "é" + strings.Repeat("b", 100)
	cases := []struct {
		name    string
		example []string
		want    []string
	}{
		// Empty texts take no slot.
		{"empty", []string{"", "x"}, []string{"x"}},
		// Long texts are cut at a rune boundary within maxExampleLen bytes.
		{"long", []string{long}, []string{strings.Repeat("a", maxExampleLen-1)}},
		// Exactly maxExampleLen bytes are kept whole.
		{"at limit", []string{strings.Repeat("c", maxExampleLen)}, []string{strings.Repeat("c", maxExampleLen)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRecorder()
			for _, e := range c.example {
				r.Fail(Corrupted, 0, 1, e)
			}
			if got := r.Failures()[0].Examples; !reflect.DeepEqual(got, c.want) {
				t.Errorf("examples = %q; want %q", got, c.want)
			}
		})
	}
}

func TestFail(t *testing.T) {
	cases := []struct {
		name  string
		fails func(r *Recorder)
		want  []Failure
	}{
		// n > 1 adds n to the class and the code; one example.
		{"n", func(r *Recorder) { r.Fail(Lost, 0, 5, "lost seq 3") }, []Failure{
			{Class: Lost, Count: 5, Codes: map[string]uint64{NoCode: 5}, Examples: []string{"lost seq 3"}},
		}},
		// n == 0 records nothing, not even the example.
		{"zero", func(r *Recorder) { r.Fail(Lost, 0, 0, "nothing") }, []Failure{}},
		// Codes are decimal strings, code 0 is NoCode; classes come in Classes() order.
		{"codes and order", func(r *Recorder) {
			r.Fail(Dropped, 0, 2, "cap reached")
			r.Fail(Rejected, 486, 1, "busy")
			r.Fail(Rejected, 403, 3, "forbidden")
			r.Fail(Rejected, 0, 1, "")
		}, []Failure{
			{Class: Rejected, Count: 5, Codes: map[string]uint64{"486": 1, "403": 3, NoCode: 1}, Examples: []string{"busy", "forbidden"}},
			{Class: Dropped, Count: 2, Codes: map[string]uint64{NoCode: 2}, Examples: []string{"cap reached"}},
		}},
		// A class outside the enum is tallied as Other.
		{"bad class", func(r *Recorder) { r.Fail(Class(200), 7, 1, "?") }, []Failure{
			{Class: Other, Count: 1, Codes: map[string]uint64{"7": 1}, Examples: []string{"?"}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRecorder()
			c.fails(r)
			if got := r.Failures(); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Failures() = %+v; want %+v", got, c.want)
			}
		})
	}
}

func TestCodesBounded(t *testing.T) {
	r := NewRecorder()
	for code := 1; code <= 40; code++ {
		r.Record(OpSend, 0, 0, Errorf(Rejected, "send", code, "x"))
		r.Record(OpSend, 0, 0, Errorf(Rejected, "send", code, "x"))
	}
	f := r.Failures()[0]
	if got, want := len(f.Codes), maxCodes+1; got != want {
		t.Errorf("len(codes) = %d; want %d (32 codes + %q)", got, want, NoCode)
	}
	if got, want := f.Codes[NoCode], uint64(2*(40-maxCodes)); got != want {
		t.Errorf("codes[%q] = %d; want %d (the codes beyond the bound)", NoCode, got, want)
	}
	if got := f.Codes["32"]; got != 2 {
		t.Errorf("codes[32] = %d; want 2 (the 32nd code is kept)", got)
	}
	var sum uint64
	for _, n := range f.Codes {
		sum += n
	}
	if sum != f.Count {
		t.Errorf("sum of codes = %d; want count %d", sum, f.Count)
	}
}

func TestOnlyFailuresHistogram(t *testing.T) {
	r := NewRecorder()
	r.Record(OpRegister, time.Second, 0, Errorf(Auth, "register", 401, "challenged again"))
	o := r.Operations()["register"]
	if o.Count != 1 || o.Errors != 1 || o.LatencyUS != (Latency{}) {
		t.Errorf("operation = %+v; want 1 error and no latency", o)
	}
	h, err := DecodeHistogram(o.Histogram)
	if err != nil || h.TotalCount() != 0 {
		t.Errorf("DecodeHistogram = %v, %v; want an empty histogram", h, err)
	}
}

func TestReset(t *testing.T) {
	r := NewRecorder()
	r.Record(OpSend, time.Hour, time.Millisecond, nil)
	r.Record(OpSend, 0, 0, Errorf(Rejected, "send", 403, "x"))
	r.Lag(time.Millisecond)
	r.Reset()
	if got := stateOf(r); !reflect.DeepEqual(got, stateOf(NewRecorder())) {
		t.Errorf("after Reset: %+v; want an empty recorder", got)
	}
	// Service is reported apart only when measured since the Reset.
	r.Record(OpSend, time.Millisecond, 0, nil)
	if o := r.Operations()["send"]; o.ServiceUS != nil || o.Count != 1 {
		t.Errorf("after Reset and one op: %+v; want count 1 and no service_us", o)
	}
}

func TestDecodeHistogram(t *testing.T) {
	r := NewRecorder()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		r.Record(OpDelivery, time.Duration(rng.ExpFloat64()*float64(20*time.Millisecond)), 0, nil)
	}
	h, err := DecodeHistogram(r.Operations()["delivery"].Histogram)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []float64{0, 1, 50, 90, 99, 99.9, 99.99, 100} {
		if got, want := time.Duration(h.ValueAtPercentile(p)), r.ValueAtPercentile(OpDelivery, p); got != want {
			t.Errorf("decoded p%v = %v; want %v", p, got, want)
		}
	}
	if got, want := h.TotalCount(), int64(10000); got != want {
		t.Errorf("decoded TotalCount = %d; want %d", got, want)
	}
	for _, bad := range []string{"", "HISTFAAAA", "not base64!"} {
		if _, err := DecodeHistogram(bad); err == nil {
			t.Errorf("DecodeHistogram(%q): want error", bad)
		}
	}
}

// The hot path must not allocate once the histograms exist.
func TestRecordDoesNotAllocate(t *testing.T) {
	r := NewRecorder()
	errRejected := fmt.Errorf("wrapped: %w", Errorf(Rejected, "send", 403, "x"))
	warm := func() {
		r.Record(OpSend, time.Millisecond, 0, nil)
		r.Record(OpSend, time.Millisecond, 500*time.Microsecond, nil)
		r.Record(OpSend, time.Hour, 0, nil)
		r.Record(OpSend, 0, 0, errRejected)
		r.Fail(Lost, 0, 2, "lost")
		r.Lag(10 * time.Microsecond)
	}
	for range maxExamples {
		warm()
	}
	if n := testing.AllocsPerRun(100, warm); n != 0 {
		t.Errorf("allocations per Record/Fail/Lag round = %v; want 0", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	errRejected := fmt.Errorf("send to room001: %w", Errorf(Rejected, "send", 403, "403 Forbidden"))
	cases := []struct {
		name string
		do   func(r *Recorder, i int)
	}{
		{"success", func(r *Recorder, i int) { r.Record(OpSend, time.Duration(i%100000)*time.Microsecond, 0, nil) }},
		{"success+service", func(r *Recorder, i int) {
			d := time.Duration(i%100000) * time.Microsecond
			r.Record(OpSend, d, d/2, nil)
		}},
		{"error", func(r *Recorder, _ int) { r.Record(OpSend, 0, 0, errRejected) }},
		{"fail", func(r *Recorder, _ int) { r.Fail(Lost, 0, 1, "lost") }},
		{"lag", func(r *Recorder, i int) { r.Lag(time.Duration(i%1000) * time.Microsecond) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := NewRecorder()
			for i := range 10 { // allocate histograms, fill example slots
				c.do(r, i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.do(r, i)
				i++
			}
		})
	}
}
