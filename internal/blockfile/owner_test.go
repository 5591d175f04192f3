package blockfile

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestCurrentOwner(t *testing.T) {
	me := CurrentOwner()
	if me != CurrentOwner() {
		t.Fatal("CurrentOwner changed")
	}
	if me.PID != os.Getpid() || len(me.Session) != 16 || strings.Trim(me.Session, "0123456789abcdef") != "" {
		t.Fatalf("CurrentOwner = %+v", me)
	}
	if !me.Alive() {
		t.Fatal("this process is not alive")
	}
}

// TestOwnerOfAnotherProcess: ProcessStart gives what tells a running
// process from an exited one and from a PID reused since.
func TestOwnerOfAnotherProcess(t *testing.T) {
	pid, stop := startWaiter(t)
	start, err := ProcessStart(pid)
	knowsStart := runtime.GOOS == "linux" || runtime.GOOS == "darwin" || runtime.GOOS == "windows"
	if knowsStart && (err != nil || start == 0) {
		t.Fatalf("start time of %d: %d, %v", pid, start, err)
	}
	o := Owner{PID: pid, Start: start}
	if !o.Alive() || !(Owner{PID: pid}).Alive() {
		t.Fatalf("running child %+v not alive", o)
	}
	if knowsStart && (Owner{PID: pid, Start: start + 1}).Alive() {
		t.Fatal("a start time not its own is alive: a reused PID would keep a dead block")
	}
	stop()
	if o.Alive() || (Owner{PID: pid}).Alive() {
		t.Fatalf("exited child %+v alive", o)
	}
	for _, dead := range []Owner{{PID: 0}, {PID: -1}} {
		if dead.Alive() {
			t.Errorf("%+v alive", dead)
		}
	}
}
