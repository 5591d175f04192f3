package contexts

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zalando/go-keyring"
)

// keyringService is the service every token is saved under; the user is
// the context's name.
const keyringService = "fwd"

// DefaultKeyringTimeout bounds each keyring call. A working keyring answers
// in milliseconds; the bound is for one that never does (a Secret Service
// waiting on an unlock prompt nobody can see), and leaves time for a user
// answering a prompt they can.
const DefaultKeyringTimeout = 10 * time.Second

// secrets is what the package needs of a keyring: go-keyring's functions,
// or a test's stand-in.
type secrets interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// osKeyring is the OS keyring through go-keyring (or its mock, after
// keyring.MockInit).
type osKeyring struct{}

func (osKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (osKeyring) Set(service, user, secret string) error   { return keyring.Set(service, user, secret) }
func (osKeyring) Delete(service, user string) error        { return keyring.Delete(service, user) }

// errNotInKeyring is what keyringClient returns for a secret the keyring
// does not have: an answer, not a failure.
var errNotInKeyring = keyring.ErrNotFound

// keyringClient bounds the calls to a keyring and decides whether it is
// used. The first call in a Store is the test: if it fails (other than
// "not found") or times out, the keyring is treated as absent for the
// Store's life, so that a machine without a working keyring (a D-Bus
// session without a Secret Service, a locked keyring no prompt can open)
// behaves as one without a keyring, and costs at most one failed call per
// command.
type keyringClient struct {
	backend secrets
	timeout time.Duration

	mu       sync.Mutex
	answered bool  // a call has succeeded: later failures are real errors
	unusable error // why the keyring is not used; nil while it is
}

// unusableError is returned by calls to a keyring treated as absent.
type unusableError struct{ why error }

func (e *unusableError) Error() string { return "the system keyring is not usable: " + e.why.Error() }
func (e *unusableError) Unwrap() error { return e.why }

func isUnusable(err error) bool {
	var u *unusableError
	return errors.As(err, &u)
}

// call runs op within the timeout. It returns nil, errNotInKeyring, an
// *unusableError, or (once the keyring has answered before) its failure.
func (k *keyringClient) call(op func() error) error {
	k.mu.Lock()
	why := k.unusable
	k.mu.Unlock()
	if why != nil {
		return &unusableError{why}
	}
	err := k.bounded(op)
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case err == nil || errors.Is(err, errNotInKeyring):
		k.answered = true
		return err
	case k.answered:
		return err
	case k.unusable == nil:
		k.unusable = err
	}
	return &unusableError{k.unusable}
}

// bounded runs op, giving up after the timeout. A call that does not
// return is left running: go-keyring's calls cannot be cancelled, and one
// that finishes late only repeats what the caller did with the file.
func (k *keyringClient) bounded(op func() error) error {
	done := make(chan error, 1)
	go func() { done <- op() }()
	t := time.NewTimer(k.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("it did not answer within %s", k.timeout)
	}
}

func (k *keyringClient) get(name string) (string, error) {
	// got is read only after the call has returned, never while a call
	// that timed out may still write it.
	var got string
	err := k.call(func() error {
		var err error
		got, err = k.backend.Get(keyringService, name)
		return err
	})
	if err != nil {
		return "", err
	}
	return got, nil
}

func (k *keyringClient) set(name, token string) error {
	return k.call(func() error { return k.backend.Set(keyringService, name, token) })
}

func (k *keyringClient) delete(name string) error {
	return k.call(func() error { return k.backend.Delete(keyringService, name) })
}

// problem returns why the keyring is not used, nil if it is (or is yet to
// be tried).
func (k *keyringClient) problem() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.unusable == nil {
		return nil
	}
	return &unusableError{k.unusable}
}
