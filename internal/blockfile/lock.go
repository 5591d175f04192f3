//go:build unix || windows

package blockfile

import (
	"os"
	"time"
)

// lockFile takes the lock on path, exclusive for writers and shared for
// readers, waiting up to wait (then failing with errLockTimeout), and
// returns the function that releases it. The kernel drops the lock when a
// holder dies, even by SIGKILL.
func lockFile(path string, exclusive bool, wait time.Duration) (unlock func(), err error) {
	return lockFileMode(path, exclusive, wait, 0o644)
}

// lockFileMode is lockFile creating a missing lock file with perm.
func lockFileMode(path string, exclusive bool, wait time.Duration, perm os.FileMode) (unlock func(), err error) {
	flag := os.O_RDONLY
	if exclusive {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, perm)
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
			return nil, errLockTimeout
		}
		time.Sleep(delay)
	}
}
