package contexts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Options change how a Store keeps tokens.
type Options struct {
	// NoKeyring keeps every token in credentials.yaml, never in the OS
	// keyring. The CLI sets it from FWD_NO_KEYRING=1.
	NoKeyring bool
	// KeyringTimeout bounds each keyring call; 0 means
	// DefaultKeyringTimeout.
	KeyringTimeout time.Duration
}

// Store is one directory of contexts and tokens. Its methods are safe for
// concurrent use, and against other processes using the same directory.
type Store struct {
	dir     string
	keyring *keyringClient
}

// Open opens the Store of the current user's config directory (see
// ConfigDir), reading the environment now and only now.
func Open(opts Options) (*Store, error) {
	return OpenEnv(os.Getenv, opts)
}

// OpenEnv is Open with the environment given by getenv: it reads
// XDG_CONFIG_HOME and the OS's home variables for the directory and, on
// systems whose keyring is reached over D-Bus, DBUS_SESSION_BUS_ADDRESS:
// with no session bus the keyring is not tried at all (see noSessionBus).
func OpenEnv(getenv func(string) string, opts Options) (*Store, error) {
	dir, err := ConfigDir(getenv)
	if err != nil {
		return nil, err
	}
	s := OpenDir(dir, opts)
	if why := noSessionBus(getenv); why != nil && s.keyring.unusable == nil {
		s.keyring.unusable = why
	}
	return s, nil
}

// OpenDir opens the Store in dir, which is created (mode 0700) when first
// written. It reads no environment: the keyring is tried unless
// opts.NoKeyring, even on Linux with no D-Bus session, where go-keyring
// then runs dbus-launch if it is installed. Commands use Open.
func OpenDir(dir string, opts Options) *Store {
	k := &keyringClient{backend: osKeyring{}, timeout: opts.KeyringTimeout}
	if k.timeout <= 0 {
		k.timeout = DefaultKeyringTimeout
	}
	if opts.NoKeyring {
		k.unusable = errors.New("it is turned off")
	}
	return &Store{dir: dir, keyring: k}
}

// ConfigDir returns the directory of fwd's client config for the
// environment getenv: $XDG_CONFIG_HOME/fwd wherever XDG_CONFIG_HOME is set
// (so that tests and CI can move it on every OS), else fwd in the OS's
// config directory as os.UserConfigDir finds it: ~/.config/fwd on Linux,
// ~/Library/Application Support/fwd on macOS, %AppData%\fwd on Windows.
func ConfigDir(getenv func(string) string) (string, error) {
	return configDir(runtime.GOOS, getenv)
}

func configDir(goos string, getenv func(string) string) (string, error) {
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		if !filepath.IsAbs(x) {
			return "", fmt.Errorf("contexts: XDG_CONFIG_HOME is %q, a relative path: make it absolute, or unset it", x)
		}
		return filepath.Join(x, "fwd"), nil
	}
	variable, sub := "HOME", ".config"
	switch goos {
	case "windows":
		variable, sub = "AppData", ""
	case "darwin", "ios":
		sub = filepath.Join("Library", "Application Support")
	case "plan9":
		variable, sub = "home", "lib"
	}
	base := getenv(variable)
	if base == "" || !filepath.IsAbs(base) {
		return "", fmt.Errorf("contexts: cannot find the config directory: %s is %q: set it, or XDG_CONFIG_HOME, to an absolute path", variable, base)
	}
	return filepath.Join(base, sub, "fwd"), nil
}

// Dir returns the Store's directory.
func (s *Store) Dir() string { return s.dir }

// ConfigPath returns the path of config.yaml.
func (s *Store) ConfigPath() string { return filepath.Join(s.dir, "config.yaml") }

// CredentialsPath returns the path of credentials.yaml, where tokens go
// when the keyring is not used.
func (s *Store) CredentialsPath() string { return filepath.Join(s.dir, "credentials.yaml") }

// KeyringError says why tokens are not going to the system keyring: it is
// turned off, there is no D-Bus session, or it failed; nil if the keyring
// is used or has not been tried yet. For fwd login to say why it used the
// file, and for a doctor.
func (s *Store) KeyringError() error { return s.keyring.problem() }

// Load reads config.yaml; a missing file is an empty Config. A file that
// cannot be read as written is a *FileError.
func (s *Store) Load() (*Config, error) {
	data, err := readFile(s.ConfigPath())
	if err != nil {
		return nil, err
	}
	return decodeConfig(s.ConfigPath(), data)
}

// readFile reads path; a missing file reads as empty.
func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("contexts: reading %s: %w", path, err)
	}
	return data, nil
}
