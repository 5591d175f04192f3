package contexts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Update changes config.yaml: it takes the lock, reads the file afresh,
// calls fn on it, checks the result by the file's rules and writes it
// atomically (only if fn changed it). If the file cannot be read as
// written, fn is not called and nothing is written; nor is it if fn
// returns an error, which Update returns as it is.
func (s *Store) Update(fn func(*Config) error) error {
	return s.withLock("config.lock", func() error { return s.modify(fn) })
}

// withLock runs fn holding the exclusive lock of the lock file name in the
// Store's directory, which it creates first. The config's lock is always
// taken before the credentials' one, never after, so that changes that
// need both cannot deadlock.
func (s *Store) withLock(name string, fn func() error) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("contexts: creating %s: %w", s.dir, err)
	}
	unlock, err := lockFile(filepath.Join(s.dir, name))
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// modify is Update's read-change-write, for a caller holding the lock.
func (s *Store) modify(fn func(*Config) error) error {
	c, err := s.Load()
	if err != nil {
		return err
	}
	before := c.clone()
	if err := fn(c); err != nil {
		return err
	}
	if c.equal(before) {
		return nil
	}
	if err := c.check(); err != nil {
		return err
	}
	data, err := encodeConfig(c)
	if err != nil {
		return err
	}
	return writeFile(s.ConfigPath(), data)
}

// Put adds ctx, or replaces the context of its name; see Config.Put.
func (s *Store) Put(ctx Context) error {
	return s.Update(func(c *Config) error { return c.Put(ctx) })
}

// Login saves ctx (as Put does) and its token (as SaveToken does) under one
// lock, so that two logins at once keep both, and returns where the token
// went. If the config cannot be written, the token is saved all the same:
// logging in again replaces it.
func (s *Store) Login(ctx Context, token string) (where string, err error) {
	if msg := checkToken(token); msg != "" {
		return "", fmt.Errorf("contexts: the token for %q %s: %w", ctx.Name, msg, ErrInvalid)
	}
	err = s.Update(func(c *Config) error {
		if err := c.Put(ctx); err != nil {
			return err
		}
		where, err = s.SaveToken(ctx.Name, token)
		return err
	})
	return where, err
}

// LoginWithoutToken saves ctx, whose logins use SSH keys, and deletes any
// token saved for its name (it would be used before the keys), under the
// one lock.
func (s *Store) LoginWithoutToken(ctx Context) error {
	return s.Update(func(c *Config) error {
		if err := c.Put(ctx); err != nil {
			return err
		}
		return s.DeleteToken(ctx.Name)
	})
}

// Use makes the context called name current.
func (s *Store) Use(name string) error {
	return s.Update(func(c *Config) error { return c.Use(name) })
}

// Rename renames a context and moves its token. The token is copied to
// the new name before the config is written and removed from the old one
// after, so that at every moment the name in the file has its token.
func (s *Store) Rename(oldName, newName string) error {
	return s.withLock("config.lock", func() error {
		copied := false
		err := s.modify(func(c *Config) error {
			if err := c.Rename(oldName, newName); err != nil {
				return err
			}
			token, err := s.Token(oldName)
			if errors.Is(err, ErrNoToken) {
				// Nothing to move; but a token left under the new name
				// (by a delete whose keyring failed) must not become this
				// context's.
				return s.DeleteToken(newName)
			} else if err != nil {
				return err
			}
			copied = true
			_, err = s.SaveToken(newName, token)
			return err
		})
		if err != nil {
			if copied {
				_ = s.DeleteToken(newName) // best effort: no context has that name
			}
			return err
		}
		if copied {
			return s.DeleteToken(oldName)
		}
		return nil
	})
}

// Delete removes the context called name and its token. The token goes
// first: a context left without one shows in fwd context list and a login
// mends it, while a token left without its context would be a secret
// nobody sees.
func (s *Store) Delete(name string) error {
	return s.Update(func(c *Config) error {
		if err := c.Delete(name); err != nil {
			return err
		}
		return s.DeleteToken(name)
	})
}
