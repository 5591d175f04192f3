//go:build unix

package hosts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPermissionDenied: the CLI tells "run with sudo" from other failures
// by fs.ErrPermission, so that is what an unwritable hosts file must give.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which bypasses file permissions; run the tests as an ordinary user to cover this")
	}
	for _, lockExists := range []bool{false, true} {
		name := map[bool]string{false: "no lock file", true: "lock file writable"}[lockExists]
		t.Run(name, func(t *testing.T) {
			orig := readFixture(t, "basic.hosts")
			path := writeHosts(t, orig)
			dir := filepath.Dir(path)
			if lockExists {
				must(t, os.WriteFile(lockPath(path), nil, 0o666))
			}
			must(t, os.Chmod(path, 0o444))
			must(t, os.Chmod(dir, 0o555))
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
			before := stat(t, path)

			err := New(path).Set(newOwner(), entriesA)
			if !errors.Is(err, fs.ErrPermission) || !errors.Is(err, ErrNotWritable) {
				t.Fatalf("Set = %v, want fs.ErrPermission and ErrNotWritable", err)
			}
			if !strings.HasPrefix(err.Error(), "hosts: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			checkUntouched(t, path, orig, before)
			if blocks, err := New(path).Blocks(); err != nil || len(blocks) != 0 {
				t.Fatalf("Blocks = %v, %v; listing must work without write access", blocks, err)
			}
		})
	}
}

func TestKeepsModeAndOwner(t *testing.T) {
	path := writeHosts(t, readFixture(t, "basic.hosts"))
	must(t, os.Chmod(path, 0o640))
	asRoot := os.Geteuid() == 0
	if asRoot {
		must(t, os.Chown(path, 12345, 23456))
	}
	must(t, New(path).Set(newOwner(), entriesA))
	fi := stat(t, path)
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && asRoot && (st.Uid != 12345 || st.Gid != 23456) {
		t.Fatalf("owner %d:%d, want 12345:23456", st.Uid, st.Gid)
	}
}

// TestLockHeldTooLong: a holder that keeps the lock (a stopped fwd) makes a
// writer give up with ErrLockBusy after File.LockWait, leaving the file as it
// was, instead of hanging; listing goes on without the lock.
func TestLockHeldTooLong(t *testing.T) {
	orig := readFixture(t, "basic.hosts")
	path := writeHosts(t, orig)
	before := stat(t, path)
	unlock, err := lockFile(lockPath(path), true, DefaultLockWait)
	must(t, err)
	waiter := New(path)
	waiter.LockWait = 200 * time.Millisecond

	err = waiter.Set(newOwner(), entriesA)
	if !errors.Is(err, ErrLockBusy) || !strings.Contains(err.Error(), lockPath(path)) {
		t.Fatalf("Set with the lock held = %v, want ErrLockBusy naming the lock file", err)
	}
	if strings.Contains(err.Error(), "hosts: hosts:") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q is not one clean line", err)
	}
	checkUntouched(t, path, orig, before)
	if blocks, err := New(path).Blocks(); err != nil || len(blocks) != 0 {
		t.Fatalf("Blocks with the lock held = %v, %v", blocks, err)
	}

	unlock()
	o := newOwner()
	must(t, New(path).Set(o, entriesA))
	checkBlock(t, New(path), o, entriesA)
}
