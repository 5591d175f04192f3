package blockfile

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const helperEnv = "FWD_BLOCKFILE_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "wait" {
		// Lives until its stdin closes, so a test can hold a live PID.
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startWaiter starts a helper process that lives until stop is called.
func startWaiter(t *testing.T) (pid int, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=wait")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			stdin.Close()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return cmd.Process.Pid, stop
}

// renameFailsFS is a bind mount: renames onto the file fail with err (EBUSY
// by default), while renames onto fwd's own dot files beside it work.
type renameFailsFS struct {
	OSFS
	err error
}

func (r renameFailsFS) Rename(oldname, newname string) error {
	if strings.HasPrefix(filepath.Base(newname), ".") {
		return r.OSFS.Rename(oldname, newname)
	}
	err := r.err
	if err == nil {
		err = syscall.EBUSY
	}
	return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
}

var errCrash = errors.New("simulated crash")

// crashFS is a bind mount whose writer dies in the middle of an in-place
// write, after its first keep bytes: WriteInPlace panics with errCrash
// instead of returning.
type crashFS struct {
	renameFailsFS
	keep int
}

func (c crashFS) WriteInPlace(name string, data []byte) error {
	if err := c.renameFailsFS.WriteInPlace(name, data[:min(c.keep, len(data))]); err != nil {
		return err
	}
	panic(errCrash)
}

func crash(t *testing.T, op func() error) {
	t.Helper()
	defer func() {
		if r := recover(); r != errCrash {
			panic(r)
		}
	}()
	err := op()
	t.Fatalf("no crash; the call returned %v", err)
}

func fixtureNames(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(fixtures, "*.hosts"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return names
}

// fixtures are the hosts files of hosts' tests: their bytes (BOM, CRLF,
// mixed endings, no final newline, foreign blocks) are what any kind of
// file may hold.
const fixtures = "../../testdata/hosts"

func writeFile(t testing.TB, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(path, content, 0o644))
	return path
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}

func randomSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newOwner() Owner {
	me := CurrentOwner()
	return Owner{PID: me.PID, Start: me.Start, Session: randomSession()}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustEqualBytes(t testing.TB, got, want []byte, what string) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func checkNoTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".fwd-tmp-") || strings.HasSuffix(e.Name(), ".fwd-backup") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

// bodyOf returns the body of o's block in f, failing if there is none.
func bodyOf(t testing.TB, f *File, o Owner) []string {
	t.Helper()
	blocks, err := f.Blocks()
	must(t, err)
	for _, b := range blocks {
		if b.Owner == o {
			return b.Body
		}
	}
	t.Fatalf("no block of %+v in %+v", o, blocks)
	return nil
}
