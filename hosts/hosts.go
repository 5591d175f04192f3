package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotWritable is matched (errors.Is) by errors from Set, Remove and
// Clean when this process may not change the hosts file or create files in
// its directory: permission denied, operation not permitted, or a read-only
// file system. When the cause is missing permission the error also matches
// fs.ErrPermission, so a caller can suggest sudo or --skipHostnames.
var ErrNotWritable = errors.New("hosts: not writable")

type notWritableError struct{ err error }

func (e *notWritableError) Error() string        { return "hosts: not writable: " + e.err.Error() }
func (e *notWritableError) Unwrap() error        { return e.err }
func (e *notWritableError) Is(target error) bool { return target == ErrNotWritable }

func wrapWriteErr(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return &notWritableError{err}
	}
	if errors.Is(err, ErrLockBusy) {
		return err // already says "hosts:" and what to do
	}
	return fmt.Errorf("hosts: %w", err)
}

// Block is one owner's fenced group of entries.
type Block struct {
	Owner   Owner
	Entries []Entry
}

// File edits one hosts file. Its methods are safe for concurrent use by
// several goroutines, and by several processes each with its own File.
type File struct {
	// LockWait bounds the wait for another process's lock on the file
	// before a change fails with ErrLockBusy; zero means DefaultLockWait.
	// Set it before the File is used.
	LockWait time.Duration

	path string
	fs   fileSystem
	mu   sync.Mutex
}

func (f *File) lockWait() time.Duration {
	if f.LockWait > 0 {
		return f.LockWait
	}
	return DefaultLockWait
}

// New returns a File for path; "" means the system hosts file (/etc/hosts,
// or System32\drivers\etc\hosts on Windows). Nothing is read until used.
func New(path string) *File {
	return newFile(path, osFS{})
}

func newFile(path string, fsys fileSystem) *File {
	if path == "" {
		path = defaultPath()
	}
	return &File{path: path, fs: fsys}
}

// Path returns the hosts file's path as given to New (or the default).
func (f *File) Path() string {
	return f.path
}

// Set replaces owner's block with one holding entries, in the same place,
// or appends it if owner has none. Addresses are written in canonical form
// and hostnames in lower case; with no entries the block stays, empty.
// Invalid entries are reported, wrapping ErrInvalidEntry, before the file
// is touched. A missing hosts file is created.
func (f *File) Set(owner Owner, entries []Entry) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	b := Block{Owner: owner, Entries: make([]Entry, len(entries))}
	for i, e := range entries {
		n, err := e.normalize()
		if err != nil {
			return err
		}
		b.Entries[i] = n
	}
	return f.update(func(data []byte) []byte {
		return setBlock(data, b, maxHostsPerLine)
	})
}

// SetUnshadowed is Set, except that a hostname which a line outside every
// fwd block already maps is left out (and an entry left with no hostname
// with it), so that fwd never shadows the user's own entries. It returns
// the hostnames it left out. Both the check and the write happen under the
// file's lock.
func (f *File) SetUnshadowed(owner Owner, entries []Entry) (shadowed []string, err error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	normalized := make([]Entry, len(entries))
	for i, e := range entries {
		if normalized[i], err = e.normalize(); err != nil {
			return nil, err
		}
	}
	err = f.update(func(data []byte) []byte {
		var kept []Entry
		kept, shadowed = withoutNames(normalized, userNames(data))
		return setBlock(data, Block{Owner: owner, Entries: kept}, maxHostsPerLine)
	})
	return shadowed, err
}

// Remove removes owner's block. Without one it changes nothing and writes
// nothing.
func (f *File) Remove(owner Owner) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	return f.update(func(data []byte) []byte {
		return removeBlock(data, owner)
	})
}

