// Package sshgateway_test drives the real fwd gateway's SSH listener
// (ssh_listen) with the real OpenSSH client: ssh -N -L, the host key
// checked strictly against the fingerprint the gateway announces, bulk
// data bit-exact, refusals as ssh prints them, the host key kept across
// restarts. Every process is separate; everything listens on loopback.
package sshgateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
)

// fwdBin is the fwd binary TestMain builds.
var fwdBin string

func TestMain(m *testing.M) { os.Exit(fwdtest.RunWithFwd(m, &fwdBin)) }

// world is one gateway's surroundings: its config directory, alice's key
// pair (made by ssh-keygen), a real echo target in her project shop, and
// a target in project other that she may not reach, which counts the
// connections it accepts.
type world struct {
	dir        string
	config     string
	sshPort    int
	aliceKey   string // private key file
	knownHosts string
	echo       *fwdtest.GoServer
	secret     net.Listener
	accepted   atomic.Int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	fwdtest.NeedBinaries(t, "ssh", "ssh-keygen")
	w := &world{dir: t.TempDir()}
	w.aliceKey = filepath.Join(w.dir, "alice")
	run(t, 10*time.Second, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", w.aliceKey)
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	w.echo = echo
	if w.secret, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.secret.Close() })
	go w.countSecret()
	if w.sshPort, err = fwdtest.FreePort("tcp"); err != nil {
		t.Fatal(err)
	}
	w.config = filepath.Join(w.dir, "gateway.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
ssh_listen: 127.0.0.1:%d
users:
  - name: alice
    authorized_keys: alice.pub
    projects: [shop]
projects:
  - name: shop
    services:
      - name: api
        ports:
          - {name: http, port: 80, protocol: TCP, targets: [%q]}
  - name: other
    addons:
      - name: db
        ports:
          - {name: postgres, port: 5432, protocol: TCP, targets: [%q]}
limits:
  shutdown_grace: 1s
`, w.sshPort, w.echo.Addr, w.secret.Addr().String())
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.knownHosts = filepath.Join(w.dir, "known_hosts")
	return w
}

func (w *world) countSecret() {
	for {
		c, err := w.secret.Accept()
		if err != nil {
			return
		}
		w.accepted.Add(1)
		c.Close()
	}
}

func (w *world) hostKeyPath() string { return filepath.Join(w.dir, "ssh_host_ed25519_key") }

// startGateway runs fwd gateway -o json and reads what it announces: an
// SSH listener on the configured port, with its host key's fingerprint.
func (w *world) startGateway(t *testing.T) (*fwdtest.Process, tunnel.Announcement) {
	t.Helper()
	p := fwdtest.StartProcessT(t, "fwd gateway", fwdtest.ProcessOptions{StdoutLines: true, StopGrace: 5 * time.Second},
		fwdBin, "gateway", "--config", w.config, "-o", "json")
	line, err := p.FirstLine(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ann, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(w.sshPort)); ann.SSHListen != want || !strings.HasPrefix(ann.SSHFingerprint, "SHA256:") {
		t.Fatalf("gateway announced %q: want ssh_listen %s and an ssh_fingerprint SHA256:...", line, want)
	}
	return p, ann
}

// trust writes the known_hosts entry for the gateway's SSH listener from
// its host key file, after checking that the file's key is the one whose
// fingerprint the gateway announced, as ssh-keygen -lf prints it. ssh then
// checks the key the gateway serves against it (StrictHostKeyChecking).
func (w *world) trust(t *testing.T, ann tunnel.Announcement) {
	t.Helper()
	data, err := os.ReadFile(w.hostKeyPath())
	if err != nil {
		t.Fatalf("host key not kept beside the config: %v", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	pub := signer.PublicKey()
	if fp := ssh.FingerprintSHA256(pub); fp != ann.SSHFingerprint {
		t.Fatalf("gateway announced %s, its host key file holds %s", ann.SSHFingerprint, fp)
	}
	if out := run(t, 10*time.Second, "ssh-keygen", "-l", "-f", w.hostKeyPath()); !strings.Contains(out, " "+ann.SSHFingerprint+" ") {
		t.Fatalf("ssh-keygen -lf prints %q, the gateway announced %s", out, ann.SSHFingerprint)
	}
	line := fmt.Sprintf("[127.0.0.1]:%d %s", w.sshPort, ssh.MarshalAuthorizedKey(pub))
	if err := os.WriteFile(w.knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sshArgs are ssh's arguments for user with alice's key, touching nothing
// of this machine's ssh setup: no config, no agent, only w's known_hosts,
// checked strictly; extra options go before the destination, a command
// after.
func (w *world) sshArgs(user string, extra ...string) []string {
	args := []string{"-F", "/dev/null", "-p", strconv.Itoa(w.sshPort), "-i", w.aliceKey,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "UserKnownHostsFile=" + w.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"}
	args = append(args, extra...)
	return append(args, user+"@127.0.0.1")
}

// forward runs ssh -v -N with the -L forwards given, until the test ends.
func (w *world) forward(t *testing.T, forwards ...string) *fwdtest.Process {
	t.Helper()
	bin, err := fwdtest.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	extra := []string{"-v", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=5"}
	for _, f := range forwards {
		extra = append(extra, "-L", f)
	}
	return fwdtest.StartProcessT(t, "ssh -L", fwdtest.ProcessOptions{StopGrace: 5 * time.Second},
		append([]string{bin}, w.sshArgs("alice", extra...)...)...)
}

// localPort is a free port for ssh -L to listen on.
func localPort(t *testing.T) string {
	t.Helper()
	p, err := fwdtest.FreePort("tcp")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// dialForward connects to ssh's local end once ssh listens there (after
// its login), failing if ssh exits first.
func dialForward(t *testing.T, sshProc *fwdtest.Process, addr string) *net.TCPConn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c.(*net.TCPConn)
		}
		if sshProc.Exited() {
			t.Fatalf("ssh exited (%v) before forwarding %s:\n%s", sshProc.Err(), addr, sshProc.LogTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh not forwarding %s after 20s:\n%s", addr, sshProc.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSSHForwardsBulkBitExact: ssh -L through the gateway's SSH listener
// to a real echo target moves 100 MiB there and back bit-exact, with the
// host key checked strictly against the announced fingerprint.
func TestSSHForwardsBulkBitExact(t *testing.T) {
	w := newWorld(t)
	_, ann := w.startGateway(t)
	w.trust(t, ann)
	local := localPort(t)
	sshProc := w.forward(t, local+":api.shop:80")
	conn := dialForward(t, sshProc, local)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(120 * time.Second))

	const size = 100 << 20
	sent := sha256.New()
	wrote := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := io.Copy(conn, io.TeeReader(fwdtest.PRNG(42, size), sent))
		if err == nil {
			err = conn.CloseWrite()
		}
		wrote <- err
	}()
	got := sha256.New()
	n, err := io.Copy(got, conn)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("reading the echo after %d bytes: %v", n, err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("echo: %d bytes, sha256 %s; sent %d bytes, sha256 %s", n, hex.EncodeToString(got.Sum(nil)), size, hex.EncodeToString(sent.Sum(nil)))
	}
	t.Logf("ssh -L through the gateway: 100 MiB each way in %v (%.0f MB/s each way)", elapsed.Round(time.Millisecond), float64(size)/1e6/elapsed.Seconds())
	// What ssh saw is what the gateway announced.
	if want := "Server host key: ssh-ed25519 " + ann.SSHFingerprint; !sshProc.LogContains(want) {
		t.Errorf("ssh -v does not say %q:\n%s", want, sshProc.LogTail())
	}
}

// TestSSHRefusesOutsideScope: ssh -L to a target outside alice's
// projects, or to a port its resource lacks: the gateway refuses the
// channel, ssh prints why and closes the local connection, and the target
// is never connected to.
func TestSSHRefusesOutsideScope(t *testing.T) {
	w := newWorld(t)
	_, ann := w.startGateway(t)
	w.trust(t, ann)
	scope, port := localPort(t), localPort(t)
	sshProc := w.forward(t, scope+":db.other:5432", port+":api.shop:9999")
	for _, c := range []struct{ local, want string }{
		{scope, "administratively prohibited: db.other:5432: no such service or addon in your projects"},
		{port, "administratively prohibited: api.shop:9999: api has no TCP port 9999 (its TCP ports: 80)"},
	} {
		conn := dialForward(t, sshProc, c.local)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(make([]byte, 1))
		conn.Close()
		if n != 0 || (err != io.EOF && !isReset(err)) {
			t.Errorf("connection to %s: read %d bytes, %v; want it closed", c.local, n, err)
		}
		waitLog(t, sshProc, c.want)
	}
	if n := w.accepted.Load(); n != 0 {
		t.Errorf("the out-of-scope target accepted %d connections", n)
	}
	if sshProc.Exited() {
		t.Errorf("ssh exited after a refused channel: %v", sshProc.Err())
	}
}

// TestSSHHostKeyKeptAcrossRestarts: the host key is made on the first
// start, and the same key is served after a restart, so that known_hosts
// entries stay good.
func TestSSHHostKeyKeptAcrossRestarts(t *testing.T) {
	w := newWorld(t)
	gw, first := w.startGateway(t)
	w.trust(t, first)
	st, err := os.Stat(w.hostKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("host key mode %04o, want 0600", perm)
	}
	key, _ := os.ReadFile(w.hostKeyPath())
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	_, again := w.startGateway(t)
	if again.SSHFingerprint != first.SSHFingerprint {
		t.Fatalf("host key changed across restarts: %s, then %s", first.SSHFingerprint, again.SSHFingerprint)
	}
	if now, _ := os.ReadFile(w.hostKeyPath()); !bytes.Equal(now, key) {
		t.Error("host key file rewritten by the restart")
	}
	// The known_hosts entry of the first start still passes strict
	// checking.
	local := localPort(t)
	sshProc := w.forward(t, local+":api.shop:80")
	conn := dialForward(t, sshProc, local)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "after the restart")
	conn.CloseWrite()
	if got, err := io.ReadAll(conn); err != nil || string(got) != "after the restart" {
		t.Fatalf("echo after the restart: %q, %v", got, err)
	}
}

// TestSSHRefusesShellsAndStrangers: a shell or command is refused, and a
// user name that is not the key's user cannot log in.
func TestSSHRefusesShellsAndStrangers(t *testing.T) {
	w := newWorld(t)
	_, ann := w.startGateway(t)
	w.trust(t, ann)
	code, out := runSSH(t, append(w.sshArgs("alice"), "true"))
	if code == 0 || !strings.Contains(out, "administratively prohibited: the fwd gateway runs no shell, command or subsystem") {
		t.Errorf("ssh alice@ true: exit %d:\n%s", code, out)
	}
	code, out = runSSH(t, w.sshArgs("bob", "-N"))
	if code != 255 || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("ssh bob@ with alice's key: exit %d:\n%s", code, out)
	}
}

func runSSH(t *testing.T, args []string) (int, string) {
	t.Helper()
	cmd := exec.Command("ssh", args...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("ssh %s still running after 30s:\n%s", strings.Join(args, " "), out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

func waitLog(t *testing.T, p *fwdtest.Process, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !p.LogContains(want); {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not say %q:\n%s", p.Name(), want, p.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// run runs a command to completion within timeout and returns its output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
