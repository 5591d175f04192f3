//go:build unix || windows

package contexts

import (
	"fmt"
	"os"
	"time"
)

// lockWait bounds the wait for another process's lock. A holder keeps it
// for one read-modify-write, which may include a keyring call bounded by
// its own timeout, so a longer wait means a stopped (Ctrl-Z) or hung fwd:
// the user gets an error naming the lock file instead of a hang.
var lockWait = 30 * time.Second

// lockFile takes the exclusive lock on path, creating the file, and
// returns the function that releases it. The kernel drops the lock when
// its holder dies, even by SIGKILL, so a crash never leaves it taken.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("contexts: opening lock file: %w", err)
	}
	// Polling, unlike a blocking lock, can be bounded. Its short cap keeps
	// a long waiter from losing every turn to newcomers polling faster.
	deadline := time.Now().Add(lockWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 10*time.Millisecond) {
		taken, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("contexts: locking: %w", err)
		}
		if taken {
			return func() { unlockFile(f); f.Close() }, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("contexts: %w: another process has held %s for over %s: if it is a stopped fwd, resume or end it",
				ErrLockBusy, path, lockWait)
		}
		time.Sleep(delay)
	}
}
