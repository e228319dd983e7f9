package report

import (
	"math"
	"testing"
)

// The expected values below were computed with SciPy 1.10.1 (Debian bookworm's
// python3-scipy), scipy.stats.mannwhitneyu(y, x, alternative="two-sided",
// method=...), on the samples as written here; the statistic SciPy returns is y's U.
func TestMannWhitneyUAgainstSciPy(t *testing.T) {
	lin := func(a, b float64, n int) []float64 { // np.round(np.linspace(a,b,n)**1.3, 3)
		s := make([]float64, n)
		for i := range s {
			v := a + (b-a)*float64(i)/float64(n-1)
			s[i] = math.Round(math.Pow(v, 1.3)*1000) / 1000
		}
		return s
	}
	for _, c := range []struct {
		name  string
		x, y  []float64
		u, p  float64
		exact bool
	}{
		// method="auto" (exact: no ties, a sample under 8)
		{"small", []float64{1.1, 2.3, 3.2, 4.8, 5.5}, []float64{6.1, 7.4, 8.0, 9.9, 10.2, 3.9}, 28, 0.017316017316017316, true},
		{"overlap", []float64{3.1, 4.2, 5.0, 6.3, 7.7, 8.1, 9.4}, []float64{5.5, 6.8, 7.1, 8.8, 9.9, 10.5, 11.2, 12.0}, 45, 0.054079254079254076, true},
		// method="exact"
		{"ten", []float64{0.8, 1.9, 2.4, 3.7, 4.1, 5.6, 6.2, 7.9, 8.3, 9.5}, []float64{2.0, 3.9, 4.4, 5.9, 6.5, 7.1, 8.8, 9.7, 10.4, 11.6}, 70, 0.143140141592154, true},
		{"forty", lin(1, 20, 40), lin(1.5, 22, 45), 1005, 0.3593955227006879, true},
		// method="auto" with ties: the normal approximation, tie and continuity corrected
		{"ties", []float64{1, 2, 2, 3, 3, 3, 4, 5}, []float64{3, 3, 4, 4, 5, 5, 6, 7, 7}, 61, 0.01630200829707017, false},
	} {
		got := MannWhitneyU(c.x, c.y)
		if got.U != c.u || got.Exact != c.exact || math.Abs(got.P-c.p) > 1e-9*c.p {
			t.Errorf("%s: got U=%v p=%.15g exact=%v, want U=%v p=%.15g exact=%v", c.name, got.U, got.P, got.Exact, c.u, c.p, c.exact)
		}
		// Swapping the samples mirrors U and keeps p.
		sw := MannWhitneyU(c.y, c.x)
		if sw.U != float64(len(c.x)*len(c.y))-c.u || math.Abs(sw.P-got.P) > 1e-12 {
			t.Errorf("%s swapped: U=%v p=%v", c.name, sw.U, sw.P)
		}
	}
	// Large samples without ties go to the normal approximation; SciPy's
	// method="asymptotic" on the "ten" samples gives 0.14046504815835495, and the
	// same formula is used beyond exactLimit.
	x := []float64{0.8, 1.9, 2.4, 3.7, 4.1, 5.6, 6.2, 7.9, 8.3, 9.5}
	y := []float64{2.0, 3.9, 4.4, 5.9, 6.5, 7.1, 8.8, 9.7, 10.4, 11.6}
	m := float64(len(x) * len(y))
	z := (70 - m/2 - 0.5) / math.Sqrt(m/12*float64(len(x)+len(y)+1))
	if p := 2 * normalSF(z); math.Abs(p-0.14046504815835495) > 1e-12 {
		t.Errorf("normal approximation: p=%.17g, want SciPy's 0.14046504815835495", p)
	}
}

func TestMannWhitneyUDegenerate(t *testing.T) {
	if r := MannWhitneyU(nil, []float64{1}); r.P != 1 {
		t.Errorf("empty sample: p=%v, want 1", r.P)
	}
	if r := MannWhitneyU([]float64{2, 2, 2}, []float64{2, 2}); r.P != 1 {
		t.Errorf("all equal: p=%v, want 1", r.P)
	}
}

// The exact distribution's counts are the Gaussian binomial coefficients; for
// n1=n2=2 the U values 0..4 occur 1, 1, 2, 1, 1 times (of C(4,2)=6 arrangements).
func TestUCounts(t *testing.T) {
	got := uCounts(2, 2)
	want := []float64{1, 1, 2, 1, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("uCounts(2,2) = %v, want %v", got, want)
		}
	}
	sum := 0.0
	for _, c := range uCounts(7, 9) {
		sum += c
	}
	if sum != 11440 { // C(16,7)
		t.Errorf("uCounts(7,9) sums to %v, want C(16,7) = 11440", sum)
	}
}

func TestMinP(t *testing.T) {
	for _, c := range []struct {
		n1, n2 int
		want   float64
	}{
		{1, 1, 1}, {3, 3, 0.1}, {4, 4, 2.0 / 70}, {5, 5, 2.0 / 252}, {1, 15, 0.125},
	} {
		if got := MinP(c.n1, c.n2); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("MinP(%d,%d) = %v, want %v", c.n1, c.n2, got, c.want)
		}
	}
	// The exact test reaches MinP with fully separated samples.
	if r := MannWhitneyU([]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}); math.Abs(r.P-MinP(5, 5)) > 1e-12 {
		t.Errorf("separated 5 vs 5: p=%v, want %v", r.P, MinP(5, 5))
	}
}

// Expected values: the median of all 56 differences y_j - x_i and the order
// statistics k and 55-k for k = floor(56/2 - 1.959964*sqrt(56*16/12)) = 11, computed
// with numpy (sorted differences) and scipy.stats.norm.ppf(0.975).
func TestHodgesLehmann(t *testing.T) {
	x := []float64{3.1, 4.2, 5.0, 6.3, 7.7, 8.1, 9.4}
	y := []float64{5.5, 6.8, 7.1, 8.8, 9.9, 10.5, 11.2, 12.0}
	s := HodgesLehmann(x, y, 0.95)
	if math.Abs(s.Estimate-2.6) > 1e-9 || math.Abs(s.Lo-0.5) > 1e-9 || math.Abs(s.Hi-5.7) > 1e-9 {
		t.Errorf("HodgesLehmann = %+v, want 2.6 [0.5, 5.7]", s)
	}
	// A pure shift is recovered exactly, and the interval holds it.
	base := []float64{1, 2.5, 3, 4.25, 7, 8, 9.5, 11, 12, 13.5, 15, 18}
	shifted := make([]float64, len(base))
	for i, v := range base {
		shifted[i] = v + 4
	}
	s = HodgesLehmann(base, shifted, 0.99)
	if s.Estimate != 4 || !(s.Lo < 4 && s.Hi > 4) {
		t.Errorf("shift by 4: %+v", s)
	}
	// Too small for 99%: unbounded.
	s = HodgesLehmann([]float64{1, 2}, []float64{3, 4}, 0.99)
	if !math.IsInf(s.Lo, -1) || !math.IsInf(s.Hi, 1) {
		t.Errorf("2 vs 2 at 99%%: %+v, want an unbounded interval", s)
	}
}
