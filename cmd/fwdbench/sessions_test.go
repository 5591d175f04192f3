package main

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis: fields count from the
	// last ")". utime 250 and stime 50 ticks are 3 s.
	stat := "4242 (fwd (gw) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 12 0 100 1000000 3000 18446744073709551615"
	got, err := parseProcStatCPU(stat)
	if err != nil || got != 3 {
		t.Fatalf("parseProcStatCPU = %v, %v; want 3", got, err)
	}
	for _, bad := range []string{"", "4242 fwd S 1", "4242 (fwd) S 1 2 3", "4242 (fwd) S 1 2 3 4 5 6 7 8 9 10 x 0"} {
		if _, err := parseProcStatCPU(bad); err == nil {
			t.Errorf("parseProcStatCPU(%q) accepted", bad)
		}
	}
}

func TestProcCPUSecondsOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := procCPUSeconds(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if n, err := countFDs(os.Getpid()); err != nil || n < 3 {
		t.Fatalf("countFDs = %d, %v", n, err)
	}
}

func TestSessionsPhaseOnlyWhenNamed(t *testing.T) {
	o, err := parseFlags(nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.phases[phaseSessions] {
		t.Error("sessions phase runs by default")
	}
	if o, err = parseFlags([]string{"--phases", "sessions"}, os.Stderr); err != nil || !o.phases[phaseSessions] || o.phases[phaseLoopback] {
		t.Errorf("--phases sessions: %+v, %v", o.phases, err)
	}
}

func TestSessionsPlanRate(t *testing.T) {
	p := planSessions(false)
	if got := p.every(); got != 2*time.Second {
		t.Errorf("each of %d streams pings every %s, want 2s for %d round trips/s", p.Sessions*p.Streams, got, p.RoundTrips)
	}
	if p.Dialers >= 32 {
		t.Errorf("%d dialers at once: not under the default max_handshakes_per_source of 32", p.Dialers)
	}
}
