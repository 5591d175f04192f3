package contexts

import (
	"errors"
	"fmt"
	"slices"
)

// Context is one saved gateway. Its token is kept apart (Store.Token), so
// that a Context can be printed, logged and written to config.yaml.
type Context struct {
	// Name is what --context and FWD_CONTEXT give: 1-63 letters, digits,
	// '-', '_' or '.', not starting with '-'.
	Name string
	// Gateway is the gateway's host:port.
	Gateway string
	// Fingerprint pins the gateway's certificate, "sha256:HEX"; "" if CA
	// (or the system's roots) is trusted instead.
	Fingerprint string
	// CA is the absolute path of a PEM file of CAs to trust; "" if none.
	// At most one of Fingerprint and CA is set.
	CA string
	// Project is the project commands use when given none; may be "".
	Project string
	// SSHKey is the absolute path of the SSH key file a context without a
	// token logs in with, after ssh-agent's keys; "" means ~/.ssh's usual
	// ones.
	SSHKey string
}

// Config is the contents of config.yaml.
type Config struct {
	// CurrentName names the context commands use when given none; "" if
	// none is chosen. It always names one of Contexts.
	CurrentName string
	// Contexts are in the order they were added.
	Contexts []Context
}

var (
	// ErrNotFound is wrapped by errors about a context that does not exist.
	ErrNotFound = errors.New("no such context")
	// ErrExists is wrapped by errors about a new name already taken.
	ErrExists = errors.New("a context of that name exists")
	// ErrNoCurrent is returned by Resolve when no context is chosen.
	ErrNoCurrent = errors.New("no context chosen")
	// ErrInvalid is wrapped by errors about a value (a name, a gateway, a
	// token...) given in code that the rules refuse: for the CLI, a usage
	// error.
	ErrInvalid = errors.New("invalid")
	// ErrNoToken is wrapped by Token's error when no token is saved for
	// the context.
	ErrNoToken = errors.New("no token saved")
	// ErrLockBusy is wrapped by the error of a change that waited in vain
	// for another fwd to release a lock.
	ErrLockBusy = errors.New("lock busy")
)

// Get returns the context called name. The pointer is into c: changes
// through it, made inside Store.Update, are saved.
func (c *Config) Get(name string) (*Context, bool) {
	i := c.index(name)
	if i < 0 {
		return nil, false
	}
	return &c.Contexts[i], true
}

// Current returns the current context, false if none is chosen.
func (c *Config) Current() (*Context, bool) {
	if c.CurrentName == "" {
		return nil, false
	}
	return c.Get(c.CurrentName)
}

// Resolve returns the context a command is to use: the one called name
// (from --context or FWD_CONTEXT), or the current one if name is "".
func (c *Config) Resolve(name string) (*Context, error) {
	if name == "" {
		if ctx, ok := c.Current(); ok {
			return ctx, nil
		}
		return nil, fmt.Errorf("contexts: %w", ErrNoCurrent)
	}
	if ctx, ok := c.Get(name); ok {
		return ctx, nil
	}
	return nil, notFound(name)
}

// Put adds ctx, or replaces the context of its name in place. If no
// context is current, ctx becomes current, so that after the first fwd
// login commands need no --context.
func (c *Config) Put(ctx Context) error {
	if err := checkContext(ctx); err != nil {
		return err
	}
	if i := c.index(ctx.Name); i >= 0 {
		c.Contexts[i] = ctx
	} else {
		c.Contexts = append(c.Contexts, ctx)
	}
	if c.CurrentName == "" {
		c.CurrentName = ctx.Name
	}
	return nil
}

// Use makes the context called name current.
func (c *Config) Use(name string) error {
	if c.index(name) < 0 {
		return notFound(name)
	}
	c.CurrentName = name
	return nil
}

// Rename renames a context; if it was current, it stays current.
func (c *Config) Rename(oldName, newName string) error {
	i := c.index(oldName)
	if i < 0 {
		return notFound(oldName)
	}
	if msg := checkName(newName); msg != "" {
		return fmt.Errorf("contexts: new name %q %s: %w", newName, msg, ErrInvalid)
	}
	if c.index(newName) >= 0 {
		return fmt.Errorf("contexts: context %q: %w", newName, ErrExists)
	}
	c.Contexts[i].Name = newName
	if c.CurrentName == oldName {
		c.CurrentName = newName
	}
	return nil
}

// Delete removes the context called name. If it was current, none is.
func (c *Config) Delete(name string) error {
	i := c.index(name)
	if i < 0 {
		return notFound(name)
	}
	c.Contexts = slices.Delete(c.Contexts, i, i+1)
	if c.CurrentName == name {
		c.CurrentName = ""
	}
	return nil
}

func (c *Config) index(name string) int {
	return slices.IndexFunc(c.Contexts, func(x Context) bool { return x.Name == name })
}

func (c *Config) clone() *Config {
	return &Config{CurrentName: c.CurrentName, Contexts: slices.Clone(c.Contexts)}
}

func (c *Config) equal(d *Config) bool {
	return c.CurrentName == d.CurrentName && slices.Equal(c.Contexts, d.Contexts)
}

// check applies the file's rules to a Config changed in code, so that
// Update never writes a file Load would refuse.
func (c *Config) check() error {
	seen := map[string]bool{}
	for _, ctx := range c.Contexts {
		if err := checkContext(ctx); err != nil {
			return err
		}
		if seen[ctx.Name] {
			return fmt.Errorf("contexts: two contexts are called %q: %w", ctx.Name, ErrInvalid)
		}
		seen[ctx.Name] = true
	}
	if c.CurrentName != "" && !seen[c.CurrentName] {
		return fmt.Errorf("contexts: current context %q: %w", c.CurrentName, ErrNotFound)
	}
	return nil
}

func notFound(name string) error {
	return fmt.Errorf("contexts: context %q: %w", name, ErrNotFound)
}
