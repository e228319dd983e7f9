package report

import (
	"math"
	"slices"
)

// The statistics of compare (docs/spec/thresholds-compare-merge.md, "Noise-aware
// compare"): a two-sided Mann-Whitney U test between two samples, and the
// Hodges-Lehmann estimate of the shift between them with its distribution-free
// confidence interval (the one the U test implies). Both are rank methods: they
// assume nothing about the shape of the distribution, which for per-interval latency
// percentiles is skewed and heavy-tailed, and one wild interval moves them by one rank,
// not by its size.

// MannWhitney is the outcome of a two-sided Mann-Whitney U test of x against y.
type MannWhitney struct {
	// U is the statistic of y: the number of pairs (x_i, y_j) with y_j > x_i, ties
	// counting one half. n1*n2 - U is x's.
	U float64
	// P is the two-sided p-value: the probability, when x and y come from one
	// distribution, of a U at least this far from n1*n2/2.
	P float64
	// Exact is true when P comes from the exact distribution of U (no ties, small
	// samples), false for the normal approximation with tie and continuity correction.
	Exact bool
}

// exactLimit bounds n1*n2 for the exact distribution: beyond it the normal
// approximation is within a fraction of a percent and the exact count costs
// O(n1*n2*min(n1,n2)).
const exactLimit = 2500

// MannWhitneyU tests whether x and y come from one distribution, two-sided, as
// scipy.stats.mannwhitneyu(y, x, alternative="two-sided") does: the exact distribution
// of U (SciPy's method="exact") when there are no ties and n1*n2 <= 2500, else the
// normal approximation with the tie correction of the variance and a continuity
// correction of 0.5 (method="asymptotic"). Empty samples give P = 1. It is safe for
// concurrent use.
func MannWhitneyU(x, y []float64) MannWhitney {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return MannWhitney{P: 1}
	}
	type obs struct {
		v   float64
		isY bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, false})
	}
	for _, v := range y {
		all = append(all, obs{v, true})
	}
	slices.SortFunc(all, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	n := float64(n1 + n2)
	var rankY, tieSum float64
	ties := false
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j, averaged
		for k := i; k < j; k++ {
			if all[k].isY {
				rankY += rank
			}
		}
		if t := float64(j - i); t > 1 {
			ties = true
			tieSum += t*t*t - t
		}
		i = j
	}
	u := rankY - float64(n2)*float64(n2+1)/2
	m := float64(n1) * float64(n2)
	uMax := max(u, m-u)
	if !ties && n1*n2 <= exactLimit {
		// P(U >= uMax) by symmetry equals P(U <= m-uMax); two-sided doubles it.
		counts := uCounts(n1, n2)
		var total, tail float64
		for k, c := range counts {
			total += c
			if float64(k) >= uMax {
				tail += c
			}
		}
		return MannWhitney{U: u, P: min(1, 2*tail/total), Exact: true}
	}
	sigma := math.Sqrt(m / 12 * ((n + 1) - tieSum/(n*(n-1))))
	if sigma == 0 { // every value equal
		return MannWhitney{U: u, P: 1}
	}
	z := (uMax - m/2 - 0.5) / sigma
	return MannWhitney{U: u, P: min(1, 2*normalSF(z))}
}

// uCounts returns, for k = 0..n1*n2, the number of arrangements of n1 x's and n2 y's
// (no ties) whose U is k: the coefficients of the Gaussian binomial coefficient
// [n1+n2 choose n2]_q, built as prod_{i=1..n2} (1 - q^(n1+i)) / (1 - q^i).
func uCounts(n1, n2 int) []float64 {
	size := n1*n2 + 1
	c := make([]float64, size)
	c[0] = 1
	for i := 1; i <= n2; i++ {
		// multiply by (1 - q^(n1+i)): descending so each term uses the old value
		for k := size - 1; k >= n1+i; k-- {
			c[k] -= c[k-n1-i]
		}
		// divide by (1 - q^i): c'[k] = c[k] + c'[k-i]
		for k := i; k < size; k++ {
			c[k] += c[k-i]
		}
	}
	return c
}

// MinP is the smallest two-sided p-value a Mann-Whitney test of samples of n1 and n2
// values can give: 2 / C(n1+n2, n1). When it is above the significance level, no
// difference can be called significant, however large. It is safe for concurrent use.
func MinP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	// log C(n1+n2, n1) via lgamma
	a, _ := math.Lgamma(float64(n1 + n2 + 1))
	b, _ := math.Lgamma(float64(n1 + 1))
	c, _ := math.Lgamma(float64(n2 + 1))
	return min(1, 2*math.Exp(-(a-b-c)))
}

// Shift is the Hodges-Lehmann estimate of how much y is above x (the median of all
// differences y_j - x_i) and its confidence interval [Lo, Hi]: the distribution-free
// interval of the Mann-Whitney test (Lehmann 1975; R's wilcox.test(conf.int=TRUE)
// with the normal approximation, without tie or continuity correction), which excludes
// 0 about when the test's p-value is below 1 - confidence. Lo and Hi are -Inf and +Inf
// when the samples are too small for that confidence.
type Shift struct {
	Estimate, Lo, Hi float64
}

// HodgesLehmann returns the shift of y over x with its confidence interval at level
// conf (0.99 for 99%). Empty samples give NaN. It is safe for concurrent use.
func HodgesLehmann(x, y []float64, conf float64) Shift {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return Shift{math.NaN(), math.NaN(), math.NaN()}
	}
	d := make([]float64, 0, n1*n2)
	for _, b := range y {
		for _, a := range x {
			d = append(d, b-a)
		}
	}
	slices.Sort(d)
	N := len(d)
	var est float64
	if N%2 == 1 {
		est = d[N/2]
	} else {
		est = (d[N/2-1] + d[N/2]) / 2
	}
	m := float64(n1) * float64(n2)
	z := normalQuantile(1 - (1-conf)/2)
	k := int(math.Floor(m/2 - z*math.Sqrt(m*float64(n1+n2+1)/12)))
	if k < 0 {
		return Shift{est, math.Inf(-1), math.Inf(1)}
	}
	return Shift{est, d[k], d[N-1-k]}
}

// normalSF is the standard normal's survival function, P(Z > z).
func normalSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// normalQuantile is the standard normal's inverse CDF.
func normalQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }
