package mux

import "testing"

func TestRcvBufFor(t *testing.T) {
	for _, c := range []struct {
		rtt  uint32
		want int
	}{
		{6, rcvBufFloor},          // loopback
		{500, 2 * 500 * fastLink}, // a LAN
		{50000, 0},                // 50 ms: autotuning keeps it
	} {
		if got := rcvBufFor(c.rtt); got != c.want {
			t.Errorf("rcvBufFor(%d µs) = %d, want %d", c.rtt, got, c.want)
		}
	}
}
