package blockfile

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// ErrLockTimeout is returned by Lock when another holder kept the lock
// longer than the wait.
var ErrLockTimeout = errLockTimeout

// Lock takes the lock on the lock file path (created with perm if
// missing), exclusive for writers and shared for readers, waiting up to
// wait, and returns the function that releases it. The kernel drops it
// when its holder dies, even by SIGKILL. It is the lock File uses, for
// other files fwd edits (the client's saved gateways) to share.
func Lock(path string, exclusive bool, wait time.Duration, perm fs.FileMode) (unlock func(), err error) {
	return lockFileMode(path, exclusive, wait, perm)
}

// WriteAtomic replaces path with data, with mode perm: a temporary file in
// the same directory is written, synced and renamed over path (and the
// directory synced), so that a reader or a crash sees the old file or the
// new one, never a mix.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var osfs OSFS
	tmp, err := osfs.WriteTemp(dir, "."+base+".tmp-*", data, perm, nil)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := osfs.Rename(tmp, path); err != nil {
		osfs.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