// Clean removes every block whose owner is no longer running (see
// [Owner.Alive]) and returns them. Blocks of running processes stay, even
// those of other fwd processes.
func (f *File) Clean() (removed []Block, err error) {
	err = f.update(func(data []byte) []byte {
		data, removed = removeDead(data, Owner.Alive)
		return data
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// Blocks lists the fwd blocks in file order, each entry as one line of
// the file (on Windows a long entry is split over lines of nine names). A
// block without its end marker is listed with no entries. A missing hosts
// file has no blocks.
func (f *File) Blocks() ([]Block, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	target, err := f.target()
	if err != nil {
		return nil, err
	}
	// A backup means an in-place write was interrupted (or, seen without
	// the lock, is under way). Who may take the exclusive lock puts the old
	// content back first; a failure to is not ours to report, as the backup
	// is read below instead.
	if f.exists(backupPath(target)) {
		if unlock, err := lockFile(lockPath(target), true, f.lockWait()); err == nil {
			_ = f.recoverBackup(target)
			unlock()
		}
	}
	// A shared lock keeps us from reading a half-done in-place write. Who
	// may not open the lock file reads without it rather than fail: listing
	// must not need root, and renames are atomic anyway.
	if unlock, err := lockFile(lockPath(target), false, f.lockWait()); err == nil {
		defer unlock()
	}
	// While a backup exists it, not the hosts file, holds the last
	// complete content: the state the next writer restores.
	data, err := f.fs.ReadFile(backupPath(target))
	if err != nil {
		data, _, err = f.read(target)
		if err != nil {
			return nil, err
		}
	}
	var blocks []Block
	for _, s := range parseSpans(splitLines(data)) {
		blocks = append(blocks, s.Block)
	}
	return blocks, nil
}

func checkOwner(o Owner) error {
	if o.PID <= 0 {
		return fmt.Errorf("hosts: invalid owner: pid %d", o.PID)
	}
	if !validSession(o.Session) {
		return fmt.Errorf("hosts: invalid owner: session %q is not 1 to 64 letters and digits", o.Session)
	}
	return nil
}

// update applies edit to the file's content while holding both locks and
// writes the result back if it differs.
func (f *File) update(edit func([]byte) []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	target, err := f.target()
	if err != nil {
		return err
	}
	unlock, err := lockFile(lockPath(target), true, f.lockWait())
	if err != nil {
		return wrapWriteErr(err)
	}
	defer unlock()
	if err := f.recoverBackup(target); err != nil {
		return err
	}
	old, info, err := f.read(target)
	if err != nil {
		return err
	}
	data := edit(old)
	if bytes.Equal(data, old) && (info != nil || len(data) == 0) {
		return nil // nothing to do; in particular no empty file is created
	}
	return f.write(target, old, data, info)
}

// target is the file to replace: a symlink's target, so the link survives.
func (f *File) target() (string, error) {
	target, err := f.fs.EvalSymlinks(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.path, nil
	}
	if err != nil {
		return "", fmt.Errorf("hosts: %w", err)
	}
	return target, nil
}

// read returns the content and info of target; nil info means it does not
// exist yet.
func (f *File) read(target string) ([]byte, fs.FileInfo, error) {
	info, err := f.fs.Stat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("hosts: %w", err)
	}
	data, err := f.fs.ReadFile(target)
	if err != nil {
		return nil, nil, fmt.Errorf("hosts: %w", err)
	}
	return data, info, nil
}

// write replaces target's content old with data: by rename where possible,
// else in place. The temporary file never outlives the call.
func (f *File) write(target string, old, data []byte, info fs.FileInfo) error {
	dir, base := splitPath(target)
	f.removeStaleTemps(dir, base)
	perm := fs.FileMode(0o644)
	if info != nil {
		perm = info.Mode().Perm()
	}
	tmp, err := f.fs.WriteTemp(dir, tempPrefix(base)+"*", data, perm, info)
	if err != nil {
		return wrapWriteErr(err)
	}
	err = f.fs.Rename(tmp, target)
	if err == nil {
		return nil
	}
	_ = f.fs.Remove(tmp)
	if info == nil || !renameCannotWork(err) {
		return wrapWriteErr(err)
	}
	return f.writeInPlace(target, old, data, info)
}

// writeInPlace is the bind-mount path. Truncating and writing is not
// atomic, so the old content is first saved beside the file (see
// backupPath), synced, and the backup is removed only once the new content
// is synced. If this process dies in between, the next call that takes the
// lock restores the backup (see recoverBackup); if the write fails here, the
// old content is put back at once.
func (f *File) writeInPlace(target string, old, data []byte, info fs.FileInfo) error {
	dir, base := splitPath(target)
	backup := backupPath(target)
	// Written under a temporary name and renamed, so that a backup that
	// exists is always complete. Only the hosts file itself cannot be
	// replaced; any other file in its directory can.
	tmp, err := f.fs.WriteTemp(dir, tempPrefix(base)+"*", old, info.Mode().Perm(), info)
	if err != nil {
		return wrapWriteErr(fmt.Errorf("saving a backup before writing in place: %w", err))
	}
	if err := f.fs.Rename(tmp, backup); err != nil {
		_ = f.fs.Remove(tmp)
		return wrapWriteErr(fmt.Errorf("saving a backup before writing in place: %w", err))
	}
	if err := f.fs.WriteInPlace(target, data); err != nil {
		if rerr := f.fs.WriteInPlace(target, old); rerr != nil {
			// The backup stays: the next call restores it.
			return wrapWriteErr(errors.Join(err, fmt.Errorf("restoring the previous content: %w", rerr)))
		}
		_ = f.removeBackup(backup)
		return wrapWriteErr(err)
	}
	// Until the backup is gone for good, the next call would undo this
	// write; so only then has it succeeded.
	if err := f.removeBackup(backup); err != nil {
		return wrapWriteErr(fmt.Errorf("removing the backup after writing in place: %w", err))
	}
	return nil
}

// recoverBackup finishes an in-place write that was interrupted: a backup
// beside target exists only between the start and the durable end of one,
// and the exclusive lock, which the caller holds, shows that its writer is
// gone. The hosts file may then be empty, partial or complete; which is
// not knowable in general, so the backup, the last content known complete,
// is put back, and the backup removed. The interrupted call never returned
// success, so undoing it loses nothing anyone was told was done. A crash
// here leaves the backup in place, and the next call starts over.
func (f *File) recoverBackup(target string) error {
	backup := backupPath(target)
	data, err := f.fs.ReadFile(backup)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hosts: reading the backup of an interrupted write: %w", err)
	}
	if err := f.restore(target, backup, data); err != nil {
		return wrapWriteErr(fmt.Errorf("restoring %s from the backup of an interrupted write: %w", target, err))
	}
	if err := f.removeBackup(backup); err != nil {
		return wrapWriteErr(fmt.Errorf("removing the backup of an interrupted write: %w", err))
	}
	return nil
}

// restore gives target the content data, by rename where that works and
// else in place. It does not touch the backup, so it may be repeated.
func (f *File) restore(target, backup string, data []byte) error {
	info, err := f.fs.Stat(target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err != nil { // the hosts file was deleted since: recreate it
		if info, err = f.fs.Stat(backup); err != nil {
			return err
		}
	}
	dir, base := splitPath(target)
	tmp, err := f.fs.WriteTemp(dir, tempPrefix(base)+"*", data, info.Mode().Perm(), info)
	if err != nil {
		return err
	}
	err = f.fs.Rename(tmp, target)
	if err == nil {
		return nil
	}
	_ = f.fs.Remove(tmp)
	if !renameCannotWork(err) {
		return err
	}
	return f.fs.WriteInPlace(target, data)
}

// removeBackup removes the backup durably: were it to come back after a
// power loss, the next call would undo the write it guarded.
func (f *File) removeBackup(backup string) error {
	if err := f.fs.Remove(backup); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	syncDir(filepath.Dir(backup))
	return nil
}

func (f *File) exists(name string) bool {
	_, err := f.fs.Stat(name)
	return err == nil
}

// removeStaleTemps deletes temporary files of writers killed mid-write. It
// runs under the exclusive lock, so no live writer owns one.
func (f *File) removeStaleTemps(dir, base string) {
	entries, err := f.fs.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			_ = f.fs.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func tempPrefix(base string) string {
	return "." + base + ".fwd-tmp-"
}

// splitPath is filepath.Split with "." for a bare name's directory.
func splitPath(target string) (dir, base string) {
	dir, base = filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// backupPath is where the hosts file's content is kept while it is written
// in place (".hosts.fwd-backup" beside it).
func backupPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+".fwd-backup")
}

func lockPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+".fwd.lock")
}
