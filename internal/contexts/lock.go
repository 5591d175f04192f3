package contexts

import (
	"errors"
	"fmt"
	"time"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// lockWait bounds the wait for another process's lock. A holder keeps it
// for one read-modify-write, which may include a keyring call bounded by
// its own timeout, so a longer wait means a stopped (Ctrl-Z) or hung fwd:
// the user gets an error naming the lock file instead of a hang.
var lockWait = 30 * time.Second

// lockFile takes the exclusive lock on path (blockfile's, which the hosts
// file uses too), creating the file.
func lockFile(path string) (unlock func(), err error) {
	unlock, err = blockfile.Lock(path, true, lockWait, 0o600)
	switch {
	case errors.Is(err, blockfile.ErrLockTimeout):
		return nil, fmt.Errorf("contexts: %w: another process has held %s for over %s: if it is a stopped fwd, resume or end it",
			ErrLockBusy, path, lockWait)
	case err != nil:
		return nil, fmt.Errorf("contexts: locking: %w", err)
	}
	return unlock, nil
}
