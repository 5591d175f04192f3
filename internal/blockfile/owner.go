package blockfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
)

// Owner identifies the process that wrote a block. PID alone is not enough
// because PIDs are reused after a crash: Start, the process start time in
// the OS's own unit (Linux: clock ticks since boot, field 22 of
// /proc/PID/stat; macOS: microseconds since 1970; Windows: FILETIME; 0 if
// unknown), tells a reused PID apart. Session (1 to 64 ASCII letters and
// digits) tells apart several owners inside one process.
type Owner struct {
	PID     int
	Start   uint64
	Session string
}

var currentOwner = sync.OnceValue(func() Owner {
	pid := os.Getpid()
	start, _ := processStart(pid) // 0 means unknown; Alive then trusts the PID alone
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return Owner{PID: pid, Start: start, Session: hex.EncodeToString(b[:])}
})

// CurrentOwner returns this process as an Owner. Its Session is random hex
// chosen once per process, so every call returns the same Owner, whichever
// kind of file it writes.
func CurrentOwner() Owner {
	return currentOwner()
}

// ProcessStart returns the start time of process pid in Owner.Start's
// unit, for an Owner that names another process.
func ProcessStart(pid int) (uint64, error) {
	return processStart(pid)
}

// Alive reports whether the process that o names is still running: its PID
// exists and, where both are known, its start time is o.Start. When it
// cannot tell (say, the process belongs to another user) it says alive,
// because wrongly removing a live block is worse than keeping a dead one.
func (o Owner) Alive() bool {
	if o.PID <= 0 {
		return false
	}
	return processAlive(o.PID, o.Start)
}

// check reports why o cannot own a block; kind starts the message.
func (o Owner) check(kind string) error {
	if o.PID <= 0 {
		return fmt.Errorf("%s: invalid owner: pid %d", kind, o.PID)
	}
	if !validSession(o.Session) {
		return fmt.Errorf("%s: invalid owner: session %q is not 1 to 64 letters and digits", kind, o.Session)
	}
	return nil
}

func validSession(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
