//go:build !unix && !windows

package blockfile

import (
	"errors"
	"os"
	"time"
)

func lockFile(string, bool, time.Duration) (func(), error) {
	return nil, errors.New("blockfile: file locking not supported on this OS")
}

func lockFileMode(string, bool, time.Duration, os.FileMode) (func(), error) {
	return nil, errors.New("blockfile: file locking not supported on this OS")
}
