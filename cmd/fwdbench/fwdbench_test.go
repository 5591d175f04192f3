package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestForwardAddr(t *testing.T) {
	line := `[{"data":{"type":"addon","projectId":"bench","id":"target","address":"127.89.1.2","port":15201,"portName":"bench","protocol":"TCP","hostnames":[],"remotePort":15201}}]`
	got, err := forwardAddr(line)
	if err != nil || got != "127.89.1.2:15201" {
		t.Fatalf("forwardAddr = %q, %v; want 127.89.1.2:15201", got, err)
	}
	if _, err := forwardAddr(`[{"error":{"message":"bench/addon:target: cannot listen"}}]`); err == nil {
		t.Fatal("an error result was not reported")
	}
	if _, err := forwardAddr(`not json`); err == nil {
		t.Fatal("a bad line was not reported")
	}
}

func TestReadGCTrace(t *testing.T) {
	log := `{"level":"INFO","msg":"tunnel up"}
gc 1 @0.012s 2%: 0.026+0.39+0.005 ms clock, 0.10+0.20/0.36/0.50+0.021 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 2 @1.848s 3%: 1.8+44+0.004 ms clock, 3.7+12/25/40+0.008 ms cpu, 417->421->416 MB, 464 MB goal, 15 MB stacks, 0 MB globals, 2 P
`
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	gcs := readGCTrace(path)
	want := []gcStats{
		{at: 12 * time.Millisecond, live: 1, stacks: 0},
		{at: 1848 * time.Millisecond, live: 416, stacks: 15},
	}
	if len(gcs) != len(want) {
		t.Fatalf("got %d collections, want %d: %+v", len(gcs), len(want), gcs)
	}
	for i := range want {
		if gcs[i] != want[i] {
			t.Errorf("collection %d = %+v, want %+v", i, gcs[i], want[i])
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--quick", "--phases", "delay"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.rounds != 1 || !o.phases[phaseDelay] || o.phases[phaseMemory] {
		t.Errorf("options = %+v", o)
	}
	if _, err := parseFlags([]string{"--phases", "nope"}, os.Stderr); err == nil {
		t.Error("unknown phase accepted")
	}
}
