//go:build !unix && !windows

package blockfile

import "errors"

func processStart(int) (uint64, error) {
	return 0, errors.New("blockfile: process start time not supported on this OS")
}

// processAlive cannot tell here, so it never lets Clean remove a block.
func processAlive(int, uint64) bool {
	return true
}
