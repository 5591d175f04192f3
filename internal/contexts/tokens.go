package contexts

import (
	"errors"
	"fmt"
	"maps"
)

// InKeyring is the where SaveToken and Login return for a token saved in
// the OS keyring; otherwise they return the credentials file's path.
const InKeyring = "the system keyring"

// SaveToken saves the token of the context called name and says where it
// went: InKeyring, or the path of credentials.yaml (mode 0600) when the
// keyring is not used. The keyring is not used when Options.NoKeyring is
// set, when OpenEnv found no D-Bus session on a system that needs one, or
// when it failed or timed out (see keyringClient). A token saved to the
// keyring is removed from the file, so that no stale copy shadows it.
// Keyring calls are bounded by Options.KeyringTimeout.
func (s *Store) SaveToken(name, token string) (where string, err error) {
	if msg := checkName(name); msg != "" {
		return "", fmt.Errorf("contexts: context name %q %s: %w", name, msg, ErrInvalid)
	}
	if msg := checkToken(token); msg != "" {
		return "", fmt.Errorf("contexts: the token for %q %s: %w", name, msg, ErrInvalid)
	}
	// The file is read, under its lock, before the keyring is tried: a
	// corrupt file fails the save before anything has changed.
	err = s.modifyCredentials(func(c *credentials) error {
		if s.keyring.set(name, token) == nil {
			delete(c.Tokens, name)
			where = InKeyring
			return nil
		}
		c.Tokens[name] = token
		where = s.CredentialsPath()
		return nil
	})
	if err != nil {
		return "", err
	}
	return where, nil
}

// Token returns the token of the context called name, from the
// credentials file or else the keyring; an error wrapping ErrNoToken if
// neither has one. The file comes first: it is read without a call to
// another process, and SaveToken keeps it free of tokens the keyring has.
func (s *Store) Token(name string) (string, error) {
	c, err := s.loadCredentials()
	if err != nil {
		return "", err
	}
	if token, ok := c.Tokens[name]; ok {
		return token, nil
	}
	token, err := s.keyring.get(name)
	switch {
	case err == nil:
		return token, nil
	case errors.Is(err, errNotInKeyring):
		return "", fmt.Errorf("contexts: context %q: %w", name, ErrNoToken)
	case isUnusable(err):
		return "", fmt.Errorf("contexts: context %q: %w (%v)", name, ErrNoToken, err)
	}
	return "", fmt.Errorf("contexts: reading the token of %q from the system keyring: %w", name, err)
}

// DeleteToken removes the token of the context called name from the file
// and the keyring; a token in neither is no error. A keyring treated as
// absent is not asked (see keyringClient): one that fails its first call
// cannot be cleaned, and failing would keep the user from logging out.
func (s *Store) DeleteToken(name string) error {
	err := s.modifyCredentials(func(c *credentials) error {
		delete(c.Tokens, name)
		return nil
	})
	if err != nil {
		return err
	}
	err = s.keyring.delete(name)
	if err == nil || errors.Is(err, errNotInKeyring) || isUnusable(err) {
		return nil
	}
	return fmt.Errorf("contexts: deleting the token of %q from the system keyring: %w", name, err)
}

func (s *Store) loadCredentials() (*credentials, error) {
	data, err := readFile(s.CredentialsPath())
	if err != nil {
		return nil, err
	}
	return decodeCredentials(s.CredentialsPath(), data)
}

// modifyCredentials changes credentials.yaml under its lock, on a fresh
// read, writing it only if fn changed it. A file that cannot be read as
// written fails with a *FileError and is left as it is.
func (s *Store) modifyCredentials(fn func(*credentials) error) error {
	return s.withLock("credentials.lock", func() error {
		c, err := s.loadCredentials()
		if err != nil {
			return err
		}
		before := maps.Clone(c.Tokens)
		if err := fn(c); err != nil {
			return err
		}
		if maps.Equal(before, c.Tokens) {
			return nil
		}
		data, err := encodeCredentials(c)
		if err != nil {
			return err
		}
		return writeFile(s.CredentialsPath(), data)
	})
}
