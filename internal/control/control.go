// Package control is the small local API every running fwd client serves,
// so that another fwd process of the same user can see what it forwards
// (fwd status) and stop some or all of it (fwd stop).
//
// Each client listens on a Unix socket, fwd-PID.sock, in a directory only
// its user may enter (0700): $XDG_RUNTIME_DIR/fwd, /run/fwd for root, or a
// per-user directory under the system's temporary directory. On Linux the
// server also checks the connecting process's credentials: only the same
// user, or root, is answered. The protocol is HTTP with JSON bodies:
//
//	GET  /v1/status                        -> Status
//	POST /v1/stop   {"kind":..,"project":..,"name":..}   stop one forward
//	POST /v1/stop   {}                     stop the whole client
//
// A socket whose process is gone is removed by whoever finds it, never
// trusted.
package control

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Status is what a running client says about itself.
type Status struct {
	PID        int       `json:"pid"`
	Command    string    `json:"command"` // "fwd all --project shop", without secrets
	Context    string    `json:"context,omitempty"`
	Gateway    string    `json:"gateway"`
	State      string    `json:"state"` // connected, reconnecting, connecting, stopped
	StateSince time.Time `json:"stateSince"`
	Started    time.Time `json:"started"`
	Forwards   []Forward `json:"forwards"`
}

// Forward is one forwarded port and its traffic.
type Forward struct {
	Type          string    `json:"type"` // service or addon
	ProjectID     string    `json:"projectId"`
	ID            string    `json:"id"`
	PortName      string    `json:"portName,omitempty"`
	Protocol      string    `json:"protocol,omitempty"`
	Address       string    `json:"address"`
	Port          int       `json:"port"`
	RemotePort    int       `json:"remotePort"`
	Hostnames     []string  `json:"hostnames"`
	Connections   int64     `json:"connections"`
	BytesSent     int64     `json:"bytesSent"`
	BytesReceived int64     `json:"bytesReceived"`
	Since         time.Time `json:"since"`
}

// StopRequest names what to stop: one service or addon (Kind, Project and
// Name), every forward of a project (Project alone), or with nothing set
// the whole client.
type StopRequest struct {
	Kind    string `json:"kind,omitempty"` // "service" or "addon"
	Project string `json:"project,omitempty"`
	Name    string `json:"name,omitempty"`
}

// Whole reports whether the request stops the whole client.
func (r StopRequest) Whole() bool { return r == StopRequest{} }

// Dir is where the control sockets of uid's clients live: /run/fwd for
// root, $XDG_RUNTIME_DIR/fwd when the session has one (xdgRuntimeDir), else
// fwd-UID under tmp. The caller reads the environment and passes it in.
func Dir(uid int, xdgRuntimeDir, tmp string) string {
	switch {
	case uid == 0:
		return "/run/fwd"
	case xdgRuntimeDir != "":
		return filepath.Join(xdgRuntimeDir, "fwd")
	}
	return filepath.Join(tmp, "fwd-"+strconv.Itoa(uid))
}

// ensureDir makes dir 0700 if it is missing and refuses one that another
// user owns or that others may enter: a socket there could be anyone's.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("control: %s is not a directory", dir)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("control: %s may be entered by other users (mode %v): make it 0700 or remove it", dir, info.Mode().Perm())
	}
	return checkOwner(dir, info)
}

// socketPath is where the client with pid listens.
func socketPath(dir string, pid int) string {
	return filepath.Join(dir, "fwd-"+strconv.Itoa(pid)+".sock")
}
