package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1 // 1..100
	}
	tests := []struct {
		name   string
		sorted []int
		p      float64
		want   int
	}{
		{"empty", nil, 50, 0},
		{"one value", []int{7}, 99, 7},
		{"p0 is the minimum", []int{1, 2, 3}, 0, 1},
		{"p100 is the maximum", []int{1, 2, 3}, 100, 3},
		{"median of odd count", []int{1, 2, 3, 4, 5}, 50, 3},
		{"median of even count is the lower middle", []int{1, 2, 3, 4}, 50, 2},
		{"p50 of 1..100", hundred, 50, 50},
		{"p99 of 1..100", hundred, 99, 99},
		{"p99.9 of 1..100 rounds up", hundred, 99.9, 100},
		{"p1 of 1..100", hundred, 1, 1},
		{"p25 of 4 values", []int{10, 20, 30, 40}, 25, 10},
		{"p26 of 4 values", []int{10, 20, 30, 40}, 26, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileDurations(t *testing.T) {
	d := []time.Duration{time.Microsecond, 2 * time.Microsecond, time.Millisecond}
	if got := Percentile(d, 99); got != time.Millisecond {
		t.Errorf("p99 = %v, want 1ms", got)
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{3, 1, 2}, Summary{N: 3, Median: 2, Min: 1, Max: 3}},
		{[]float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
	}
	for _, tt := range tests {
		if got := Summarize(tt.in); got != tt.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
