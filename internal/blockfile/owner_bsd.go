//go:build unix && !linux && !darwin

package blockfile

import "errors"

// processStart is unknown here; owners then match by PID alone.
func processStart(int) (uint64, error) {
	return 0, errors.New("blockfile: process start time not supported on this OS")
}

func processAlive(pid int, _ uint64) bool {
	return signalZeroAlive(pid)
}
