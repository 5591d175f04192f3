package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/fwd-dev/fwd/internal/sshkeys"
)

// sshLogin finds the SSH keys a command logs in with when it has no
// token: ssh-agent's ($SSH_AUTH_SOCK), then --ssh-key files, then
// ~/.ssh/id_ed25519, id_ecdsa and id_rsa. An encrypted key file asks for
// its passphrase when standard input is a terminal.
type sshLogin struct {
	keyFiles []string // --ssh-key
	set      *sshkeys.Set
}

// find collects the signers. Close releases the agent's connection.
func (l *sshLogin) find(s streams) ([]ssh.Signer, error) {
	home, _ := os.UserHomeDir()
	set, err := sshkeys.Find(sshkeys.Options{
		AgentSocket: os.Getenv("SSH_AUTH_SOCK"),
		KeyFiles:    l.keyFiles,
		Home:        home,
		Passphrase:  passphrasePrompt(s),
	})
	if err != nil {
		return nil, err
	}
	l.set = set
	return set.Signers, nil
}

func (l *sshLogin) Close() error {
	if l.set == nil {
		return nil
	}
	return l.set.Close()
}

// passphrasePrompt asks for a key's passphrase without echo on the
// terminal standard input is; nil when it is not one.
func passphrasePrompt(s streams) func(file string) ([]byte, error) {
	in, ok := s.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil
	}
	return func(file string) ([]byte, error) {
		return askSecret(in, s.Err, fmt.Sprintf("Enter passphrase for key '%s': ", file))
	}
}

// askSecret reads one line without echo from the terminal in.
func askSecret(in *os.File, prompt io.Writer, question string) ([]byte, error) {
	fmt.Fprint(prompt, question)
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(prompt)
	return b, err
}
