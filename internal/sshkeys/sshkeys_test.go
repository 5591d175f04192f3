package sshkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// writeKey writes a new ed25519 private key in OpenSSH's format, as
// ssh-keygen does, encrypted when passphrase is not empty.
func writeKey(t *testing.T, path, passphrase string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startAgent serves an in-memory keyring over the ssh-agent protocol on a
// Unix socket, holding one new key, and returns the socket and the key.
func startAgent(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	keys, err := keyring.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("agent keys %v, %v", keys, err)
	}
	k, err := ssh.ParsePublicKey(keys[0].Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return sock, k
}

func same(a, b ssh.PublicKey) bool { return string(a.Marshal()) == string(b.Marshal()) }

func publicKeys(set *Set) []ssh.PublicKey {
	var out []ssh.PublicKey
	for _, s := range set.Signers {
		out = append(out, s.PublicKey())
	}
	return out
}

// TestFindOrder: the agent's keys, then named files, then ~/.ssh's usual
// ones, each once, as ssh offers them.
func TestFindOrder(t *testing.T) {
	home := t.TempDir()
	sock, agentKey := startAgent(t)
	namedPath := filepath.Join(t.TempDir(), "work_key")
	named := writeKey(t, namedPath, "")
	rsaSlot := writeKey(t, filepath.Join(home, ".ssh", "id_rsa"), "") // any key type will do in that file
	ed := writeKey(t, filepath.Join(home, ".ssh", "id_ed25519"), "")
	set, err := Find(Options{AgentSocket: sock, KeyFiles: []string{namedPath}, Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	got := publicKeys(set)
	want := []ssh.PublicKey{agentKey, named, ed, rsaSlot}
	if len(got) != len(want) {
		t.Fatalf("got %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if !same(got[i], want[i]) {
			t.Errorf("key %d is %s, want %s", i, ssh.FingerprintSHA256(got[i]), ssh.FingerprintSHA256(want[i]))
		}
	}
}

func TestFindUsesCertificateBesideKey(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".ssh", "id_ed25519")
	key := writeKey(t, path, "")
	ca, err := ssh.NewSignerFromKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: key, CertType: ssh.UserCert, ValidPrincipals: []string{"alice"},
		ValidBefore: uint64(time.Now().Add(time.Hour).Unix())}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-cert.pub", ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Find(Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	got := publicKeys(set)
	if len(got) != 2 {
		t.Fatalf("got %d signers, want the certificate and the key", len(got))
	}
	if c, ok := got[0].(*ssh.Certificate); !ok || !same(c.Key, key) {
		t.Errorf("first signer is %T, want the certificate of the key", got[0])
	}
	if !same(got[1], key) {
		t.Errorf("second signer is not the key itself")
	}
}

func mustKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func TestFindEncryptedKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "id_secret")
	key := writeKey(t, path, "open sesame")

	_, err := Find(Options{KeyFiles: []string{path}})
	if !errors.Is(err, ErrEncrypted) || !strings.Contains(err.Error(), "ssh-add "+path) {
		t.Errorf("without a terminal: %v, want ErrEncrypted naming ssh-add", err)
	}

	asked := 0
	set, err := Find(Options{KeyFiles: []string{path}, Passphrase: func(file string) ([]byte, error) {
		asked++
		if file != path {
			t.Errorf("asked for %q, want %q", file, path)
		}
		return []byte("open sesame"), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 || len(set.Signers) != 1 || !same(set.Signers[0].PublicKey(), key) {
		t.Errorf("asked %d times, %d signers", asked, len(set.Signers))
	}

	_, err = Find(Options{KeyFiles: []string{path}, Passphrase: func(string) ([]byte, error) { return []byte("wrong"), nil }})
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase?") {
		t.Errorf("wrong passphrase: %v", err)
	}
}

// TestFindSkipsEncryptedDefaultWhenAnotherKeyWorks: like ssh, an
// encrypted ~/.ssh key nothing can open is no obstacle when another key
// is there; with none, its passphrase is what the error asks for.
func TestFindSkipsEncryptedDefaultWhenAnotherKeyWorks(t *testing.T) {
	home := t.TempDir()
	writeKey(t, filepath.Join(home, ".ssh", "id_ed25519"), "secret")
	plain := writeKey(t, filepath.Join(home, ".ssh", "id_ecdsa"), "") // any key type will do in that file
	set, err := Find(Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Signers) != 1 || !same(set.Signers[0].PublicKey(), plain) {
		t.Errorf("signers %v, want only the plain key", publicKeys(set))
	}
	os.Remove(filepath.Join(home, ".ssh", "id_ecdsa"))
	if _, err := Find(Options{Home: home}); !errors.Is(err, ErrEncrypted) {
		t.Errorf("only an encrypted key: %v, want ErrEncrypted", err)
	}
}

func TestFindNoKey(t *testing.T) {
	_, err := Find(Options{Home: t.TempDir()})
	if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set") || !strings.Contains(err.Error(), "id_ed25519, id_ecdsa, id_rsa") {
		t.Errorf("no key: %v", err)
	}
	if _, err := Find(Options{KeyFiles: []string{filepath.Join(t.TempDir(), "missing")}}); err == nil || errors.Is(err, ErrNoKey) {
		t.Errorf("a named file that is missing: %v, want its own error", err)
	}
	if _, err := Find(Options{AgentSocket: filepath.Join(t.TempDir(), "no.sock")}); err == nil || !strings.Contains(err.Error(), "unset SSH_AUTH_SOCK") {
		t.Errorf("a dead agent socket: %v", err)
	}
}
