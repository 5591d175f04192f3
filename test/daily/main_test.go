// Package daily_test drives the real fwd binary the way a developer lives
// with it every day: saved gateways (login, contexts), fwd status and fwd
// stop from a second terminal, fwd exec, .env files and completion. Each
// command is a separate process; gateways run in-process (fwdtest).
package daily_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// fwdBin is the fwd binary TestMain builds.
var fwdBin string

func TestMain(m *testing.M) { os.Exit(fwdtest.RunWithFwd(m, &fwdBin)) }

// shell is one developer's environment: a home, config and runtime
// directories of its own, and the variables every fwd it starts gets.
type shell struct {
	t   *testing.T
	env []string
	dir string
}

func newShell(t *testing.T, extra ...string) *shell {
	dir := t.TempDir()
	env := []string{
		"HOME=" + filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"FWD_RUNTIME_DIR=" + filepath.Join(dir, "run"),
		"FWD_NO_KEYRING=1",
		"NO_COLOR=1",
	}
	for _, d := range []string{"home", "config", "cache"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	return &shell{t: t, env: append(cleanEnv(), append(env, extra...)...), dir: dir}
}

// cleanEnv is this process's environment without fwd's own variables, so
// that a developer's settings never leak into a test.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FWD_") && !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") {
			out = append(out, kv)
		}
	}
	return out
}

// with returns a copy of the shell with more variables set.
func (sh *shell) with(kv ...string) *shell {
	return &shell{t: sh.t, env: append(append([]string(nil), sh.env...), kv...), dir: sh.dir}
}

// start runs a long-lived fwd command; it is stopped (SIGINT) when the
// test ends.
func (sh *shell) start(args ...string) *fwdtest.Process {
	sh.t.Helper()
	return fwdtest.StartProcessT(sh.t, "fwd "+args[0], fwdtest.ProcessOptions{
		Env: sh.env, StopSignal: syscall.SIGINT, StdoutLines: true,
	}, append([]string{fwdBin}, args...)...)
}

// result is what one finished fwd command printed and how it exited.
type result struct {
	code        int
	out, stderr string
}

// run runs a fwd command to completion, with stdin.
func (sh *shell) run(stdin string, args ...string) result {
	sh.t.Helper()
	cmd := exec.Command(fwdBin, args...)
	cmd.Env = sh.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		sh.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		sh.t.Fatalf("fwd %s still running after 60s; stderr:\n%s", strings.Join(args, " "), errb.String())
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

// hostsFile is a hosts file of the shell's own.
func (sh *shell) hostsFile() string {
	p := filepath.Join(sh.dir, "hosts")
	if _, err := os.Stat(p); err != nil {
		os.WriteFile(p, []byte("127.0.0.1 localhost\n"), 0o644)
	}
	return p
}
