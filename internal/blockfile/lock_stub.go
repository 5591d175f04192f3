//go:build !unix && !windows

package blockfile

import (
	"errors"
	"time"
)

func lockFile(string, bool, time.Duration) (func(), error) {
	return nil, errors.New("blockfile: file locking not supported on this OS")
}
