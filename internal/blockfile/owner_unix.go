//go:build unix

package blockfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// signalZeroAlive asks the kernel whether pid exists without touching it.
// EPERM means it exists but belongs to someone else.
func signalZeroAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || !errors.Is(err, unix.ESRCH)
}
