//go:build unix

package relay

import "syscall"

// rawConn returns c's raw socket, for waiting on readability without a
// buffer and for writes that must not block, or nil if c is no socket.
func rawConn(c any) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

func sysRead(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

func sysWrite(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// wouldBlock reports whether err means "nothing to read (or no room to
// write) right now" on a non-blocking socket.
func wouldBlock(err error) bool { return err == syscall.EAGAIN }
