// Package bench holds the parts of fwdbench that do not depend on any one
// forwarder: a target server, the load generators that measure throughput,
// latency and connection rate through whatever sits in front of it, a relay
// that adds link delay, and the statistics that summarise the results.
package bench

import (
	"cmp"
	"math"
	"slices"
)

// Percentile returns the p-th percentile (0 to 100) of sorted, which must be
// in ascending order, by the nearest-rank method: the smallest value that at
// least p percent of the values are less than or equal to. Nearest rank
// returns a value that was really observed, which is what a latency report
// should show. It returns the zero value for an empty slice.
func Percentile[T cmp.Ordered](sorted []T, p float64) T {
	var zero T
	n := len(sorted)
	if n == 0 {
		return zero
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Summary is the spread of one figure over several rounds.
type Summary struct {
	N        int
	Median   float64
	Min, Max float64
}

// Summarize returns the median, minimum and maximum of values. The median
// of an even count is the mean of the two middle values.
func Summarize(values []float64) Summary {
	if len(values) == 0 {
		return Summary{}
	}
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{N: n, Median: med, Min: s[0], Max: s[n-1]}
}
