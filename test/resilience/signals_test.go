package resilience_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// clientWithHosts starts `fwd service` against gw, writing its hostnames to
// a hosts file of the test's own, and returns the process and the file.
func clientWithHosts(t *testing.T, gw *gateway, tok token, project, name string) (*fwdtest.Process, string) {
	t.Helper()
	hostsFile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hostsFile, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"FWD_GATEWAY=" + gw.Listen, "FWD_TOKEN=" + tok.Token, "FWD_FINGERPRINT=" + gw.Fingerprint}
	p := startProc(t, "fwd service", env, fwdBin, "service", "--service", name, "--project", project, "--hosts-file", hostsFile, "-o", "json")
	line := firstLine(t, p, 30*time.Second)
	if !strings.Contains(line, `"id":"`+name+`"`) {
		t.Fatalf("client's first line %q", line)
	}
	if b, _ := os.ReadFile(hostsFile); !strings.Contains(string(b), " "+name+" "+name+"."+project) {
		t.Fatalf("client wrote no hostnames:\n%s", b)
	}
	return p, hostsFile
}

func echoTarget(t *testing.T) string {
	t.Helper()
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	return echo.Addr
}

// TestSIGHUPCleansUp: closing the terminal (SIGHUP) ends a client as
// SIGTERM does, hosts block removed and exit 0. The gateway, a daemon,
// reloads its config on SIGHUP and keeps serving; SIGTERM then drains it
// and it exits 0.
func TestSIGHUPCleansUp(t *testing.T) {
	tok := newToken(t, "shop")
	gw := startGateway(t, writeConfig(t, t.TempDir(), "127.0.0.1:0", "shop", tok, service{"api", 18404, echoTarget(t)}), "", "")
	client, hostsFile := clientWithHosts(t, gw, tok, "shop", "api")
	if err := client.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !client.Wait(10 * time.Second) {
		t.Fatal("client still running 10s after SIGHUP")
	}
	if code := client.ExitCode(); code != 0 {
		t.Fatalf("client exit %d after SIGHUP, want 0; stderr:\n%s", code, client.Output())
	}
	if b, _ := os.ReadFile(hostsFile); string(b) != "127.0.0.1 localhost\n" {
		t.Fatalf("hosts file after SIGHUP:\n%s", b)
	}
	if err := gw.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(gw.Output(), "config reloaded"); {
		if gw.Exited() || time.Now().After(deadline) {
			t.Fatalf("gateway did not reload on SIGHUP (exited: %v); stderr:\n%s", gw.Exited(), gw.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	again, _ := clientWithHosts(t, gw, tok, "shop", "api")
	if again.Exited() {
		t.Fatalf("a client cannot log in after the gateway's SIGHUP:\n%s", again.Output())
	}
	if err := gw.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !gw.Wait(15 * time.Second) {
		t.Fatal("gateway still running 15s after SIGTERM")
	}
	if code := gw.ExitCode(); code != 0 || !strings.Contains(gw.Output(), "draining") {
		t.Fatalf("gateway exit %d after SIGTERM, want 0 after draining; stderr:\n%s", code, gw.Output())
	}
}

// TestRemovedTokenEndsClient: the gateway comes back without the client's
// token. The client must say the token was refused, remove its hostnames
// and exit 3, instead of retrying for ever.
func TestRemovedTokenEndsClient(t *testing.T) {
	dir := t.TempDir()
	tok, other := newToken(t, "shop"), newToken(t, "shop")
	target := echoTarget(t)
	const listen = "127.0.0.1:18405"
	cfg := writeConfig(t, dir, listen, "shop", tok, service{"api", 18406, target})
	gw := startGateway(t, cfg, "", "")
	client, hostsFile := clientWithHosts(t, gw, tok, "shop", "api")
	gw.Signal(syscall.SIGTERM)
	if !gw.Wait(15 * time.Second) {
		t.Fatal("gateway did not stop")
	}
	writeConfig(t, dir, listen, "shop", other, service{"api", 18406, target})
	startGateway(t, cfg, "", "")
	if !client.Wait(15 * time.Second) {
		t.Fatalf("client still running 15s after its token was removed; stderr:\n%s", client.Output())
	}
	stderr := client.Output()
	if code := client.ExitCode(); code != 3 || !strings.Contains(stderr, "refused the token") {
		t.Fatalf("client exit %d, want 3 saying the token was refused; stderr:\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(hostsFile); string(b) != "127.0.0.1 localhost\n" {
		t.Fatalf("hosts file after the client stopped:\n%s", b)
	}
}
