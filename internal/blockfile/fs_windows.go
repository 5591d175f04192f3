package blockfile

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// copyOwner is a no-op: Windows files inherit their ACL from the directory.
func copyOwner(*os.File, fs.FileInfo) error { return nil }

// syncDir is a no-op: Windows cannot open a directory to flush it.
func syncDir(string) {}

// renameCannotWork: antivirus and the DNS client may hold a file (the
// hosts file above all) open in a way that makes replacing it fail while
// writing into it works.
func renameCannotWork(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) ||
		errors.Is(err, windows.ERROR_SHARING_VIOLATION) ||
		errors.Is(err, windows.ERROR_NOT_SAME_DEVICE)
}
