package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// openPTY returns both ends of a new pseudo-terminal: what a command
// writes to tty, a test reads from pty.
func openPTY(t *testing.T) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, pty.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlocking the pty: %v", e)
	}
	n, err := unix.IoctlGetInt(int(pty.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the tty: %v", err)
	}
	t.Cleanup(func() { tty.Close(); pty.Close() })
	return pty, tty
}

// TestSilentGatewayShowsPhase: with stderr on a terminal, a wait for a
// gateway that never answers TLS shows which phase it is in, then the
// error names that phase.
func TestSilentGatewayShowsPhase(t *testing.T) {
	pty, tty := openPTY(t)
	var (
		mu  sync.Mutex
		got bytes.Buffer
	)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Setenv("FWD_TOKEN", "fwd_x")
	t.Setenv("NO_COLOR", "1")
	silent := silentListener(t)
	var out bytes.Buffer
	code := run(context.Background(), []string{"all", "--gateway", silent, "--timeout", "1s"}, streams{In: strings.NewReader(""), Out: &out, Err: tty})
	time.Sleep(100 * time.Millisecond) // let the reader drain the pty
	mu.Lock()
	text := got.String()
	mu.Unlock()
	if code != exitUnreachable {
		t.Fatalf("exit %d, want %d; terminal showed %q", code, exitUnreachable, text)
	}
	if !strings.Contains(text, silent+": TLS handshake…") {
		t.Errorf("terminal did not show the TLS phase: %q", text)
	}
	if !strings.Contains(text, "TLS handshake with "+silent+" did not finish in 1s: is it a fwd gateway, and is --gateway right?") {
		t.Errorf("terminal did not show the phase's error: %q", text)
	}
}

// TestLoginOnATerminal: on a terminal, fwd login asks for the token
// without echo, shows an unknown certificate's fingerprint and asks
// whether to trust it; yes pins it in the saved context.
func TestLoginOnATerminal(t *testing.T) {
	env, _ := testGateway(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	pty, tty := openPTY(t)
	var (
		mu  sync.Mutex
		got bytes.Buffer
	)
	// The user answers each prompt once it shows: the token, then "y".
	// A person types after the prompt, when echo is already off; the
	// test waits for that too, or it would race fwd turning it off.
	prompts := []string{"token for", "[y/N]"}
	answers := []string{env.Token + "\n", "y\n"}
	silent := []bool{true, false}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			shown := len(prompts) > 0 && strings.Contains(got.String(), prompts[0])
			mu.Unlock()
			if shown {
				if silent[0] {
					waitForNoEcho(tty)
				}
				pty.Write([]byte(answers[0]))
				prompts, answers, silent = prompts[1:], answers[1:], silent[1:]
			}
			if err != nil {
				return
			}
		}
	}()
	var out bytes.Buffer
	code := run(context.Background(), []string{"login", "--gateway", env.Addr, "--name", "tty"}, streams{In: tty, Out: &out, Err: tty})
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	text := got.String()
	mu.Unlock()
	if code != 0 {
		t.Fatalf("login on a terminal: exit %d; terminal showed %q", code, text)
	}
	if !strings.Contains(text, env.Fingerprint) || strings.Contains(text, env.Token) {
		t.Fatalf("terminal showed %q: want the fingerprint asked about and the token not echoed", text)
	}
	r := runFwd(t, nil, "context", "list", "-o", "json")
	if !strings.Contains(r.out, `"fingerprint":"`+env.Fingerprint+`"`) {
		t.Fatalf("saved contexts %q: want the accepted fingerprint pinned", r.out)
	}
}

// waitForNoEcho waits, at most 2 s, until the terminal's echo is off.
func waitForNoEcho(tty *os.File) {
	for range 200 {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil || tio.Lflag&unix.ECHO == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSSHKeyPassphraseOnATerminal: without a token, an encrypted key file
// asks for its passphrase on the terminal, without echo, and logs in.
func TestSSHKeyPassphraseOnATerminal(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const passphrase = "correct horse battery staple"
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "alice@test", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_locked")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	gw := fwdtest.NewGateway(t, catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Services: []catalog.Resource{{
		Kind: catalog.Service, Project: "shop", Name: "api", Ports: []catalog.Port{{Port: 28080, Targets: []string{"127.0.0.1:9"}}}}}}}},
		fwdtest.WithUsers(tunnel.User{Name: "alice", Keys: []ssh.PublicKey{signer.PublicKey()}, Projects: []string{"shop"}}))
	for k, v := range map[string]string{"FWD_GATEWAY": gw.Addr, "FWD_FINGERPRINT": gw.Fingerprint, "FWD_TOKEN": "", "SSH_AUTH_SOCK": "",
		"HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir(), "NO_COLOR": "1"} {
		t.Setenv(k, v)
	}
	pty, tty := openPTY(t)
	var (
		mu  sync.Mutex
		got bytes.Buffer
	)
	go func() {
		buf := make([]byte, 4096)
		asked := false
		for {
			n, err := pty.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			shown := !asked && strings.Contains(got.String(), "Enter passphrase for key '"+keyFile+"': ")
			mu.Unlock()
			if shown {
				asked = true
				waitForNoEcho(tty)
				pty.Write([]byte(passphrase + "\n"))
			}
			if err != nil {
				return
			}
		}
	}()
	var out bytes.Buffer
	code := run(context.Background(), []string{"ls", "-o", "json", "--ssh-key", keyFile}, streams{In: tty, Out: &out, Err: tty})
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	text := got.String()
	mu.Unlock()
	if code != 0 || !strings.Contains(out.String(), `"projectId":"shop"`) {
		t.Fatalf("fwd ls with an encrypted key on a terminal: exit %d, out %q; terminal showed %q", code, out.String(), text)
	}
	if !strings.Contains(text, "Enter passphrase for key") || strings.Contains(text, passphrase) {
		t.Fatalf("terminal showed %q: want the passphrase asked for and not echoed", text)
	}
}
