package hosts

import "github.com/fwd-dev/fwd/internal/blockfile"

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

// CurrentOwner returns this process as an Owner. Its Session is random hex
// chosen once per process, so every call returns the same Owner.
func CurrentOwner() Owner {
	// The fields are blockfile.Owner's, so the two convert into each other.
	return Owner(blockfile.CurrentOwner())
}

// Alive reports whether the process that o names is still running: its PID
// exists and, where both are known, its start time is o.Start. When it
// cannot tell (say, the process belongs to another user) it says alive,
// because wrongly removing a live block is worse than keeping a dead one.
func (o Owner) Alive() bool {
	return blockfile.Owner(o).Alive()
}
