//go:build !unix && !windows

package contexts

import "errors"

// lockFile fails where there is no file lock: changing the files unlocked
// could lose a concurrent change.
func lockFile(string) (func(), error) {
	return nil, errors.New("contexts: file locking is not supported on this OS")
}
