package blockfile

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"
)

// ErrNotWritable is matched (errors.Is) by errors from Set, Remove and
// Clean when this process may not change the file or create files in its
// directory: permission denied, operation not permitted, or a read-only
// file system. When the cause is missing permission the error also matches
// fs.ErrPermission.
var ErrNotWritable = errors.New("blockfile: not writable")

// ErrLockBusy is matched by the error of a change that waited longer than
// File.LockWait for another process's lock.
var ErrLockBusy = errors.New("blockfile: lock busy")

// DefaultLockWait bounds the wait for another process's lock. A holder
// keeps it for one read or write, milliseconds, so a longer wait means a
// stopped (Ctrl-Z) or hung holder: the user gets an error naming the lock
// file rather than a fwd that hangs at start or exit.
const DefaultLockWait = 10 * time.Second

// errLockTimeout is lockFile's; File turns it into a lockBusyError, which
// knows the file's kind.
var errLockTimeout = errors.New("lock wait timed out")

// The errors below start with the File's Kind rather than "blockfile:",
// so that a caller's errors read as its own ("hosts: not writable: ...").

type notWritableError struct {
	kind string
	err  error
}

func (e *notWritableError) Error() string        { return e.kind + ": not writable: " + e.err.Error() }
func (e *notWritableError) Unwrap() error        { return e.err }
func (e *notWritableError) Is(target error) bool { return target == ErrNotWritable }

type lockBusyError struct {
	kind, path string
	wait       time.Duration
}

func (e *lockBusyError) Error() string {
	return fmt.Sprintf("%s: lock busy: another process has held %s for over %s; if it is a stopped fwd, resume or end it (fuser -v %s names it)",
		e.kind, e.path, e.wait, e.path)
}

func (e *lockBusyError) Is(target error) bool { return target == ErrLockBusy }

// writeErr wraps an error of a change: as not writable where permission or
// a read-only file system is the cause, so a caller can suggest sudo.
func (f *File) writeErr(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return &notWritableError{f.kind(), err}
	}
	if errors.Is(err, ErrLockBusy) {
		return err // already names the kind and what to do
	}
	return fmt.Errorf("%s: %w", f.kind(), err)
}
