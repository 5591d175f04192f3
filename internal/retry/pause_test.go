package retry

import (
	"testing"
	"time"
)

func TestPauseDoublesToCapAndResets(t *testing.T) {
	var p Pause
	if p.Succeeded() {
		t.Fatal("a success with no failure before reported a recovery")
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		got, first := p.Failed()
		if got != w*time.Millisecond || first != (i == 0) {
			t.Fatalf("failure %d: wait %v first %v, want %v first %v", i+1, got, first, w*time.Millisecond, i == 0)
		}
	}
	if !p.Succeeded() {
		t.Fatal("a success after failures did not report a recovery")
	}
	if got, first := p.Failed(); got != 5*time.Millisecond || !first {
		t.Fatalf("after a success: wait %v first %v, want 5ms and a new run", got, first)
	}
}
