package hosts

import (
	"math"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes a LockFileEx lock on path, exclusive for writers and
// shared for readers, and returns the function that releases it. Windows
// drops the lock when the holder's handle closes, also when it dies.
func lockFile(path string, exclusive bool) (unlock func(), err error) {
	flag, how := os.O_RDONLY, uint32(0)
	if exclusive {
		flag, how = os.O_RDWR|os.O_CREATE, windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	h := windows.Handle(f.Fd())
	ol := new(windows.Overlapped)
	if err := windows.LockFileEx(h, how, 0, math.MaxUint32, math.MaxUint32, ol); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "LockFileEx", Path: path, Err: err}
	}
	return func() {
		_ = windows.UnlockFileEx(h, 0, math.MaxUint32, math.MaxUint32, ol)
		f.Close()
	}, nil
}
