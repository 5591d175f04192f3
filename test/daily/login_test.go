package daily_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// TestLoginThenForwardWithoutFlags: a fresh home, one fwd login, and then
// forwards, ls and status need no gateway, token or trust flag.
func TestLoginThenForwardWithoutFlags(t *testing.T) {
	gw := shop(t)
	sh := newShell(t)
	r := sh.run(gw.Token+"\n", "login", "--gateway", gw.Addr, "--fingerprint", gw.Fingerprint, "--name", "test", "--project", "shop")
	if r.code != 0 || !strings.Contains(r.out, `as context "test"`) || !strings.Contains(r.out, "credentials.yaml") {
		t.Fatalf("fwd login: exit %d, out %q, stderr %q; want it to say where the token went", r.code, r.out, r.stderr)
	}
	cfg := filepath.Join(sh.dir, "config", "fwd", "config.yaml")
	info, err := os.Stat(cfg)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config %s: %v, mode %v; want 0600", cfg, err, info.Mode().Perm())
	}
	if b, _ := os.ReadFile(cfg); strings.Contains(string(b), gw.Token) {
		t.Fatal("the token is in config.yaml")
	}
	client := sh.start("all", "--skipHostnames", "-o", "json")
	line, err := client.FirstLine(30 * time.Second)
	if err != nil || !strings.Contains(line, `"id":"db"`) {
		t.Fatalf("fwd all with only the context: %q, %v", line, err)
	}
	if st := sh.status(client.Pid()); st.Context != "test" || st.Gateway != gw.Addr {
		t.Fatalf("status %+v: want context test on %s", st, gw.Addr)
	}
	list := sh.run("", "context", "list", "-o", "json")
	var rows []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
		Project string `json:"project"`
	}
	if err := json.Unmarshal([]byte(list.out), &rows); err != nil || len(rows) != 1 || !rows[0].Current || rows[0].Project != "shop" {
		t.Fatalf("fwd context list: %q, %v", list.out, err)
	}
	if r := sh.run("", "logout"); r.code != 0 {
		t.Fatalf("fwd logout: exit %d: %s", r.code, r.stderr)
	}
	if r := sh.run("", "all", "--skipHostnames"); r.code != 3 || !strings.Contains(r.stderr, "no token, and no SSH key offered") || !strings.Contains(r.stderr, "run fwd login") {
		t.Fatalf("fwd all after logout: exit %d, %q", r.code, r.stderr)
	}
}

// TestLoginRefusals: an unknown certificate without a terminal, a wrong
// token and a token on the command line are refused, and nothing is saved.
func TestLoginRefusals(t *testing.T) {
	gw := shop(t)
	sh := newShell(t)
	if r := sh.run(gw.Token, "login", "--gateway", gw.Addr); r.code != 3 || !strings.Contains(r.stderr, "--fingerprint "+gw.Fingerprint) {
		t.Fatalf("login to an unknown certificate without a terminal: exit %d, %q; want 3 naming its fingerprint", r.code, r.stderr)
	}
	if r := sh.run("fwd_wrong", "login", "--gateway", gw.Addr, "--fingerprint", gw.Fingerprint); r.code != 3 {
		t.Fatalf("login with a wrong token: exit %d, %q", r.code, r.stderr)
	}
	if r := sh.run("", "login", "--gateway", gw.Addr, "--token", gw.Token); r.code != 2 {
		t.Fatalf("login with --token: exit %d, want a usage error (no token in argv)", r.code)
	}
	if _, err := os.Stat(filepath.Join(sh.dir, "config", "fwd", "config.yaml")); err == nil {
		t.Fatal("a refused login saved a context")
	}
	// The test CA vouches for the gateway: --ca needs no fingerprint.
	r := sh.run(gw.Token, "login", "--gateway", gw.Addr, "--ca", fwdtest.Testdata("certs", "ca.pem"), "--name", "by-ca")
	if r.code != 0 {
		t.Fatalf("login with --ca: exit %d, %q", r.code, r.stderr)
	}
}

// TestConcurrentLogins: logins at once lose no context.
func TestConcurrentLogins(t *testing.T) {
	gw := shop(t)
	sh := newShell(t)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := sh.run(gw.Token, "login", "--gateway", gw.Addr, "--fingerprint", gw.Fingerprint, "--name", fmt.Sprintf("ctx%d", i))
			if r.code != 0 {
				t.Errorf("login %d: exit %d, %q", i, r.code, r.stderr)
			}
		}()
	}
	wg.Wait()
	list := sh.run("", "context", "list", "-o", "json")
	for i := range 6 {
		if !strings.Contains(list.out, fmt.Sprintf(`"name":"ctx%d"`, i)) {
			t.Errorf("context ctx%d lost: %s", i, list.out)
		}
	}
}
