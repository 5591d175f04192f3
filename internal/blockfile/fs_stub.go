//go:build !unix && !windows

package blockfile

import (
	"io/fs"
	"os"
)

func copyOwner(*os.File, fs.FileInfo) error { return nil }
func syncDir(string)                        {}
func renameCannotWork(error) bool           { return false }
