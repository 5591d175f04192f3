//go:build unix

package blockfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// copyOwner gives the new file the old file's uid and gid. Only root may
// do that, and only root needs to: anyone else can only have written to a
// file they may replace with their own.
func copyOwner(f *os.File, like fs.FileInfo) error {
	st, ok := like.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}

// syncDir makes a rename durable. Some filesystems refuse to fsync a
// directory; the rename has happened either way, so errors are dropped.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}

// renameCannotWork tells a rename that can never succeed here (the file is
// a bind mount, as /etc/hosts is in containers: EBUSY; a mount point
// between: EXDEV; or a filesystem that forbids it: EPERM) from an ordinary
// failure.
func renameCannotWork(err error) bool {
	return errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM)
}
