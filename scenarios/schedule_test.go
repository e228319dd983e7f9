package scenarios

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

// openLoad returns an open-model steady config with the given load settings.
func openLoad(t *testing.T, rate Rate, ramp string, d time.Duration, iterations int64) Config {
	t.Helper()
	c, err := Default(Steady)
	if err != nil {
		t.Fatal(err)
	}
	c.Rate, c.Duration, c.Iterations = rate, d, iterations
	if ramp != "" {
		if c.Ramp, err = ParseStages(ramp); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestDue(t *testing.T) {
	const never = time.Duration(-1) // want ok == false
	type op struct {
		i    int64
		want time.Duration
	}
	cases := []struct {
		name       string
		rate       Rate
		ramp       string
		duration   time.Duration
		iterations int64
		ops        []op
	}{
		// Constant rate: op i at exactly i/r; the op at the duration is not run.
		{"10/s for 1s", 10, "", time.Second, 0, []op{
			{0, 0}, {1, 100 * time.Millisecond}, {9, 900 * time.Millisecond}, {10, never}, {-1, never},
		}},
		// A period that is not a whole number of ns is floored per op, never accumulated.
		{"3/s", 3, "", time.Minute, 0, []op{
			{1, 333333333}, {2, 666666666}, {3, time.Second}, {179, 59666666666}, {180, never},
		}},
		// Rates below 1/s: 30/m is one op every 2s, 2/h one every 30 minutes.
		{"30/m", 0.5, "", time.Minute, 0, []op{{1, 2 * time.Second}, {29, 58 * time.Second}, {30, never}}},
		{"2/h", 2.0 / 3600, "", 2 * time.Hour, 0, []op{{1, 30 * time.Minute}, {3, 90 * time.Minute}, {4, never}}},
		// Iterations caps the count; the time is open.
		{"iterations cap", 10, "", 0, 5, []op{{4, 400 * time.Millisecond}, {5, never}}},
		// Huge i without drift: op 10^9 at 10k/s is due at exactly 100000s.
		{"10^9 at 10k/s", 10000, "", 0, 2e9, []op{
			{1e9, 100000 * time.Second}, {1e9 + 1, 100000*time.Second + 100*time.Microsecond},
		}},
		// Beyond what a time.Duration holds: not due, no overflow.
		{"overflow", 0.001, "", 0, math.MaxInt64, []op{{math.MaxInt64 - 1, never}}},
		// Ramp 0->100/s over 10s: N(t) = 5t^2, N(10s) = 500. Op 0 at 0, op 125 at 5s,
		// op 499 just before 10s, op 500 not at all.
		{"ramp 0->100/s", 0, "10s:100/s", 0, 0, []op{
			{0, 0}, {1, 447213595}, {20, 2 * time.Second}, {125, 5 * time.Second},
			{499, 9989994995}, {500, never},
		}},
		// Up then down: N(10s) = 500, N(20s) = 1000; in the second stage
		// 100t - 5t^2 = i - 500.
		{"up then down", 0, "10s:100/s,10s:0/s", 0, 0, []op{
			{500, 10 * time.Second}, {750, 12928932188}, {998, 19367544468}, {1000, never},
		}},
		// A pause first: nothing for 2s, then 0->100/s over 1s (N = 50).
		{"leading pause", 0, "2s:0/s,1s:100/s", 0, 0, []op{
			{0, 2 * time.Second}, {1, 2141421356}, {49, 2989949494}, {50, never},
		}},
		// Ramp up, step down to 0, pause 5s, step up, hold 100/s for 1s: ops 0..49 in
		// the first second, op 50 when the pause ends at 6s.
		{"pause in the middle", 0, "1s:100/s,0s:0/s,5s:0/s,0s:100/s,1s:100/s", 0, 0, []op{
			{49, 989949494}, {50, 6 * time.Second}, {51, 6010 * time.Millisecond},
			{149, 6990 * time.Millisecond}, {150, never},
		}},
		// Duration cuts a ramp short: N(5s) = 125.
		{"ramp cut by duration", 0, "10s:100/s", 5 * time.Second, 0, []op{
			{124, 4979959839}, {125, never},
		}},
		// Iterations cuts a ramp short.
		{"ramp cut by iterations", 0, "10s:100/s", 0, 20, []op{{19, 1949358869}, {20, never}}},
	}
	for _, c := range cases {
		s, err := NewSchedule(openLoad(t, c.rate, c.ramp, c.duration, c.iterations))
		if err != nil {
			t.Errorf("%s: NewSchedule: %v", c.name, err)
			continue
		}
		for _, o := range c.ops {
			got, ok := s.Due(o.i)
			switch {
			case o.want == never && ok:
				t.Errorf("%s: Due(%d) = %v, true; want not due", c.name, o.i, got)
			case o.want != never && (!ok || got != o.want):
				t.Errorf("%s: Due(%d) = %v, %t; want %v, true", c.name, o.i, got, ok, o.want)
			}
		}
	}
}

func TestScheduleEndAndRateAt(t *testing.T) {
	type at struct {
		t    time.Duration
		want Rate
	}
	cases := []struct {
		name       string
		rate       Rate
		ramp       string
		duration   time.Duration
		iterations int64
		end        time.Duration
		rates      []at
	}{
		// Fixed rate: the duration ends it.
		{"fixed", 200, "", 20 * time.Second, 0, 20 * time.Second, []at{{-1, 0}, {0, 200}, {19 * time.Second, 200}, {20 * time.Second, 0}}},
		// Only iterations: no end in time.
		{"iterations only", 200, "", 0, 1000, 0, []at{{time.Hour, 200}}},
		// A ramp ends with its last stage; the rate is linear within a stage.
		{"ramp", 0, "10s:100/s,0s:50/s,10s:50/s", 0, 0, 20 * time.Second, []at{
			{0, 0}, {5 * time.Second, 50}, {9 * time.Second, 90}, {10 * time.Second, 50}, {15 * time.Second, 50}, {20 * time.Second, 0},
		}},
		// Duration shorter than the ramp ends it sooner.
		{"ramp and duration", 0, "10s:100/s", 4 * time.Second, 0, 4 * time.Second, []at{{3 * time.Second, 30}, {4 * time.Second, 0}}},
	}
	for _, c := range cases {
		s, err := NewSchedule(openLoad(t, c.rate, c.ramp, c.duration, c.iterations))
		if err != nil {
			t.Errorf("%s: NewSchedule: %v", c.name, err)
			continue
		}
		if got := s.End(); got != c.end {
			t.Errorf("%s: End() = %v; want %v", c.name, got, c.end)
		}
		for _, a := range c.rates {
			if got := s.RateAt(a.t); math.Abs(float64(got-a.want)) > 1e-9 {
				t.Errorf("%s: RateAt(%v) = %v; want %v", c.name, a.t, got, a.want)
			}
		}
	}
}

func TestNewScheduleErrors(t *testing.T) {
	closed, _ := Default(PairCycle)
	closed.Iterations = 10
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"closed model", closed, "--concurrency: the closed model has no schedule"},
		{"rate and ramp", func() Config { c := openLoad(t, 10, "10s:100/s", 0, 0); return c }(), "--rate and --ramp: give one"},
		{"no end", openLoad(t, 10, "", 0, 0), "--duration and --iterations are both 0"},
		{"negative stage", func() Config { c := openLoad(t, 0, "", 0, 0); c.Ramp = []Stage{{-time.Second, 5}}; return c }(), "stage 1: duration -1s is negative"},
		{"too low", openLoad(t, 1e-12, "", time.Second, 0), "too low to schedule"},
	}
	for _, c := range cases {
		_, err := NewSchedule(c.c)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewSchedule error = %v; want containing %q", c.name, err, c.want)
		}
	}
}

