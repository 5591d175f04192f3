package contexts

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

func TestTokenFile(t *testing.T) {
	s := fileStore(t)
	where, err := s.Login(testContext("a"), "tok-a")
	must(t, err)
	if where != s.CredentialsPath() {
		t.Fatalf("token saved in %q, want %s", where, s.CredentialsPath())
	}
	if runtime.GOOS != "windows" {
		if m := mode(t, s.CredentialsPath()); m != 0o600 {
			t.Fatalf("credentials mode %o, want 600", m)
		}
	}
	if tok, err := s.Token("a"); err != nil || tok != "tok-a" {
		t.Fatalf("Token(a) = %q, %v", tok, err)
	}

	must(t, s.Rename("a", "b"))
	if tok, err := s.Token("b"); err != nil || tok != "tok-a" {
		t.Fatalf("after rename, Token(b) = %q, %v; want the token moved", tok, err)
	}
	if _, err := s.Token("a"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after rename, Token(a) = %v; want ErrNoToken", err)
	}

	must(t, s.Delete("b"))
	if _, err := s.Token("b"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after delete, Token(b) = %v; want ErrNoToken", err)
	}
	if strings.Contains(string(readBytes(t, s.CredentialsPath())), "tok-a") {
		t.Fatal("the deleted context's token is still in the file")
	}

	// DeleteToken alone, as fwd logout may: the context stays.
	_, err = s.Login(testContext("c"), "tok-c")
	must(t, err)
	must(t, s.DeleteToken("c"))
	must(t, s.DeleteToken("c")) // a token in neither place is no error
	if _, err := s.Token("c"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after DeleteToken, Token(c) = %v", err)
	}
	c, err := s.Load()
	must(t, err)
	if _, ok := c.Get("c"); !ok {
		t.Fatal("DeleteToken deleted the context")
	}
	checkNoTemps(t, s.Dir())
}

func TestTokenRefused(t *testing.T) {
	s := fileStore(t)
	for _, tc := range []struct{ name, token string }{{"a", ""}, {"a", "two words"}, {"a", "x\n"}, {"-a", "tok"}} {
		if _, err := s.SaveToken(tc.name, tc.token); !errors.Is(err, ErrInvalid) {
			t.Errorf("SaveToken(%q, %q) = %v, want ErrInvalid", tc.name, tc.token, err)
		}
	}
	if _, err := s.Login(testContext("a"), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Login with an empty token: %v", err)
	}
	if _, err := os.Stat(s.ConfigPath()); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused login wrote the config")
	}
}

// TestKeyringMock goes through go-keyring itself, its mock standing in for
// the OS (TestMain called keyring.MockInit).
func TestKeyringMock(t *testing.T) {
	s := OpenDir(filepath.Join(t.TempDir(), "fwd"), Options{})
	// A stale copy in the file, from a time without a keyring.
	writeBytes(t, s.CredentialsPath(), []byte("tokens:\n  mock-a: old\n"))
	where, err := s.Login(testContext("mock-a"), "tok-a")
	must(t, err)
	if where != InKeyring {
		t.Fatalf("saved in %q, want %q", where, InKeyring)
	}
	if got, err := keyring.Get("fwd", "mock-a"); err != nil || got != "tok-a" {
		t.Fatalf("go-keyring has %q, %v", got, err)
	}
	if strings.Contains(string(readBytes(t, s.CredentialsPath())), "mock-a") {
		t.Fatal("the stale file copy was kept: it would shadow the keyring's token")
	}
	if tok, err := s.Token("mock-a"); err != nil || tok != "tok-a" {
		t.Fatalf("Token = %q, %v", tok, err)
	}

	must(t, s.Rename("mock-a", "mock-b"))
	if got, err := keyring.Get("fwd", "mock-b"); err != nil || got != "tok-a" {
		t.Fatalf("after rename, go-keyring has %q, %v under the new name", got, err)
	}
	if _, err := keyring.Get("fwd", "mock-a"); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("after rename, the old name's token is still there: %v", err)
	}
	must(t, s.Delete("mock-b"))
	if _, err := keyring.Get("fwd", "mock-b"); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("after delete, go-keyring still has the token: %v", err)
	}
	if _, err := s.Token("mock-b"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after delete, Token = %v, want ErrNoToken", err)
	}
	if s.KeyringError() != nil {
		t.Fatalf("KeyringError = %v with a working keyring", s.KeyringError())
	}
}

// TestKeyringFailsFallsBack: a keyring whose first call fails (a D-Bus
// session without a Secret Service, say) is treated as absent.
func TestKeyringFailsFallsBack(t *testing.T) {
	k := newFakeKeyring()
	k.err = errors.New("org.freedesktop.secrets was not provided by any .service files")
	s := storeWith(t, k, 0)
	where, err := s.SaveToken("a", "tok")
	must(t, err)
	if where != s.CredentialsPath() {
		t.Fatalf("saved in %q, want the file", where)
	}
	if s.KeyringError() == nil || !strings.Contains(s.KeyringError().Error(), "service files") {
		t.Fatalf("KeyringError = %v, want the keyring's failure", s.KeyringError())
	}
	must(t, s.DeleteToken("a"))
	_, err = s.Token("a")
	if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "not usable") {
		t.Fatalf("Token = %v, want ErrNoToken saying the keyring is not usable", err)
	}
	if n := k.callCount(); n != 1 {
		t.Fatalf("%d keyring calls, want 1: a keyring that failed is not asked again", n)
	}
}

