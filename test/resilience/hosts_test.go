package resilience_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

const systemHosts = "/etc/hosts"

// TestHostsRealFileIntegration runs `fwd service` with hostnames on against
// the real /etc/hosts: the service's name must resolve through getent while
// it runs, and the file must be byte for byte what it was after SIGINT, and
// after SIGKILL followed by `fwd hosts clean`.
func TestHostsRealFileIntegration(t *testing.T) {
	needRoot(t)
	fwdtest.NeedBinaries(t, "getent")

	orig, err := os.ReadFile(systemHosts)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(orig, []byte("# fwd begin ")) {
		// fwd would reclaim or keep those blocks, so the file could not be
		// expected back byte for byte.
		t.Fatalf("%s already holds fwd blocks (another fwd runs, or one was killed): run 'fwd hosts clean' first:\n%s", systemHosts, orig)
	}
	info, err := os.Stat(systemHosts)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "hosts.orig")
	if err := os.WriteFile(backup, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		now, err := os.ReadFile(systemHosts)
		if err == nil && bytes.Equal(now, orig) {
			return
		}
		// Write in place: it works for a bind-mounted /etc/hosts too.
		if err := os.WriteFile(systemHosts, orig, info.Mode().Perm()); err != nil {
			t.Errorf("RESTORING %s FAILED: %v; the original is in %s", systemHosts, err, backup)
			return
		}
		t.Logf("restored %s to its original bytes", systemHosts)
	})

	const project, name = "resilhosts", "resilsvc"
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	tok := newToken(t, project)
	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0", project, tok, service{name: name, port: 18403, target: echo.Addr})
	gw := startGateway(t, cfg, "", "")
	env := []string{"FWD_GATEWAY=" + gw.Listen, "FWD_TOKEN=" + tok.Token, "FWD_FINGERPRINT=" + gw.Fingerprint}

	// startService runs the client and checks that its hostname resolves
	// to the forwarded address.
	startService := func(t *testing.T) *fwdtest.Process {
		p := startProc(t, "fwd service", env, fwdBin, "service", "--project", project, "--service", name, "--output", "json")
		line := firstLine(t, p, 30*time.Second)
		var results []forward.Result
		if err := json.Unmarshal([]byte(line), &results); err != nil {
			t.Fatalf("fwd service's first line %q: %v", line, err)
		}
		addr := onlyAddr(t, results)
		d := results[0].Data
		fqdn := name + "." + project
		if !contains(d.Hostnames, fqdn) {
			t.Errorf("result hostnames %v lack %s", d.Hostnames, fqdn)
		}
		out, err := runErr("getent", "hosts", fqdn)
		if err != nil {
			t.Fatalf("getent hosts %s: %v\n%s\n%s now:\n%s", fqdn, err, out, systemHosts, readFile(t, systemHosts))
		}
		if f := strings.Fields(out); len(f) < 2 || f[0] != d.Address {
			t.Fatalf("getent hosts %s = %q, want %s", fqdn, strings.TrimSpace(out), d.Address)
		}
		t.Logf("getent hosts %s: %s", fqdn, strings.TrimSpace(out))
		if dialErr, err := echoOnce(addr, 1, 10*time.Second); dialErr != nil || err != nil {
			t.Fatalf("request through %s: dial %v, echo %v", addr, dialErr, err)
		}
		if bytes.Equal(readFile(t, systemHosts), orig) {
			t.Fatalf("%s unchanged while fwd service runs with hostnames", systemHosts)
		}
		return p
	}

	t.Run("SIGINT", func(t *testing.T) {
		p := startService(t)
		if err := p.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if !p.Wait(20 * time.Second) {
			t.Fatalf("fwd service still running 20s after SIGINT")
		}
		if p.Err() != nil {
			t.Errorf("fwd service after SIGINT: %v, want exit 0", p.Err())
		}
		assertHostsRestored(t, orig, info)
	})

	t.Run("SIGKILL_then_clean", func(t *testing.T) {
		p := startService(t)
		kill(t, p)
		var ee *exec.ExitError
		if !errors.As(p.Err(), &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("fwd service: %v, want killed by SIGKILL", p.Err())
		}
		if bytes.Equal(readFile(t, systemHosts), orig) {
			t.Fatalf("%s already restored after SIGKILL: nothing left for fwd hosts clean to do", systemHosts)
		}
		out := runFwd(t, 30*time.Second, nil, "hosts", "clean", "--output", "json")
		t.Logf("fwd hosts clean: %s", strings.TrimSpace(out))
		assertHostsRestored(t, orig, info)
	})
}

// assertHostsRestored checks the hosts file's bytes, and its mode, which
// fwd keeps when it replaces the file.
func assertHostsRestored(t *testing.T, orig []byte, before os.FileInfo) {
	t.Helper()
	if now := readFile(t, systemHosts); !bytes.Equal(now, orig) {
		t.Errorf("%s is not byte for byte what it was:\nbefore %q\nafter  %q", systemHosts, orig, now)
	}
	if after, err := os.Stat(systemHosts); err != nil {
		t.Error(err)
	} else if after.Mode() != before.Mode() {
		t.Errorf("%s mode changed from %v to %v", systemHosts, before.Mode(), after.Mode())
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
