package fwdtest

import (
	"fmt"
	"net"
	"syscall"
)

// RefusingAddr returns a loopback address that refuses connections for as
// long as the returned closer is not called: a TCP socket bound to it that
// never listens. Unlike a listener opened and closed again, nothing else can
// take the port meanwhile, so a test that needs "connection refused" gets it.
func RefusingAddr() (string, func() error, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return "", nil, fmt.Errorf("fwdtest: socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return "", nil, fmt.Errorf("fwdtest: bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return "", nil, fmt.Errorf("fwdtest: getsockname: %w", err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), func() error { return syscall.Close(fd) }, nil
}
