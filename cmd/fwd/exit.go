package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/hosts"
	"github.com/fwd-dev/fwd/internal/contexts"
	"github.com/fwd-dev/fwd/internal/sshdial"
	"github.com/fwd-dev/fwd/internal/sshkeys"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// Exit codes, documented in the README. Scripts rely on them: keep them.
const (
	exitOK          = 0
	exitError       = 1 // anything else: unknown service, hosts file, ...
	exitUsage       = 2 // bad flags, arguments or config file
	exitAuth        = 3 // token or SSH key refused or missing, gateway certificate or SSH host key not trusted
	exitUnreachable = 4 // gateway (or --via's SSH server) not reachable
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
	code, msg := classify(err)
	return code, oneLine(msg)
}

func classify(err error) (int, string) {
	var (
		untrusted *tunnel.UntrustedError
		dialErr   *tunnel.DialError
		login     *tunnel.LoginError
		hostKey   *sshdial.HostKeyError
	)
	var child *childExit
	var refused *exposeRefused
	switch {
	case errors.As(err, &child):
		return child.code, "" // the command said what it had to
	case errors.As(err, new(*cannotRun)):
		return exitCannotRun, err.Error()
	case errors.Is(err, errInterrupted):
		return exitInterrupted, otherThan(err, errInterrupted)
	case errors.As(err, &untrusted):
		return exitAuth, fmt.Sprintf("gateway certificate not trusted (%v): if you trust it, add --fingerprint %s, or pass its CA with --ca FILE",
			untrusted.Reason, untrusted.Fingerprint)
	case errors.Is(err, tunnel.ErrThrottled) && errors.As(err, &login):
		return exitAuth, "gateway refused the login: " + login.Message + " (earlier attempts from this address used a wrong token)"
	case errors.Is(err, tunnel.ErrUnauthorized):
		return exitAuth, err.Error()
	case errors.As(err, &refused) && refused.code == "forbidden":
		return exitAuth, err.Error()
	case errors.Is(err, sshkeys.ErrNoKey):
		return exitAuth, "no token, and " + strings.TrimPrefix(err.Error(), "sshkeys: ") + ": run fwd login, set FWD_TOKEN, or pass --ssh-key FILE"
	case errors.Is(err, sshkeys.ErrEncrypted):
		return exitAuth, err.Error()
	case errors.As(err, &hostKey):
		return exitAuth, err.Error() + hostKeyHint(hostKey)
	case errors.Is(err, sshdial.ErrAuth):
		return exitAuth, err.Error() + ": add your public key to the server's ~/.ssh/authorized_keys, or pass the right key with --ssh-key FILE"
	case errors.As(err, new(*viaNoKeyError)):
		return exitAuth, err.Error()
	case errors.Is(err, sshdial.ErrUnreachable):
		return exitUnreachable, err.Error() + ": check --via (and ~/.ssh/config) and that the SSH server runs"
	case errors.As(err, new(*sshdial.ConfigError)):
		return exitUsage, err.Error()
	case errors.As(err, &dialErr):
		return exitUnreachable, err.Error() + ": " + dialHint(dialErr)
	case errors.Is(err, tunnel.ErrUnreachable):
		return exitUnreachable, err.Error() + ": check --gateway (or FWD_GATEWAY) and that the gateway runs"
	case errors.Is(err, hosts.ErrLockBusy):
		return exitError, err.Error() // names the lock file; sudo would not help
	case errors.As(err, new(*hostsFileError)) && errors.Is(err, fs.ErrPermission):
		return exitError, err.Error() + ": run with sudo to edit it"
	case errors.As(err, new(*hostsFileError)):
		return exitError, err.Error() + ": check --hosts-file"
	case errors.As(err, new(*listenError)) && errors.Is(err, fs.ErrPermission):
		return exitError, err.Error() + ": ports below 1024 need root; choose another with --listen"
	case errors.As(err, new(*listenError)):
		return exitError, err.Error() + ": free that port or choose another with --listen"
	case errors.Is(err, forward.ErrHostsFile) && errors.Is(err, fs.ErrPermission):
		return exitError, err.Error() + ": run with sudo, or add --skipHostnames to forward without hostnames"
	case errors.Is(err, forward.ErrHostsFile):
		return exitError, err.Error() + ": check --hosts-file, or add --skipHostnames to forward without hostnames"
	case errors.As(err, new(*usageError)), errors.As(err, new(*config.Error)),
		errors.As(err, new(*contexts.FileError)), errors.Is(err, contexts.ErrInvalid):
		return exitUsage, err.Error()
	case errors.Is(err, contexts.ErrNotFound):
		return exitUsage, err.Error() + ": see fwd context list"
	}
	return exitError, err.Error()
}

// dialHint says what to check for a gateway that could not be reached, by
// the phase that failed.
func dialHint(e *tunnel.DialError) string {
	switch e.Phase {
	case tunnel.PhaseTLS:
		return "is it a fwd gateway, and is --gateway right?"
	case tunnel.PhaseLogin:
		return "the gateway answered TLS but not the login: is it a fwd gateway of this version, and is it overloaded?"
	}
	return "check --gateway (or FWD_GATEWAY) and that the gateway runs"
}

// otherThan is the text of the errors joined with sentinel, without it.
func otherThan(err, sentinel error) string {
	var parts []string
	for _, e := range unjoin(err) {
		if e != sentinel {
			parts = append(parts, e.Error())
		}
	}
	return strings.Join(parts, "; ")
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// oneLine puts a message that joined errors spread over lines on one line,
// without saying the same thing twice (a failed write and the failed
// cleanup after it often have the same cause).
func oneLine(msg string) string {
	var parts []string
	seen := map[string]bool{}
	for _, p := range strings.Split(msg, "\n") {
		if p = strings.TrimSpace(p); p != "" && !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}