// TestKeyringFailsAfterAnswering: once the keyring has answered, its
// failures are errors, except for a save, which still has the file.
func TestKeyringFailsAfterAnswering(t *testing.T) {
	k := newFakeKeyring()
	s := storeWith(t, k, 0)
	where, err := s.SaveToken("a", "tok")
	must(t, err)
	if where != InKeyring {
		t.Fatalf("saved in %q", where)
	}
	k.mu.Lock()
	k.err = errors.New("keychain locked")
	k.mu.Unlock()
	if _, err := s.Token("a"); err == nil || errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "keychain locked") {
		t.Fatalf("Token = %v, want the keyring's error", err)
	}
	if err := s.DeleteToken("a"); err == nil || !strings.Contains(err.Error(), "keychain locked") {
		t.Fatalf("DeleteToken = %v, want the keyring's error", err)
	}
	if where, err := s.SaveToken("b", "tok"); err != nil || where != s.CredentialsPath() {
		t.Fatalf("SaveToken = %q, %v; want the file", where, err)
	}
}

// TestKeyringTimeout: a keyring that never answers costs one timeout, then
// is not asked again.
func TestKeyringTimeout(t *testing.T) {
	k := newFakeKeyring()
	k.hang = make(chan struct{})
	t.Cleanup(func() { close(k.hang) })
	const bound = 200 * time.Millisecond
	s := storeWith(t, k, bound)

	start := time.Now()
	where, err := s.SaveToken("a", "tok")
	elapsed := time.Since(start)
	must(t, err)
	if where != s.CredentialsPath() {
		t.Fatalf("saved in %q, want the file", where)
	}
	if elapsed < bound || elapsed > bound+2*time.Second {
		t.Fatalf("took %s, want about the %s bound", elapsed, bound)
	}
	if !strings.Contains(s.KeyringError().Error(), "did not answer within") {
		t.Fatalf("KeyringError = %v", s.KeyringError())
	}
	start = time.Now()
	_, err = s.SaveToken("b", "tok")
	must(t, err)
	must(t, s.DeleteToken("b"))
	if elapsed := time.Since(start); elapsed > bound/2 {
		t.Fatalf("later calls took %s: the keyring was asked again", elapsed)
	}
}

// TestNoSessionBusFallsBack runs go-keyring's real provider in a child
// with no D-Bus session: through Open, which then tries no keyring, and
// through OpenDir, which lets go-keyring look for a bus itself. Either way
// the token must go to the file within the bound.
func TestNoSessionBusFallsBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the D-Bus path is Linux's")
	}
	if noSessionBus(func(string) string { return "" }) == nil {
		t.Skip("this machine has a per-user D-Bus session (/run/user/UID/bus): the real keyring would be reached")
	}
	t.Run("Open", func(t *testing.T) {
		xdg := t.TempDir()
		where, ms, why := runRealKeyring(t, "open", "XDG_CONFIG_HOME="+xdg)
		if want := filepath.Join(xdg, "fwd", "credentials.yaml"); where != want {
			t.Fatalf("saved in %q, want %s", where, want)
		}
		if ms > 500 || !strings.Contains(why, "no D-Bus session") {
			t.Fatalf("took %dms (%s); want no keyring call at all", ms, why)
		}
	})
	t.Run("OpenDir", func(t *testing.T) {
		if _, err := exec.LookPath("dbus-launch"); err == nil {
			t.Skip("dbus-launch is installed: go-keyring would start a session bus (and maybe a keyring) for the test")
		}
		dir := filepath.Join(t.TempDir(), "fwd")
		where, ms, why := runRealKeyring(t, dir)
		if where != filepath.Join(dir, "credentials.yaml") || ms > 2500 {
			t.Fatalf("saved in %q after %dms (%s); want the file within the 2s bound", where, ms, why)
		}
		t.Logf("go-keyring without a session bus: %s, after %dms", why, ms)
	})
}

// runRealKeyring runs realKeyringChild with mode and env, without any
// D-Bus session variable, and returns what it printed.
func runRealKeyring(t *testing.T, mode string, env ...string) (where string, ms int, why string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append(env, helperEnv+"=real-keyring", helperDirEnv+"="+mode)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderrOf(err))
	}
	lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 3)
	if len(lines) != 3 {
		t.Fatalf("child printed %q", out)
	}
	ms, err = strconv.Atoi(lines[1])
	must(t, err)
	return lines[0], ms, lines[2]
}

func stderrOf(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}

// TestRenameDropsOrphanToken: a context without a token renamed to a name
// that has a token left over does not inherit it.
func TestRenameDropsOrphanToken(t *testing.T) {
	s := fileStore(t)
	must(t, s.Put(testContext("a")))
	_, err := s.SaveToken("b", "left-over")
	must(t, err)
	must(t, s.Rename("a", "b"))
	if tok, err := s.Token("b"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Token(b) = %q, %v; want ErrNoToken", tok, err)
	}
}
