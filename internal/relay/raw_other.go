//go:build !unix

package relay

import (
	"errors"
	"syscall"
)

// rawConn is nil where sockets are not read through raw file descriptors
// (Windows): the relay then reads with a buffer held per connection.
func rawConn(any) syscall.RawConn { return nil }

var errNoRaw = errors.New("relay: raw socket access unsupported here")

func sysRead(uintptr, []byte) (int, error)  { return 0, errNoRaw }
func sysWrite(uintptr, []byte) (int, error) { return 0, errNoRaw }
func wouldBlock(error) bool                 { return false }
