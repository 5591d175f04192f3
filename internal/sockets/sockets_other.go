//go:build !linux

package sockets

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
)

// List reports errors.ErrUnsupported: only Linux exposes sockets and their
// owners as files, and fwd does not shell out to lsof or netstat.
func List() ([]Listener, error) {
	return nil, fmt.Errorf("sockets: listing sockets on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Holder reports errors.ErrUnsupported, as List does.
func Holder(network string, ap netip.AddrPort) (l Listener, ok bool, err error) {
	return Listener{}, false, fmt.Errorf("sockets: finding the holder of %v on %s: %w", ap, runtime.GOOS, errors.ErrUnsupported)
}
