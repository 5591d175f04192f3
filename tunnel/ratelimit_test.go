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

func TestLoginAttemptChargedBeforeCheck(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &loginLimiter{now: func() time.Time { return now }}
	for i := range freeBudget {
		if d := l.attempt("a"); d != 0 {
			t.Fatalf("attempt %d within the budget must wait %v", i+1, d)
		}
	}
	// No failure was reported, yet the attempts in flight count.
	if d := l.attempt("a"); d != basePenalty {
		t.Fatalf("attempt past the budget: wait %v, want %v", d, basePenalty)
	}
	// Waiting does not lengthen the wait.
	if d := l.attempt("a"); d != basePenalty {
		t.Fatalf("attempt while waiting: wait %v, want still %v", d, basePenalty)
	}
	l.succeeded("a")
	if d := l.attempt("a"); d != 0 {
		t.Fatalf("after a success: wait %v", d)
	}
}

func TestHandshakeGateCaps(t *testing.T) {
	var h handshakeGate
	for i := range 3 {
		if !h.enter("a", 4, 3) {
			t.Fatalf("entry %d from a refused under the per-source cap", i+1)
		}
	}
	if h.enter("a", 4, 3) {
		t.Fatal("fourth entry from a admitted past its per-source cap of 3")
	}
	if !h.enter("b", 4, 3) {
		t.Fatal("b refused below the total cap")
	}
	if h.enter("c", 4, 3) {
		t.Fatal("c admitted past the total cap of 4")
	}
	h.leave("a")
	if !h.enter("c", 4, 3) {
		t.Fatal("c refused after a slot was left")
	}
	for _, s := range []string{"a", "a", "b", "c"} {
		h.leave(s)
	}
	if h.total != 0 || len(h.bySource) != 0 {
		t.Fatalf("after every leave: total %d, sources %v", h.total, h.bySource)
	}
}
