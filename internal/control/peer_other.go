//go:build !linux

package control

import (
	"io/fs"
	"net"
)

// allowedPeer trusts the directory's 0700 mode where the peer's
// credentials cannot be read.
func allowedPeer(net.Conn) bool { return true }

func checkOwner(string, fs.FileInfo) error { return nil }
