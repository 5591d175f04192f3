package mux

import (
	"testing"
	"time"
)

// TestSendQueueShortOnlyWhenMixed: the send queue is shortened when an
// interactive stream's small frame comes while a bulk stream is sending,
// and only then; it is restored once either kind has been quiet for
// mixedWindow.
func TestSendQueueShortOnlyWhenMixed(t *testing.T) {
	var calls []bool
	q := sendQueue{setLowat: func(short bool) { calls = append(calls, short) }}
	bulk, bulk2, ping := &Stream{}, &Stream{}, &Stream{}
	ms := func(n int) time.Duration { return time.Duration(n)*time.Millisecond + 1 }
	steps := []struct {
		st    *Stream
		n     int
		at    time.Duration
		short bool
		why   string
	}{
		{bulk, 64 << 10, ms(0), false, "bulk alone"},
		{bulk2, 64 << 10, ms(5), false, "two bulk streams"},
		{bulk, 100, ms(10), false, "a bulk stream's small frame is not interactive"},
		{bulk2, smallFrame, ms(20), false, "nor is one of exactly smallFrame"},
		{ping, 64, ms(25), false, "a stream's first frame says nothing"},
		{ping, 64, ms(30), true, "an interactive frame beside bulk ones"},
		{bulk, 64 << 10, ms(500), true, "bulk within mixedWindow of the ping"},
		{bulk2, 64, ms(600), true, "a bulk stream's small frame leaves the ping's mark"},
		{ping, 64, ms(900), true, "the ping again"},
		{bulk, 64 << 10, ms(1901), false, "the ping quiet for longer than mixedWindow"},
		{ping, 64, ms(3500), false, "bulk quiet for longer than mixedWindow"},
		{ping, 64 << 10, ms(3600), false, "the ping stream turned bulk, alone"},
		{ping, 64, ms(3700), false, "its small frames are bulk ones now"},
		{bulk, 64, ms(5000), false, "interactive again, alone"},
		{bulk2, 64, ms(7000), false, "two interactive streams"},
		{bulk2, 64 << 10, ms(7100), false, "one of them turns bulk: its own small frames are no mix"},
	}
	want, was := 0, false
	for _, s := range steps {
		q.noteDataAt(s.st, s.n, s.at)
		if q.short != s.short {
			t.Fatalf("at %v (%s): short %v, want %v", s.at, s.why, q.short, s.short)
		}
		if s.short != was {
			want, was = want+1, s.short
		}
	}
	if len(calls) != want {
		t.Fatalf("setLowat called %d times (%v), want %d: once per change", len(calls), calls, want)
	}
	// Sixty-four bulk streams sharing the window in frames of smallFrame:
	// they count as interactive, beside each other, only until each has
	// written bulkBytes.
	many := make([]*Stream, 64)
	for i := range many {
		many[i] = &Stream{}
	}
	at, calls := ms(10000), nil
	for i := range 8 * len(many) {
		at += time.Millisecond
		q.noteDataAt(many[i%len(many)], smallFrame, at)
	}
	if q.short || len(calls) > 2 {
		t.Errorf("64 bulk streams in small frames: short %v after %d changes (%v), want false after at most 2",
			q.short, len(calls), calls)
	}
	var nilQ sendQueue // a connection that is not a tunable socket
	nilQ.noteData(ping, 64)
	nilQ.noteData(bulk, 64<<10)
	if nilQ.short {
		t.Error("an untunable queue was marked short")
	}
}
