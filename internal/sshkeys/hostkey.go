package sshkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/crypto/ssh"
)

// LoadOrCreateHostKey returns the SSH host key kept at path, an OpenSSH
// private key file (as ssh-keygen writes them, unencrypted). When there is
// none it makes an ed25519 key there first, mode 0600, and reports
// created. The file appears whole or not at all: it is written beside
// path and then linked into place, which fails if path exists, so that
// two gateways starting at once end up serving the same key, the one that
// linked first.
func LoadOrCreateHostKey(path string) (signer ssh.Signer, created bool, err error) {
	signer, err = loadHostKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return signer, false, err
	}
	created, err = createHostKey(path)
	if err != nil {
		return nil, false, err
	}
	// Read back what is there now: ours, or the key of a gateway that
	// linked its own first.
	signer, err = loadHostKey(path)
	return signer, created && err == nil, err
}

// loadHostKey reads the key at path. As sshd does, it refuses a key file
// that others may read: a host key that leaked lets anyone pose as the
// gateway.
func loadHostKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sshkeys: host key: %w", err)
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("sshkeys: host key %s is encrypted, and a gateway has no one to ask for the passphrase: remove it (ssh-keygen -p -N '' -f %s): %w", path, path, ErrEncrypted)
	case err != nil:
		return nil, fmt.Errorf("sshkeys: host key %s is not an SSH private key (make one with ssh-keygen -t ed25519 -N '' -f %s, or remove it for the gateway to make one): %w", path, path, err)
	}
	return signer, nil
}

// checkPrivate refuses a key file that its group or others may access.
// Windows has no such mode bits.
func checkPrivate(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sshkeys: host key: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("sshkeys: host key %s has permissions %04o, which are too open: chmod 600 %s", path, perm, path)
	}
	return nil
}

// createHostKey writes a new ed25519 key to path, unless a file is there
// already (created is then false and err nil).
func createHostKey(path string) (created bool, err error) {
	pemBytes, err := newHostKeyPEM()
	if err != nil {
		return false, err
	}
	tmp, err := writeTemp(filepath.Dir(path), pemBytes)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	}
	// A file system without hard links: fall back to an exclusive create,
	// which still never clobbers a key that is there, though a gateway
	// starting at the same instant might read the file half written.
	return writeExclusive(path, pemBytes)
}

func newHostKeyPEM() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshkeys: making a host key: %w", err)
	}
	host, _ := os.Hostname()
	block, err := ssh.MarshalPrivateKey(priv, "fwd gateway "+host)
	if err != nil {
		return nil, fmt.Errorf("sshkeys: making a host key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// writeTemp writes data to a new file in dir, mode 0600, synced to disk,
// and returns its name.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".ssh_host_key-*")
	if err != nil {
		return "", fmt.Errorf("sshkeys: host key: %w", err)
	}
	name := f.Name()
	if err := fillPrivate(f, data); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// fillPrivate writes data to f, a new file made 0600 (CreateTemp and
// writeExclusive both do), syncs and closes it.
func fillPrivate(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sshkeys: writing host key %s: %w", f.Name(), err)
	}
	return nil
}

func writeExclusive(path string, data []byte) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sshkeys: host key: %w", err)
	}
	if err := fillPrivate(f, data); err != nil {
		os.Remove(path)
		return false, err
	}
	return true, nil
}
