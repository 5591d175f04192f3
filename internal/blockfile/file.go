package blockfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File edits the blocks of one file. Set its fields before first use; it
// must not be copied after. Its methods are safe for concurrent use by
// several goroutines, and by several processes each with its own File.
type File struct {
	// Path is the file; a symlink is followed, so the link stays a link.
	Path string
	// Kind starts every error message, as "hosts: ...": the caller's
	// package name, so that errors read as the caller's own. Empty means
	// "blockfile".
	Kind string
	// Mode is a new file's permissions, exactly (the umask does not apply);
	// an existing file keeps its own. Zero means 0644.
	Mode fs.FileMode
	// EOL ends the lines of a file that has no terminated line yet to copy
	// the ending from. Empty means "\n".
	EOL string
	// LockWait bounds the wait for another process's lock on the file
	// before a change fails with ErrLockBusy; zero means DefaultLockWait.
	LockWait time.Duration
	// CleanOnSet makes Set and SetFunc also remove the blocks of owners
	// that are no longer running, in the same write.
	CleanOnSet bool
	// FS is the file system; nil means OSFS. Tests give one that fails the
	// way a bind mount or a crash does.
	FS FileSystem

	mu sync.Mutex
}

func (f *File) kind() string {
	if f.Kind == "" {
		return "blockfile"
	}
	return f.Kind
}

func (f *File) mode() fs.FileMode {
	if f.Mode == 0 {
		return 0o644
	}
	return f.Mode
}

func (f *File) eol() string {
	if f.EOL == "" {
		return "\n"
	}
	return f.EOL
}

func (f *File) lockWait() time.Duration {
	if f.LockWait > 0 {
		return f.LockWait
	}
	return DefaultLockWait
}

func (f *File) fs() FileSystem {
	if f.FS == nil {
		return OSFS{}
	}
	return f.FS
}

// Set replaces owner's block with one holding the lines body, in the same
// place, or appends it if owner has none; with no lines the block stays,
// empty. A missing file is created.
func (f *File) Set(owner Owner, body []string) error {
	return f.SetFunc(owner, func([]string) []string { return body })
}

// SetFunc is Set with the lines that body returns, given the text of every
// line outside the file's fwd blocks: the user's own lines, read under the
// lock, so that a codec can leave out what the user already defines.
func (f *File) SetFunc(owner Owner, body func(outside []string) []string) error {
	if err := owner.check(f.kind()); err != nil {
		return err
	}
	return f.update(func(data []byte) ([]byte, error) {
		if f.CleanOnSet {
			data, _ = RemoveDead(data, Owner.Alive)
		}
		lines := body(outside(data))
		if err := checkBody(f.kind(), lines); err != nil {
			return nil, err
		}
		return SetBlock(data, owner, lines, f.eol()), nil
	})
}

// Remove removes owner's block. Without one it changes nothing and writes
// nothing.
func (f *File) Remove(owner Owner) error {
	if err := owner.check(f.kind()); err != nil {
		return err
	}
	return f.update(func(data []byte) ([]byte, error) {
		return RemoveBlock(data, owner), nil
	})
}

// Clean removes every block whose owner is no longer running (see
// [Owner.Alive]) and returns them. Blocks of running processes stay, even
// those of other fwd processes.
func (f *File) Clean() (removed []Block, err error) {
	err = f.update(func(data []byte) ([]byte, error) {
		data, removed = RemoveDead(data, Owner.Alive)
		return data, nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// Blocks lists the fwd blocks in file order. A missing file has none.
// Listing needs no write access: who may not take the lock reads without
// it.
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
		if unlock, err := f.lock(target, true); err == nil {
			_ = f.recoverBackup(target)
			unlock()
		}
	}
	// A shared lock keeps us from reading a half-done in-place write. Who
	// may not open the lock file reads without it rather than fail: listing
	// must not need root, and renames are atomic anyway.
	if unlock, err := f.lock(target, false); err == nil {
		defer unlock()
	}
	// While a backup exists it, not the file, holds the last complete
	// content: the state the next writer restores.
	data, err := f.fs().ReadFile(backupPath(target))
	if err != nil {
		data, _, err = f.read(target)
		if err != nil {
			return nil, err
		}
	}
	return Parse(data), nil
}

// update applies edit to the file's content while holding both locks and
// writes the result back if it differs.
func (f *File) update(edit func([]byte) ([]byte, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	target, err := f.target()
	if err != nil {
		return err
	}
	unlock, err := f.lock(target, true)
	if err != nil {
		return f.writeErr(err)
	}
	defer unlock()
	if err := f.recoverBackup(target); err != nil {
		return err
	}
	old, info, err := f.read(target)
	if err != nil {
		return err
	}
	data, err := edit(old)
	if err != nil {
		return err
	}
	if bytes.Equal(data, old) && (info != nil || len(data) == 0) {
		return nil // nothing to do; in particular no empty file is created
	}
	return f.write(target, old, data, info)
}

// lock takes the lock file beside target, naming it in the error of a wait
// that lasted too long.
func (f *File) lock(target string, exclusive bool) (unlock func(), err error) {
	path := lockPath(target)
	unlock, err = lockFile(path, exclusive, f.lockWait())
	if errors.Is(err, errLockTimeout) {
		return nil, &lockBusyError{kind: f.kind(), path: path, wait: f.lockWait()}
	}
	return unlock, err
}

// target is the file to replace: a symlink's target, so the link survives.
func (f *File) target() (string, error) {
	target, err := f.fs().EvalSymlinks(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.Path, nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.kind(), err)
	}
	return target, nil
}

// read returns the content and info of target; nil info means it does not
// exist yet.
func (f *File) read(target string) ([]byte, fs.FileInfo, error) {
	info, err := f.fs().Stat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.kind(), err)
	}
	data, err := f.fs().ReadFile(target)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.kind(), err)
	}
	return data, info, nil
}

