package main

import (
	"errors"
	"fmt"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/hosts"
	"github.com/fwd-dev/fwd/internal/config"
	"github.com/fwd-dev/fwd/tunnel"
)

// Exit codes, documented in the README. Scripts rely on them: keep them.
const (
	exitOK          = 0
	exitError       = 1 // anything else: unknown service, hosts file, ...
	exitUsage       = 2 // bad flags, arguments or config file
	exitAuth        = 3 // token refused, or gateway certificate not trusted
	exitUnreachable = 4 // gateway not reachable
	exitInterrupted = 130
)

// usageError is a mistake in what the user typed.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// explain maps an error to its exit code and the one line users read, with
// what to do about it. It is the only place that decides either.
func explain(err error) (int, string) {
	var untrusted *tunnel.UntrustedError
	switch {
	case errors.As(err, &untrusted):
		return exitAuth, fmt.Sprintf("gateway certificate not trusted (%v): if you trust it, add --fingerprint %s, or pass its CA with --ca FILE",
			untrusted.Reason, untrusted.Fingerprint)
	case errors.Is(err, tunnel.ErrUnauthorized):
		return exitAuth, err.Error()
	case errors.Is(err, tunnel.ErrUnreachable):
		return exitUnreachable, err.Error() + ": check --gateway (or FWD_GATEWAY) and that the gateway runs"
	case errors.Is(err, hosts.ErrLockBusy):
		return exitError, err.Error() // names the lock file; sudo would not help
	case errors.Is(err, forward.ErrHostsFile):
		return exitError, err.Error() + ": run with sudo, or add --skipHostnames to forward without hostnames"
	case errors.As(err, new(*usageError)), errors.As(err, new(*config.Error)):
		return exitUsage, err.Error()
	}
	return exitError, err.Error()
}
