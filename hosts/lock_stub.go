//go:build !unix && !windows

package hosts

import "errors"

func lockFile(string, bool) (func(), error) {
	return nil, errors.New("hosts: file locking not supported on this OS")
}
