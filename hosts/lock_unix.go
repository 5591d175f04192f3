//go:build unix

package hosts

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an flock on path, exclusive for writers and shared for
// readers, and returns the function that releases it. flock belongs to the
// open file, so it also excludes other File values in this process, and
// the kernel drops it when a holder dies, even by SIGKILL.
func lockFile(path string, exclusive bool) (unlock func(), err error) {
	flag, how := os.O_RDONLY, unix.LOCK_SH
	if exclusive {
		flag, how = os.O_RDWR|os.O_CREATE, unix.LOCK_EX
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() { f.Close() }, nil
}