// integral returns the number of ops a ramp (or a fixed rate) calls for by t: the
// area under the rate, exact for piecewise linear rates.
func integral(rate Rate, ramp []Stage, t time.Duration) float64 {
	if len(ramp) == 0 {
		return float64(rate) * t.Seconds()
	}
	var n, prev float64
	var at time.Duration
	for _, st := range ramp {
		r := float64(st.Rate)
		if t <= at {
			break
		}
		if st.Duration > 0 {
			part := min(t-at, st.Duration)
			end := prev + (r-prev)*float64(part)/float64(st.Duration)
			n += (prev + end) / 2 * part.Seconds()
			at += st.Duration
		}
		prev = r
	}
	return n
}

// TestScheduleProperties checks, on random ramps, that Due never decreases and that
// the number of ops due in [0,T) is the integral of the rate over [0,T), within 1.
func TestScheduleProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	checked := 0
	for n := range 200 {
		c := openLoad(t, 0, "", 0, 0)
		if n%4 == 0 {
			c.Rate, c.Duration = Rate(rng.Float64()*2000+0.01), time.Duration(rng.Int64N(int64(20*time.Second)))+1
		} else {
			for range 1 + rng.IntN(5) {
				st := Stage{Duration: time.Duration(rng.Int64N(int64(10 * time.Second)))}
				switch rng.IntN(4) {
				case 0:
					st.Duration = 0 // a step
				case 1:
					st.Rate = 0 // down to 0, or a pause
				}
				if st.Rate == 0 && rng.IntN(2) == 0 {
					st.Rate = Rate(rng.Float64() * 1000)
				}
				c.Ramp = append(c.Ramp, st)
			}
			if c.Validate() != nil {
				continue // all zero, or no time
			}
		}
		checked++
		s, err := NewSchedule(c)
		if err != nil {
			t.Fatalf("case %d (%v): %v", n, c, err)
		}
		total := int(math.Ceil(integral(c.Rate, c.Ramp, s.End()))) + 2
		prev := time.Duration(-1)
		for i := range int64(total) {
			d, ok := s.Due(i)
			if !ok {
				break
			}
			if d < prev {
				t.Fatalf("case %d (%v): Due(%d) = %v < Due(%d) = %v", n, c, i, d, i-1, prev)
			}
			prev = d
		}
		for range 20 {
			end := s.End()
			tt := time.Duration(rng.Int64N(int64(end) + 1))
			count := sort.Search(total, func(i int) bool {
				d, ok := s.Due(int64(i))
				return !ok || d >= tt
			})
			if want := integral(c.Rate, c.Ramp, tt); math.Abs(float64(count)-want) > 1 {
				t.Errorf("case %d (%v): %d ops due in [0,%v); want %.3f within 1", n, c, count, tt, want)
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d of 200 random cases were valid; want most", checked)
	}
}
