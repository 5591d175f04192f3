//go:build !darwin

package doctor

import "net/netip"

// Lo0Aliases has nothing to check: Linux and Windows route all of
// 127.0.0.0/8 to the loopback interface without aliases.
func Lo0Aliases([]netip.Addr) []Finding { return nil }
