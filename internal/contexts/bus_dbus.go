//go:build linux || freebsd || openbsd || netbsd || dragonfly

package contexts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// noSessionBus says why go-keyring could reach a keyring only by starting
// a D-Bus session, or returns nil if there is one to reach. It mirrors
// godbus's search for the session bus without its last resort, running
// dbus-launch: that starts a bus daemon which outlives fwd (one per
// command), blocks where it cannot start, and offers no keyring anyway
// where nothing else runs on that bus.
func noSessionBus(getenv func(string) string) error {
	if getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	// systemd's per-user bus, which godbus finds without the variable
	// (over ssh, for one).
	dir := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	return errors.New("there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set)")
}
