package hosts

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/txn2/txeh"
)

// Helper processes: the test binary re-executes itself with helperEnv set
// to the role the child plays.
const (
	helperEnv     = "FWD_HOSTS_TEST_HELPER"
	helperFileEnv = "FWD_HOSTS_TEST_FILE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "wait":
		// Lives until its stdin closes, so a test can hold a live PID.
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	case "hold":
		if err := holdChild(os.Getenv(helperFileEnv), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "hold child:", err)
			os.Exit(1)
		}
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	case "stress":
		if err := stressChild(os.Getenv(helperFileEnv), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "stress child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// renameFailsFS simulates a hosts file that is a bind mount (as Docker
// mounts /etc/hosts): every rename onto it fails with err, EBUSY by default,
// while writing into the file works. Renames onto fwd's own files beside it
// (the backup of an in-place write) work, as they do in such a directory.
type renameFailsFS struct {
	osFS
	err error
}

func (r renameFailsFS) Rename(oldname, newname string) error {
	if strings.HasPrefix(filepath.Base(newname), ".") {
		return r.osFS.Rename(oldname, newname)
	}
	err := r.err
	if err == nil {
		err = syscall.EBUSY
	}
	return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
}

// errCrash is what crashFS panics with.
var errCrash = errors.New("simulated crash")

// crashFS is a bind mount whose writer dies in the middle of an in-place
// write: WriteInPlace truncates the file, writes the first keep bytes of
// the new content (all of it if keep < 0), syncs, and panics with errCrash
// instead of returning. Nothing after that in the writer runs but deferred
// calls, which release the locks as the kernel would.
type crashFS struct {
	renameFailsFS
	keep int
}

func (c crashFS) WriteInPlace(name string, data []byte) error {
	if c.keep >= 0 {
		data = data[:min(c.keep, len(data))]
	}
	if err := c.renameFailsFS.WriteInPlace(name, data); err != nil {
		return err
	}
	panic(errCrash)
}

// crash runs op, which must die by crashFS.
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

// writeFailsFS is a bind mount whose in-place writes fail after truncating
// the file, the first fails times.
type writeFailsFS struct {
	renameFailsFS
	fails *int
}

func (w writeFailsFS) WriteInPlace(name string, data []byte) error {
	if *w.fails > 0 {
		*w.fails--
		if err := os.Truncate(name, 0); err != nil {
			return err
		}
		return syscall.ENOSPC
	}
	return w.renameFailsFS.WriteInPlace(name, data)
}

// testFileSystems are the filesystems every round-trip test runs against.
var testFileSystems = []struct {
	name      string
	fs        fileSystem
	bindMount bool
}{
	{"rename", osFS{}, false},
	{"bindmount", renameFailsFS{}, true},
}

func fixtureNames(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(fixtures, "*.hosts"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeHosts puts content in a fresh directory and returns the file's path.
func writeHosts(t testing.TB, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readHosts(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newOwner is a live owner: this process with a session of its own.
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

// checkNoTemps fails if a temporary file or a backup is left in dir; the
// lock file is expected and stays.
func checkNoTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".fwd-tmp-") || strings.HasSuffix(e.Name(), ".fwd-backup") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

// checkResolves reads the file with txeh's parser, as other hosts-file
// tools would, and checks that host's first address is addr.
func checkResolves(t testing.TB, path, host, addr string) {
	t.Helper()
	h, err := txeh.NewHosts(&txeh.HostsConfig{ReadFilePath: path})
	if err != nil {
		t.Fatalf("txeh cannot read %s: %v", path, err)
	}
	family := txeh.IPFamilyV4
	if strings.Contains(addr, ":") {
		family = txeh.IPFamilyV6
	}
	found, got, _ := h.HostAddressLookup(host, family)
	if !found || got != addr {
		t.Fatalf("txeh: %s resolves to %q (found %v), want %s", host, got, found, addr)
	}
}

func checkUnresolved(t testing.TB, path, host string) {
	t.Helper()
	h, err := txeh.NewHosts(&txeh.HostsConfig{ReadFilePath: path})
	if err != nil {
		t.Fatalf("txeh cannot read %s: %v", path, err)
	}
	if got := h.ListAddressesByHost(host, true); len(got) != 0 {
		t.Fatalf("txeh: %s still resolves: %v", host, got)
	}
}

func findBlock(blocks []Block, o Owner) (Block, bool) {
	i := slices.IndexFunc(blocks, func(b Block) bool { return b.Owner == o })
	if i < 0 {
		return Block{}, false
	}
	return blocks[i], true
}

func sameEntries(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool {
		return x.Address == y.Address && slices.Equal(x.Hostnames, y.Hostnames)
	})
}

func checkBlock(t testing.TB, f *File, o Owner, want []Entry) {
	t.Helper()
	blocks, err := f.Blocks()
	must(t, err)
	b, ok := findBlock(blocks, o)
	if !ok {
		t.Fatalf("no block for %+v in %+v", o, blocks)
	}
	if !sameEntries(b.Entries, want) {
		t.Fatalf("block entries %+v, want %+v", b.Entries, want)
	}
}

// checkUserLines checks, without the package's parser, that data holds
// orig's lines in order and byte for byte once fwd's lines are dropped.
// isOurs says which lines fwd wrote. orig's last line may have gained a
// newline.
func checkUserLines(data, orig []byte, isOurs func(string) bool) error {
	var user []line
	for _, l := range splitLines(data) {
		if !strings.HasPrefix(l.text, "# fwd ") && !isOurs(l.text) {
			user = append(user, l)
		}
	}
	want := splitLines(orig)
	if len(user) != len(want) {
		return fmt.Errorf("%d user lines, want %d:\n%q", len(user), len(want), data)
	}
	for i, l := range want {
		gainedNewline := i == len(want)-1 && l.eol == ""
		if user[i].text != l.text || (user[i].eol != l.eol && !gainedNewline) {
			return fmt.Errorf("user line %d is %q, want %q", i, user[i], l)
		}
	}
	return nil
}

func stat(t testing.TB, path string) fs.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// fixtures holds the hosts files tests start from (testdata/README.md).
const fixtures = "../testdata/hosts"
