//go:build unix || windows

package hosts

import (
	"errors"
	"fmt"
	"os"
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

// lockFile takes the lock on path, exclusive for writers and shared for
// readers, waiting up to wait, and returns the function that releases it.
// The kernel drops the lock when a holder dies, even by SIGKILL.
func lockFile(path string, exclusive bool, wait time.Duration) (unlock func(), err error) {
	flag := os.O_RDONLY
	if exclusive {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	// Polling, unlike a blocking flock, can be bounded. Its short cap keeps
	// a long waiter from losing every turn to newcomers polling faster.
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay = min(2*delay, 10*time.Millisecond) {
		taken, err := tryLock(f, exclusive)
		if err != nil {
			f.Close()
			return nil, err
		}
		if taken {
			return func() { unlockFile(f); f.Close() }, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w: another process has held %s for over %s; if it is a stopped fwd, resume or end it (fuser -v %s names it)",
				ErrLockBusy, path, wait, path)
		}
		time.Sleep(delay)
	}
}
