package blockfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRoundTrip: over every fixture, with a working rename and on a
// simulated bind mount, Set and Remove of two owners give back the exact
// original file, with the file replaced or rewritten as each must be.
func TestRoundTrip(t *testing.T) {
	for _, fsys := range []struct {
		name      string
		fs        FileSystem
		bindMount bool
	}{{"rename", nil, false}, {"bindmount", renameFailsFS{}, true}} {
		for _, fixture := range fixtureNames(t) {
			t.Run(fsys.name+"/"+filepath.Base(fixture), func(t *testing.T) {
				orig := readFile(t, fixture)
				path := writeFile(t, orig)
				held, err := os.Open(path) // keeps the inode from being reused
				must(t, err)
				defer held.Close()
				before, err := held.Stat()
				must(t, err)
				f := &File{Path: path, FS: fsys.fs}
				a, b := newOwner(), newOwner()
				bodyA, bodyB := []string{"A=1", "  free text # not parsed"}, []string{"B=2"}

				must(t, f.Set(a, bodyA))
				must(t, f.Set(b, bodyB))
				must(t, f.Set(a, bodyB))
				if got := bodyOf(t, f, a); !slices.Equal(got, bodyB) {
					t.Fatalf("body %q, want %q", got, bodyB)
				}
				must(t, f.Remove(a))
				must(t, f.Remove(b))
				mustEqualBytes(t, readFile(t, path), orig, "after Set a, Set b, Remove a, Remove b")
				checkNoTemps(t, filepath.Dir(path))
				after, err := os.Stat(path)
				must(t, err)
				if rewritten := os.SameFile(before, after); rewritten != fsys.bindMount {
					t.Fatalf("file rewritten in place: %v, want %v", rewritten, fsys.bindMount)
				}
			})
		}
	}
}

// TestErrorsNameKind: errors start with the File's Kind, as if the caller
// had made them, and match this package's sentinels.
func TestErrorsNameKind(t *testing.T) {
	path := writeFile(t, []byte("user\n"))
	unlock, err := lockFile(lockPath(path), true, DefaultLockWait)
	must(t, err)
	busy := &File{Path: path, Kind: "envfile", LockWait: 50 * time.Millisecond}
	err = busy.Set(newOwner(), nil)
	unlock()
	want := "envfile: lock busy: another process has held " + lockPath(path) + " for over 50ms"
	if !errors.Is(err, ErrLockBusy) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Set with the lock held = %v, want ErrLockBusy starting %q", err, want)
	}

	denied := &File{Path: path, Kind: "envfile", FS: renameFailsFS{err: syscall.EACCES}}
	err = denied.Set(newOwner(), nil)
	if !errors.Is(err, ErrNotWritable) || !errors.Is(err, fs.ErrPermission) || !strings.HasPrefix(err.Error(), "envfile: not writable: ") {
		t.Fatalf("Set with rename denied = %v, want ErrNotWritable prefixed envfile", err)
	}
	err = (&File{Path: path}).Set(Owner{PID: 1}, nil)
	if err == nil || err.Error() != `blockfile: invalid owner: session "" is not 1 to 64 letters and digits` {
		t.Fatalf("Set with no session = %v", err)
	}
	mustEqualBytes(t, readFile(t, path), []byte("user\n"), "file after failed calls")
}

// TestSetFunc: body sees the text of every line outside the blocks, its
// own block's and other owners' excluded, an unterminated marker too.
func TestSetFunc(t *testing.T) {
	path := writeFile(t, []byte("one\r\n# fwd begin pid=1 start=1 session=broken\nthree\nfour"))
	f := &File{Path: path}
	a, b := newOwner(), newOwner()
	must(t, f.Set(b, []string{"b's"}))
	must(t, f.Set(a, []string{"a's"}))
	var seen []string
	must(t, f.SetFunc(a, func(outside []string) []string {
		seen = outside
		return []string{"a's again"}
	}))
	if want := []string{"one", "three", "four"}; !slices.Equal(seen, want) {
		t.Fatalf("outside = %q, want %q", seen, want)
	}
	if got := bodyOf(t, f, a); !slices.Equal(got, []string{"a's again"}) {
		t.Fatalf("body %q", got)
	}
}

