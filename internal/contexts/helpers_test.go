package contexts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// Helper processes: the test binary re-executes itself with helperEnv set
// to the role the child plays, and helperDirEnv to the Store's directory.
const (
	helperEnv     = "FWD_CONTEXTS_TEST_HELPER"
	helperDirEnv  = "FWD_CONTEXTS_TEST_DIR"
	helperNameEnv = "FWD_CONTEXTS_TEST_NAME"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		// No test may reach the real keyring: every Store that does not
		// set NoKeyring or a fake backend talks to go-keyring's mock. The
		// one test of the real provider runs in a child (realKeyringChild).
		keyring.MockInit()
		os.Exit(m.Run())
	case "login":
		exit(loginChild(os.Getenv(helperDirEnv), os.Getenv(helperNameEnv)))
	case "real-keyring":
		exit(realKeyringChild(os.Getenv(helperDirEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// loginChild waits for its stdin to close, so that the parent can release
// all children at once, then logs in to a context of its own.
func loginChild(dir, name string) error {
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	_, err := OpenDir(dir, Options{NoKeyring: true}).Login(testContext(name), "token-"+name)
	return err
}

// realKeyringChild saves a token with go-keyring's real provider, the
// environment of this process deciding, and prints where it went and how
// long that took.
func realKeyringChild(mode string) error {
	start := time.Now()
	var s *Store
	switch mode {
	case "open":
		var err error
		if s, err = Open(Options{}); err != nil {
			return err
		}
	default:
		// OpenDir reads no environment, so go-keyring is asked whatever
		// the session: what it does with no D-Bus session is under test.
		s = OpenDir(mode, Options{KeyringTimeout: 2 * time.Second})
	}
	where, err := s.SaveToken("real", "token-real")
	if err != nil {
		return err
	}
	fmt.Printf("%s\n%d\n%v\n", where, time.Since(start).Milliseconds(), s.KeyringError())
	return nil
}

// testContext is a valid context called name.
func testContext(name string) Context {
	return Context{Name: name, Gateway: "gw.example.com:7443",
		Fingerprint: "sha256:" + strings.Repeat("ab", 32), Project: "web"}
}

// fileStore is a Store in a fresh directory that keeps tokens in the file.
func fileStore(t *testing.T) *Store {
	t.Helper()
	return OpenDir(filepath.Join(t.TempDir(), "fwd"), Options{NoKeyring: true})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mode(t testing.TB, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func readBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeBytes(t testing.TB, path string, data []byte) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	must(t, os.WriteFile(path, data, 0o600))
}

// checkNoTemps fails if a temporary file is left in dir.
func checkNoTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// fakeKeyring is an in-memory keyring that can fail or hang on demand.
type fakeKeyring struct {
	mu      sync.Mutex
	secrets map[string]string
	err     error         // every call fails with it, if set
	hang    chan struct{} // every call waits for it to close, if set
	calls   int
}

func newFakeKeyring() *fakeKeyring { return &fakeKeyring{secrets: map[string]string{}} }

func (f *fakeKeyring) enter() error {
	f.mu.Lock()
	f.calls++
	hang, err := f.hang, f.err
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	return err
}

func (f *fakeKeyring) Get(service, user string) (string, error) {
	if err := f.enter(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.secrets[service+"/"+user]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (f *fakeKeyring) Set(service, user, secret string) error {
	if err := f.enter(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[service+"/"+user] = secret
	return nil
}

func (f *fakeKeyring) Delete(service, user string) error {
	if err := f.enter(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.secrets[service+"/"+user]; !ok {
		return keyring.ErrNotFound
	}
	delete(f.secrets, service+"/"+user)
	return nil
}

func (f *fakeKeyring) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// storeWith is a Store in a fresh directory whose keyring is k.
func storeWith(t *testing.T, k secrets, timeout time.Duration) *Store {
	t.Helper()
	s := OpenDir(filepath.Join(t.TempDir(), "fwd"), Options{KeyringTimeout: timeout})
	s.keyring.backend = k
	return s
}

func fileError(t testing.TB, err error) *FileError {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v (%T), want a *FileError", err, err)
	}
	return fe
}

func mustContain(t testing.TB, data []byte, want string) {
	t.Helper()
	if !bytes.Contains(data, []byte(want)) {
		t.Fatalf("%q does not contain %q", data, want)
	}
}
