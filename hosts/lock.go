package hosts

import (
	"errors"
	"time"
)

// ErrLockBusy is returned when another process has held the hosts lock for
// longer than File.LockWait.
var ErrLockBusy = errors.New("hosts: lock busy")

// DefaultLockWait bounds the wait for another process's hosts lock. A
// holder keeps it for one read or write, milliseconds, so a longer wait
// means a stopped (Ctrl-Z) or hung holder: the user gets an error naming
// the lock file rather than a fwd that hangs at start or exit.
const DefaultLockWait = 10 * time.Second