// TestCleanOnSet: with CleanOnSet, a Set also removes the blocks of dead
// owners; without, it leaves them for Clean.
func TestCleanOnSet(t *testing.T) {
	pid, stop := startWaiter(t)
	start, _ := ProcessStart(pid)
	dead := Owner{PID: pid, Start: start, Session: randomSession()}
	stop()
	for _, clean := range []bool{false, true} {
		path := writeFile(t, []byte("user\n"))
		f := &File{Path: path, CleanOnSet: clean}
		must(t, f.Set(dead, []string{"stale"}))
		live := newOwner()
		must(t, f.Set(live, []string{"fresh"}))
		blocks, err := f.Blocks()
		must(t, err)
		if kept := len(blocks) == 2; kept == clean {
			t.Fatalf("CleanOnSet %v left %+v", clean, blocks)
		}
		removed, err := f.Clean()
		must(t, err)
		if len(removed) != map[bool]int{false: 1, true: 0}[clean] {
			t.Fatalf("CleanOnSet %v: Clean then removed %+v", clean, removed)
		}
	}
}

// TestInvalidBody: a body line that would not stay one line of the block
// is refused, and the file is left alone.
func TestInvalidBody(t *testing.T) {
	o := newOwner()
	for _, bad := range []string{"a\nb", "a\r", "# fwd end session=" + o.Session, "# fwd begin pid=1 start=2 session=x", "# fwd end session=other"} {
		path := writeFile(t, []byte("user\n"))
		err := (&File{Path: path, Kind: "k"}).Set(o, []string{"fine", bad})
		if err == nil || !strings.HasPrefix(err.Error(), "k: block line ") {
			t.Errorf("Set with %q = %v, want a refusal", bad, err)
		}
		mustEqualBytes(t, readFile(t, path), []byte("user\n"), "file")
	}
	// Lines that merely look alike are fine.
	path := writeFile(t, nil)
	f := &File{Path: path}
	body := []string{"# fwd begin", "# fwd end", "# fwd endsession=x", "#fwd end session=x"}
	must(t, f.Set(o, body))
	if got := bodyOf(t, f, o); !slices.Equal(got, body) {
		t.Fatalf("body %q, want %q", got, body)
	}
}

// TestInPlaceCrashRecovered: a writer killed in the middle of an in-place
// write leaves the file partial with the backup beside it; the next call
// of another File puts back the content from before, then does its work.
func TestInPlaceCrashRecovered(t *testing.T) {
	path := writeFile(t, []byte("user line\n"))
	live := newOwner()
	must(t, (&File{Path: path, FS: renameFailsFS{}}).Set(live, []string{"kept"}))
	orig := readFile(t, path)

	crash(t, func() error { return (&File{Path: path, FS: crashFS{keep: 7}}).Set(newOwner(), []string{"lost"}) })
	if got := readFile(t, path); len(got) != 7 {
		t.Fatalf("after the crash the file is %q, want 7 bytes", got)
	}
	mustEqualBytes(t, readFile(t, backupPath(path)), orig, "backup")

	next := &File{Path: path, FS: renameFailsFS{}}
	o := newOwner()
	must(t, next.Set(o, []string{"new"}))
	blocks, err := next.Blocks()
	must(t, err)
	if len(blocks) != 2 || blocks[0].Owner != live || blocks[1].Owner != o {
		t.Fatalf("blocks after recovery: %+v", blocks)
	}
	must(t, next.Remove(o))
	mustEqualBytes(t, readFile(t, path), orig, "after recovery, Set and Remove")
	checkNoTemps(t, filepath.Dir(path))
}

func TestStaleTempRemoved(t *testing.T) {
	path := writeFile(t, []byte("user\n"))
	stale := filepath.Join(filepath.Dir(path), ".file.fwd-tmp-12345")
	must(t, os.WriteFile(stale, []byte("left by a writer killed mid-write"), 0o600))
	must(t, (&File{Path: path}).Set(newOwner(), nil))
	checkNoTemps(t, filepath.Dir(path))
}
