package daily_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// userEnv is a .env of the developer's own: comments, export lines, CRLF,
// a key fwd would also set, and no final newline.
const userEnv = "# my settings\r\nexport EDITOR=vim\r\nFWD_SHOP_DB_POSTGRES_PORT=1\r\nLOG_LEVEL='debug'"

// TestEnvFileKeepsUserLines: fwd's block comes and goes; every other byte
// stays, through SIGINT, and through SIGKILL once the next run reclaims the
// dead block. The user's own key is never shadowed.
func TestEnvFileKeepsUserLines(t *testing.T) {
	gw := shop(t)
	sh := newShell(t).with(gatewayEnv(gw)...)
	path := filepath.Join(sh.dir, ".env")
	if err := os.WriteFile(path, []byte(userEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (*fwdtest.Process, string) {
		p := sh.start("all", "shop", "--skipHostnames", "--env-file", path, "-o", "json")
		if _, err := p.FirstLine(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		return p, string(b)
	}
	p, during := run()
	if !strings.HasPrefix(during, userEnv) || !strings.Contains(during, "FWD_SHOP_API_HTTP_PORT=28301") ||
		strings.Count(during, "FWD_SHOP_DB_POSTGRES_PORT=") != 1 {
		t.Fatalf("env file while fwd runs:\n%s", during)
	}
	endWith(t, p, syscall.SIGINT)
	if b, _ := os.ReadFile(path); string(b) != userEnv {
		t.Fatalf("after SIGINT the env file is %q, want the user's %q", b, userEnv)
	}
	p, _ = run()
	endWith(t, p, syscall.SIGKILL)
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "# fwd begin") {
		t.Fatalf("after SIGKILL fwd's block should be left for the next run:\n%s", b)
	}
	p, during = run()
	if strings.Count(during, "# fwd begin") != 1 {
		t.Fatalf("the dead run's block was not reclaimed:\n%s", during)
	}
	endWith(t, p, syscall.SIGTERM)
	if b, _ := os.ReadFile(path); string(b) != userEnv {
		t.Fatalf("after the dead block was reclaimed and fwd stopped: %q, want %q", b, userEnv)
	}
}

// TestEnvFileCreated0600: a missing .env is created only readable by its
// owner, since it may hold secrets.
func TestEnvFileCreated0600(t *testing.T) {
	gw := shop(t)
	sh := newShell(t).with(gatewayEnv(gw)...)
	path := filepath.Join(sh.dir, "new.env")
	p := sh.start("all", "shop", "--skipHostnames", "--env-file", path, "-o", "json")
	if _, err := p.FirstLine(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("created env file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
}

// TestOutputEnvAndDotenv: once the forwards listen, -o env prints export
// lines and -o dotenv .env lines.
func TestOutputEnvAndDotenv(t *testing.T) {
	gw := shop(t)
	sh := newShell(t).with(gatewayEnv(gw)...)
	for format, want := range map[string]string{"env": "export FWD_SHOP_API_HTTP_ADDR='127.", "dotenv": "FWD_SHOP_API_HTTP_ADDR=127."} {
		p := sh.start("all", "shop", "--skipHostnames", "-o", format)
		line, err := p.FirstLine(30 * time.Second)
		if err != nil || !strings.HasPrefix(line, want) || !strings.Contains(line, ":28301") {
			t.Errorf("-o %s first line %q, %v; want it to start %q", format, line, err, want)
		}
	}
}

// endWith ends a running fwd with sig and waits for it.
func endWith(t *testing.T, p *fwdtest.Process, sig syscall.Signal) {
	t.Helper()
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if !p.Wait(15 * time.Second) {
		t.Fatalf("fwd still running 15s after %v", sig)
	}
}