// write replaces target's content old with data: by rename where possible,
// else in place. The temporary file never outlives the call.
func (f *File) write(target string, old, data []byte, info fs.FileInfo) error {
	dir, base := splitPath(target)
	f.removeStaleTemps(dir, base)
	perm := f.mode()
	if info != nil {
		perm = info.Mode().Perm()
	}
	tmp, err := f.fs().WriteTemp(dir, tempPrefix(base)+"*", data, perm, info)
	if err != nil {
		return f.writeErr(err)
	}
	err = f.fs().Rename(tmp, target)
	if err == nil {
		return nil
	}
	_ = f.fs().Remove(tmp)
	if info == nil || !renameCannotWork(err) {
		return f.writeErr(err)
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
	// exists is always complete. Only the file itself cannot be replaced;
	// any other file in its directory can.
	tmp, err := f.fs().WriteTemp(dir, tempPrefix(base)+"*", old, info.Mode().Perm(), info)
	if err != nil {
		return f.writeErr(fmt.Errorf("saving a backup before writing in place: %w", err))
	}
	if err := f.fs().Rename(tmp, backup); err != nil {
		_ = f.fs().Remove(tmp)
		return f.writeErr(fmt.Errorf("saving a backup before writing in place: %w", err))
	}
	if err := f.fs().WriteInPlace(target, data); err != nil {
		if rerr := f.fs().WriteInPlace(target, old); rerr != nil {
			// The backup stays: the next call restores it.
			return f.writeErr(errors.Join(err, fmt.Errorf("restoring the previous content: %w", rerr)))
		}
		_ = f.removeBackup(backup)
		return f.writeErr(err)
	}
	// Until the backup is gone for good, the next call would undo this
	// write; so only then has it succeeded.
	if err := f.removeBackup(backup); err != nil {
		return f.writeErr(fmt.Errorf("removing the backup after writing in place: %w", err))
	}
	return nil
}

// recoverBackup finishes an in-place write that was interrupted: a backup
// beside target exists only between the start and the durable end of one,
// and the exclusive lock, which the caller holds, shows that its writer is
// gone. The file may then be empty, partial or complete; which is not
// knowable in general, so the backup, the last content known complete, is
// put back, and the backup removed. The interrupted call never returned
// success, so undoing it loses nothing anyone was told was done. A crash
// here leaves the backup in place, and the next call starts over.
func (f *File) recoverBackup(target string) error {
	backup := backupPath(target)
	data, err := f.fs().ReadFile(backup)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: reading the backup of an interrupted write: %w", f.kind(), err)
	}
	if err := f.restore(target, backup, data); err != nil {
		return f.writeErr(fmt.Errorf("restoring %s from the backup of an interrupted write: %w", target, err))
	}
	if err := f.removeBackup(backup); err != nil {
		return f.writeErr(fmt.Errorf("removing the backup of an interrupted write: %w", err))
	}
	return nil
}

// restore gives target the content data, by rename where that works and
// else in place. It does not touch the backup, so it may be repeated.
func (f *File) restore(target, backup string, data []byte) error {
	info, err := f.fs().Stat(target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err != nil { // the file was deleted since: recreate it
		if info, err = f.fs().Stat(backup); err != nil {
			return err
		}
	}
	dir, base := splitPath(target)
	tmp, err := f.fs().WriteTemp(dir, tempPrefix(base)+"*", data, info.Mode().Perm(), info)
	if err != nil {
		return err
	}
	err = f.fs().Rename(tmp, target)
	if err == nil {
		return nil
	}
	_ = f.fs().Remove(tmp)
	if !renameCannotWork(err) {
		return err
	}
	return f.fs().WriteInPlace(target, data)
}

// removeBackup removes the backup durably: were it to come back after a
// power loss, the next call would undo the write it guarded.
func (f *File) removeBackup(backup string) error {
	if err := f.fs().Remove(backup); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	syncDir(filepath.Dir(backup))
	return nil
}

func (f *File) exists(name string) bool {
	_, err := f.fs().Stat(name)
	return err == nil
}

// removeStaleTemps deletes temporary files of writers killed mid-write. It
// runs under the exclusive lock, so no live writer owns one.
func (f *File) removeStaleTemps(dir, base string) {
	entries, err := f.fs().ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			_ = f.fs().Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// The names of fwd's files beside the file are part of the protocol: fwd
// processes of other versions must find the same lock and the same backup.

func tempPrefix(base string) string {
	return "." + base + ".fwd-tmp-"
}

// backupPath is where the file's content is kept while it is written in
// place (".hosts.fwd-backup" beside the hosts file).
func backupPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+".fwd-backup")
}

func lockPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+".fwd.lock")
}

// splitPath is filepath.Split with "." for a bare name's directory.
func splitPath(target string) (dir, base string) {
	dir, base = filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	return dir, base
}
