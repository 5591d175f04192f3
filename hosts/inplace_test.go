package hosts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestInPlaceCrashRecovered: a writer killed in the middle of an in-place
// write leaves the hosts file empty, partial or complete, with the backup
// beside it; the next call of any File that takes the lock puts back the
// content from before that write, byte for byte, before doing its own work.
func TestInPlaceCrashRecovered(t *testing.T) {
	crashes := []struct {
		name string
		keep int
	}{
		{"after truncate", 0},
		{"mid-write", 40},
		{"before removing the backup", -1},
	}
	ops := []struct {
		name string
		run  func(t *testing.T, g *File, live Owner, dead Owner)
	}{
		{"Blocks", func(t *testing.T, g *File, live, dead Owner) {
			blocks, err := g.Blocks()
			must(t, err)
			if _, ok := findBlock(blocks, dead); ok || len(blocks) != 1 {
				t.Fatalf("Blocks = %+v, want only the block from before the crash", blocks)
			}
			checkBlock(t, g, live, entriesA)
		}},
		{"Remove", func(t *testing.T, g *File, live, dead Owner) { must(t, g.Remove(dead)) }},
		{"Clean", func(t *testing.T, g *File, live, dead Owner) {
			removed, err := g.Clean()
			must(t, err)
			if len(removed) != 0 {
				t.Fatalf("Clean removed %+v", removed)
			}
		}},
		{"Set", func(t *testing.T, g *File, live, dead Owner) {
			o := newOwner()
			must(t, g.Set(o, entriesA2))
			checkBlock(t, g, live, entriesA)
			checkBlock(t, g, o, []Entry{{"127.1.2.5", []string{"api.shop", "web.shop"}}})
			must(t, g.Remove(o))
		}},
	}
	for _, c := range crashes {
		for _, op := range ops {
			for _, tfs := range testFileSystems {
				t.Run(c.name+"/"+op.name+"/"+tfs.name, func(t *testing.T) {
					path := writeHosts(t, readFixture(t, "basic.hosts"))
					must(t, os.Chmod(path, 0o640))
					live := newOwner()
					must(t, newFile(path, renameFailsFS{}).Set(live, entriesA))
					orig := readHosts(t, path)
					held, err := os.Open(path)
					must(t, err)
					defer held.Close()
					before, err := held.Stat()
					must(t, err)

					dead := newOwner()
					crash(t, func() error { return newFile(path, crashFS{keep: c.keep}).Set(dead, entriesB) })
					if got := readHosts(t, path); c.keep >= 0 && len(got) != c.keep {
						t.Fatalf("after the crash the file has %d bytes, want %d", len(got), c.keep)
					}
					backup := backupPath(path)
					mustEqualBytes(t, readHosts(t, backup), orig, "backup")
					if runtime.GOOS != "windows" && stat(t, backup).Mode().Perm() != 0o640 {
						t.Fatalf("backup mode %v, want 0640", stat(t, backup).Mode())
					}

					// A new File stands for the next process.
					g := newFile(path, tfs.fs)
					op.run(t, g, live, dead)
					mustEqualBytes(t, readHosts(t, path), orig, "after recovery and "+op.name)
					checkNoTemps(t, filepath.Dir(path))
					after := stat(t, path)
					if rewritten := os.SameFile(before, after); rewritten != tfs.bindMount {
						t.Fatalf("file rewritten in place: %v, want %v", rewritten, tfs.bindMount)
					}
					if runtime.GOOS != "windows" && after.Mode().Perm() != 0o640 {
						t.Fatalf("mode %v, want 0640", after.Mode())
					}
				})
			}
		}
	}
}

// TestInPlaceCrashFileDeleted: should the hosts file be gone when the
// backup is found, it is recreated from the backup.
func TestInPlaceCrashFileDeleted(t *testing.T) {
	orig := readFixture(t, "basic.hosts")
	path := writeHosts(t, orig)
	crash(t, func() error { return newFile(path, crashFS{}).Set(newOwner(), entriesA) })
	must(t, os.Remove(path))
	must(t, New(path).Remove(newOwner()))
	mustEqualBytes(t, readHosts(t, path), orig, "file")
	checkNoTemps(t, filepath.Dir(path))
}

// TestInPlaceLeavesNoBackup: a completed in-place write removes its backup,
// and so does one that failed but could put the old content back.
func TestInPlaceLeavesNoBackup(t *testing.T) {
	orig := readFixture(t, "basic.hosts")
	path := writeHosts(t, orig)
	before := stat(t, path)
	f := newFile(path, renameFailsFS{})
	o := newOwner()
	must(t, f.Set(o, entriesA))
	checkNoTemps(t, filepath.Dir(path))
	checkResolves(t, path, "api.shop", "127.1.2.3")
	must(t, f.Remove(o))
	checkUntouched(t, path, orig, before)
	if _, err := os.Stat(backupPath(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("backup left: %v", err)
	}
}

// TestInPlaceWriteFails: a failed in-place write puts the old content back
// at once and reports the error; if even that fails, the backup stays and
// the next call restores it.
func TestInPlaceWriteFails(t *testing.T) {
	orig := readFixture(t, "basic.hosts")
	path := writeHosts(t, orig)
	before := stat(t, path)

	fails := 1
	err := newFile(path, writeFailsFS{fails: &fails}).Set(newOwner(), entriesA)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Set = %v, want ENOSPC", err)
	}
	checkUntouched(t, path, orig, before)

	fails = 2
	err = newFile(path, writeFailsFS{fails: &fails}).Set(newOwner(), entriesA)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Set = %v, want ENOSPC", err)
	}
	mustEqualBytes(t, readHosts(t, backupPath(path)), orig, "backup")
	if blocks, err := newFile(path, renameFailsFS{}).Blocks(); err != nil || len(blocks) != 0 {
		t.Fatalf("Blocks = %+v, %v", blocks, err)
	}
	checkUntouched(t, path, orig, before)
}
