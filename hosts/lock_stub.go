//go:build !unix && !windows

package hosts

import (
	"errors"
	"time"
)

func lockFile(string, bool, time.Duration) (func(), error) {
	return nil, errors.New("hosts: file locking not supported on this OS")
}
