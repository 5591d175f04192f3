package sshkeys

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestHostKeyMadeOnceThenLoaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	first, created, err := LoadOrCreateHostKey(path)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	if typ := first.PublicKey().Type(); typ != ssh.KeyAlgoED25519 {
		t.Errorf("made a %s key, want ed25519", typ)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("host key mode %04o, want 0600", perm)
	}
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("host key is not in OpenSSH's format:\n%s", data)
	}
	again, created, err := LoadOrCreateHostKey(path)
	if err != nil || created {
		t.Fatalf("second start: created %v, %v", created, err)
	}
	if !bytes.Equal(again.PublicKey().Marshal(), first.PublicKey().Marshal()) {
		t.Error("second start serves another key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the key (no temporary file left)", len(entries))
	}
}

// TestHostKeyRaceMakesOne: gateways starting at once all serve the key
// that was linked first, and only one says it made it.
func TestHostKeyRaceMakesOne(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ssh_host_ed25519_key")
	const n = 16
	var (
		wg      sync.WaitGroup
		keys    [n]ssh.Signer
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], created[i], errs[i] = LoadOrCreateHostKey(path)
		}()
	}
	wg.Wait()
	made := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if created[i] {
			made++
		}
		if !bytes.Equal(keys[i].PublicKey().Marshal(), keys[0].PublicKey().Marshal()) {
			t.Errorf("start %d serves %s, start 0 %s", i, ssh.FingerprintSHA256(keys[i].PublicKey()), ssh.FingerprintSHA256(keys[0].PublicKey()))
		}
	}
	if made != 1 {
		t.Errorf("%d starts say they made the key, want 1", made)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the key", len(entries))
	}
}

func TestHostKeyRefusals(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	writeKey(t, open, "")
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	encrypted := filepath.Join(dir, "encrypted")
	writeKey(t, encrypted, "secret")
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a key\n"), 0o600)
	for _, c := range []struct {
		path, want string
	}{
		{open, "too open: chmod 600"},
		{encrypted, "is encrypted"},
		{garbage, "is not an SSH private key"},
	} {
		_, created, err := LoadOrCreateHostKey(c.path)
		if err == nil || created || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: created %v, %v; want an error saying %q", filepath.Base(c.path), created, err, c.want)
		}
	}
	if _, _, err := LoadOrCreateHostKey(encrypted); !errors.Is(err, ErrEncrypted) {
		t.Errorf("encrypted key: %v, want ErrEncrypted", err)
	}
	// A key is never replaced, whatever is wrong with it.
	if data, _ := os.ReadFile(garbage); string(data) != "not a key\n" {
		t.Errorf("garbage key file rewritten: %q", data)
	}
	if _, _, err := LoadOrCreateHostKey(filepath.Join(dir, "no-such-dir", "key")); err == nil {
		t.Error("a key in a missing directory was made")
	}
}

// TestHostKeyReadByOpenSSH: ssh-keygen reads the key made, and prints the
// fingerprint the gateway announces.
func TestHostKeyReadByOpenSSH(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed: run .ci/install-deps.sh")
	}
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	s, _, err := LoadOrCreateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(keygen, "-l", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -lf: %v\n%s", err, out)
	}
	if fp := ssh.FingerprintSHA256(s.PublicKey()); !strings.Contains(string(out), " "+fp+" ") {
		t.Errorf("ssh-keygen -lf prints %q, want the fingerprint %s", out, fp)
	}
	// And a key ssh-keygen made is served as it is.
	made := filepath.Join(t.TempDir(), "made")
	if out, err := exec.Command(keygen, "-q", "-t", "ecdsa", "-N", "", "-f", made).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	s, created, err := LoadOrCreateHostKey(made)
	if err != nil || created || s.PublicKey().Type() != "ecdsa-sha2-nistp256" {
		t.Fatalf("ssh-keygen's key: created %v, %v", created, err)
	}
}
