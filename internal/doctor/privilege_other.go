//go:build !linux

package doctor

import "os"

// MayBindLowPorts reports whether this process runs as root, which is
// what binding a port below 1024 takes here.
func MayBindLowPorts() bool { return os.Geteuid() == 0 }

// UnprivilegedPortStart is 1024: systems other than Linux have no knob for it
// that fwd reads.
func UnprivilegedPortStart() uint16 { return 1024 }
