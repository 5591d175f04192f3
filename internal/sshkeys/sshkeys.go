// Package sshkeys finds the SSH keys a client signs with, in OpenSSH's
// order: the keys of ssh-agent, then a key file the user named, then the
// usual ~/.ssh/id_ed25519, id_ecdsa and id_rsa. A key file's certificate
// (KEY-cert.pub beside it) is used with it, as ssh does. An encrypted key
// asks for its passphrase through a callback, which only a terminal
// provides; without one the error says what to do.
package sshkeys

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Options say where to look. The caller reads the environment.
type Options struct {
	// AgentSocket is $SSH_AUTH_SOCK; "" means no agent.
	AgentSocket string
	// KeyFiles are key files the user named (--ssh-key, IdentityFile),
	// tried after the agent's keys.
	KeyFiles []string
	// Home is the user's home directory, for ~/.ssh's usual keys; "" skips
	// them.
	Home string
	// Passphrase asks for an encrypted key file's passphrase; nil means
	// there is no terminal to ask on.
	Passphrase func(file string) ([]byte, error)
}

// DefaultKeyFiles are the key files OpenSSH tries by default, in order.
var DefaultKeyFiles = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// ErrNoKey is returned when no key was found anywhere.
var ErrNoKey = errors.New("sshkeys: no SSH key offered")

// ErrEncrypted matches an encrypted key file that could not be opened
// because nothing could ask for its passphrase.
var ErrEncrypted = errors.New("sshkeys: key file is encrypted")

// Set is the signers found, to try in order. Close releases the agent
// connection.
type Set struct {
	Signers []ssh.Signer
	closer  io.Closer
}

// Close ends the connection to ssh-agent, if any.
func (s *Set) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// Find collects the signers. A named key file that cannot be read is an
// error; a missing default one is skipped. With no key at all it returns
// ErrNoKey, naming where it looked.
func Find(o Options) (*Set, error) {
	set := &Set{}
	if o.AgentSocket != "" {
		if err := set.fromAgent(o.AgentSocket); err != nil {
			return nil, err
		}
	}
	for _, f := range o.KeyFiles {
		s, err := loadKeyFile(f, o.Passphrase)
		if err != nil {
			set.Close()
			return nil, err
		}
		set.Signers = append(set.Signers, s...)
	}
	locked, err := set.fromDefaults(o)
	if err != nil {
		set.Close()
		return nil, err
	}
	if len(set.Signers) == 0 && locked != nil {
		set.Close()
		return nil, locked
	}
	if len(set.Signers) == 0 {
		set.Close()
		return nil, fmt.Errorf("%w: none in ssh-agent%s, no --ssh-key, and none of ~/.ssh/%s", ErrNoKey, agentNote(o.AgentSocket),
			joinDefaults())
	}
	return set, nil
}

func agentNote(sock string) string {
	if sock == "" {
		return " (SSH_AUTH_SOCK is not set)"
	}
	return ""
}

func joinDefaults() string {
	s := ""
	for i, f := range DefaultKeyFiles {
		if i > 0 {
			s += ", "
		}
		s += f
	}
	return s
}

// fromAgent adds the agent's keys (certificates included, as the agent
// lists them).
func (s *Set) fromAgent(sock string) error {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return fmt.Errorf("sshkeys: ssh-agent at %s: %w (unset SSH_AUTH_SOCK to skip it)", sock, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return fmt.Errorf("sshkeys: ssh-agent: %w", err)
	}
	s.Signers = append(s.Signers, signers...)
	s.closer = conn
	return nil
}

// fromDefaults adds ~/.ssh's usual keys that exist and are not already
// offered (by the agent or by name). An encrypted one that nothing can
// ask the passphrase of is skipped, as ssh skips it, and returned as
// locked: it is the error to give when no key is left.
func (s *Set) fromDefaults(o Options) (locked, err error) {
	if o.Home == "" {
		return nil, nil
	}
	// With keys already found, an encrypted default is not worth a
	// question the user may not expect; ssh would try the others first.
	ask := o.Passphrase
	if len(s.Signers) > 0 {
		ask = nil
	}
	for _, name := range DefaultKeyFiles {
		path := filepath.Join(o.Home, ".ssh", name)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		signers, err := loadKeyFile(path, ask)
		if errors.Is(err, ErrEncrypted) {
			if locked == nil {
				locked = err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, sg := range signers {
			if !s.has(sg.PublicKey()) {
				s.Signers = append(s.Signers, sg)
			}
		}
	}
	return locked, nil
}

func (s *Set) has(k ssh.PublicKey) bool {
	blob := string(k.Marshal())
	for _, sg := range s.Signers {
		if string(sg.PublicKey().Marshal()) == blob {
			return true
		}
	}
	return false
}

// loadKeyFile reads a private key, and its certificate beside it if there
// is one (offered first, as ssh does).
func loadKeyFile(path string, passphrase func(string) ([]byte, error)) ([]ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sshkeys: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		signer, err = decrypt(path, pem, passphrase)
	}
	if err != nil {
		return nil, err
	}
	out := []ssh.Signer{signer}
	if cert, ok := readCert(path + "-cert.pub"); ok {
		if cs, err := ssh.NewCertSigner(cert, signer); err == nil {
			out = append([]ssh.Signer{cs}, out...)
		}
	}
	return out, nil
}

func decrypt(path string, pem []byte, passphrase func(string) ([]byte, error)) (ssh.Signer, error) {
	if passphrase == nil {
		return nil, fmt.Errorf("%w: %s needs its passphrase: add it to ssh-agent (ssh-add %s), or run fwd on a terminal to be asked", ErrEncrypted, path, path)
	}
	pass, err := passphrase(path)
	if err != nil {
		return nil, fmt.Errorf("sshkeys: passphrase for %s: %w", path, err)
	}
	signer, err := ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	if err != nil {
		return nil, fmt.Errorf("sshkeys: %s: %w (wrong passphrase?)", path, err)
	}
	return signer, nil
}

func readCert(path string) (*ssh.Certificate, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, false
	}
	cert, ok := k.(*ssh.Certificate)
	return cert, ok
}
