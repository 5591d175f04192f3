package tunnel

import (
	"testing"
	"time"
)

func TestLoginLimiterBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &loginLimiter{now: func() time.Time { return now }}
	for range freeBudget {
		if d := l.delay("a"); d != 0 {
			t.Fatalf("within the free budget: delay %v", d)
		}
		l.failed("a")
	}
	if d := l.delay("a"); d != basePenalty {
		t.Fatalf("after %d failures: delay %v, want %v", freeBudget, d, basePenalty)
	}
	if d := l.delay("b"); d != 0 {
		t.Fatalf("another source is delayed %v", d)
	}
	for range 20 {
		l.failed("a")
	}
	if d := l.delay("a"); d != maxPenalty {
		t.Fatalf("after many failures: delay %v, want the cap %v", d, maxPenalty)
	}
	now = now.Add(maxPenalty)
	if d := l.delay("a"); d != 0 {
		t.Fatalf("after waiting out the penalty: delay %v", d)
	}
	l.succeeded("a")
	if _, ok := l.sources["a"]; ok {
		t.Fatal("success did not clear the record")
	}
}

func TestLoginLimiterStaysBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &loginLimiter{now: func() time.Time { return now }}
	for i := range maxSources + 500 {
		l.failed(time.Duration(i).String())
	}
	if len(l.sources) > maxSources {
		t.Fatalf("%d sources tracked, bound is %d", len(l.sources), maxSources)
	}
}
