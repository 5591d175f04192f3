//go:build unix

package hosts

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockFile takes the hosts lock as every fwd version does, an flock on the
// lock file, so that a test holding it shows the current code respects a
// lock an older fwd holds. Nothing else holds it in the tests, so this
// does not wait.
func lockFile(path string, exclusive bool, _ time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, errors.Join(errors.New("test lock taken already"), err)
	}
	return func() { f.Close() }, nil
}
