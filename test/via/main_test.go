// Package via_test drives the real fwd binary through stock OpenSSH
// servers with --via ssh://host --catalog FILE: no gateway, the user's
// ~/.ssh (config, keys, known_hosts) in a temporary HOME, sshd from
// Debian's openssh-server. Everything listens on loopback.
package via_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// fwdBin is the fwd binary TestMain builds.
var fwdBin string

func TestMain(m *testing.M) { os.Exit(fwdtest.RunWithFwd(m, &fwdBin)) }

// startSSHD runs an sshd for the test, taking clientKey if it is set
// (the one key of a user's ~/.ssh); it is closed when the test ends.
func startSSHD(t *testing.T, opts fwdtest.SSHDOptions) *fwdtest.SSHD {
	t.Helper()
	fwdtest.NeedBinaries(t, "sshd")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := fwdtest.StartSSHD(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// knownHost is a known_hosts line for s at its address, port-aware, as
// ssh-keyscan -p PORT 127.0.0.1 writes it.
func knownHost(s *fwdtest.SSHD) string {
	return fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, s.HostKey)
}

// user is one developer: a HOME holding only .ssh/config, .ssh/id_ed25519
// (an sshd's client key) and .ssh/known_hosts, each if given, and the
// variables every fwd it starts gets (no ssh-agent).
type user struct {
	t    *testing.T
	dir  string
	home string
	env  []string
}

func newUser(t *testing.T, key, config string, knownHosts ...string) *user {
	t.Helper()
	dir := t.TempDir()
	u := &user{t: t, dir: dir, home: filepath.Join(dir, "home")}
	ssh := filepath.Join(u.home, ".ssh")
	must(t, os.MkdirAll(ssh, 0o700))
	if key != "" {
		b, err := os.ReadFile(key)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(ssh, "id_ed25519"), b, 0o600))
	}
	if config != "" {
		must(t, os.WriteFile(filepath.Join(ssh, "config"), []byte(config), 0o600))
	}
	if len(knownHosts) > 0 {
		must(t, os.WriteFile(u.knownHosts(), []byte(strings.Join(knownHosts, "\n")+"\n"), 0o600))
	}
	u.env = []string{"HOME=" + u.home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1", "LC_ALL=C",
		"FWD_RUNTIME_DIR=" + filepath.Join(dir, "run"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "FWD_NO_KEYRING=1"}
	return u
}

func (u *user) knownHosts() string { return filepath.Join(u.home, ".ssh", "known_hosts") }

// writeCatalog writes a new catalog file into the user's directory.
func (u *user) writeCatalog(yaml string) string {
	f, err := os.CreateTemp(u.dir, "catalog-*.yaml")
	must(u.t, err)
	defer f.Close()
	_, err = f.WriteString(yaml)
	must(u.t, err)
	return f.Name()
}

// result is what one finished fwd command printed and how it exited.
type result struct {
	code        int
	out, stderr string
}

// run runs fwd to completion, in dir, with no terminal.
func (u *user) run(dir string, args ...string) result {
	u.t.Helper()
	cmd := exec.Command(fwdBin, args...)
	cmd.Env, cmd.Dir, cmd.Stdin = u.env, dir, strings.NewReader("")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	must(u.t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		u.t.Fatalf("fwd %s still running after 30s; stderr:\n%s", strings.Join(args, " "), errb.String())
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

// start runs a long-lived fwd in dir; it is stopped (SIGINT) when the
// test ends.
func (u *user) start(dir string, args ...string) *fwdtest.Process {
	u.t.Helper()
	argv := append([]string{fwdBin}, args...)
	if dir != "" {
		argv = append([]string{"/bin/sh", "-c", `cd "$0" && exec "$@"`, dir}, argv...)
	}
	return fwdtest.StartProcessT(u.t, "fwd "+args[0], fwdtest.ProcessOptions{
		Env: u.env, StopSignal: syscall.SIGINT, StopGrace: 5 * time.Second, StdoutLines: true,
	}, argv...)
}

// forward starts fwd with --output json and returns its results.
func (u *user) forward(args ...string) (*fwdtest.Process, []forward.Result) {
	u.t.Helper()
	p := u.start("", append(args, "--skipHostnames", "--output", "json")...)
	line, err := p.FirstLine(30 * time.Second)
	if err != nil {
		u.t.Fatal(err)
	}
	var results []forward.Result
	if err := json.Unmarshal([]byte(line), &results); err != nil {
		u.t.Fatalf("results line %q: %v", line, err)
	}
	return p, results
}

// addrOf finds the forward of port name in results.
func addrOf(t *testing.T, results []forward.Result, name string) string {
	t.Helper()
	for _, r := range results {
		if r.Data != nil && r.Data.PortName == name {
			return net.JoinHostPort(r.Data.Address, strconv.Itoa(r.Data.Port))
		}
	}
	t.Fatalf("no forward of port %q in %+v", name, results)
	return ""
}

// echo sends msg through addr to an echo server and expects it back.
func echo(addr, msg string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echo through %s: got %q, want %q", addr, got, msg)
	}
	return nil
}

func startEcho(t *testing.T) string {
	t.Helper()
	srv, err := fwdtest.StartEcho()
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// via is the --via URL of s for its user.
func via(s *fwdtest.SSHD) string { return fmt.Sprintf("ssh://%s@127.0.0.1:%d", s.User, s.Port) }

// oneService is a catalog of project with one service, its TCP port
// "main" going to targets.
func oneService(project, name string, port int, targets ...string) string {
	return fmt.Sprintf(`projects:
  - name: %s
    services:
      - name: %s
        ports:
          - {name: main, port: %d, targets: [%s]}
`, project, name, port, strings.Join(targets, ", "))
}
