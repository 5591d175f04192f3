package hosts

import (
	"errors"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// ErrNotWritable is matched (errors.Is) by errors from Set, Remove and
// Clean when this process may not change the hosts file or create files in
// its directory: permission denied, operation not permitted, or a read-only
// file system. When the cause is missing permission the error also matches
// fs.ErrPermission, so a caller can suggest sudo or --skipHostnames.
var ErrNotWritable = errors.New("hosts: not writable")

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
	once sync.Once
	file *blockfile.File // made at first use, when LockWait is set
}

// New returns a File for path; "" means the system hosts file (/etc/hosts,
// or System32\drivers\etc\hosts on Windows). Nothing is read until used.
func New(path string) *File {
	return newFile(path, blockfile.OSFS{})
}

func newFile(path string, fsys fileSystem) *File {
	if path == "" {
		path = defaultPath()
	}
	return &File{path: path, fs: fsys}
}

// blocks is the shared machinery that does the work for f.
func (f *File) blocks() *blockfile.File {
	f.once.Do(func() {
		f.file = &blockfile.File{
			Path:     f.path,
			Kind:     "hosts",
			Mode:     0o644, // resolvers run as other users
			EOL:      defaultEOL,
			LockWait: f.lockWait(),
			FS:       f.fs,
		}
	})
	return f.file
}

func (f *File) lockWait() time.Duration {
	if f.LockWait > 0 {
		return f.LockWait
	}
	return DefaultLockWait
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
	normalized, err := normalizeAll(entries)
	if err != nil {
		return err
	}
	return hostsErr(f.blocks().Set(blockfile.Owner(owner), entryLines(normalized, maxHostsPerLine)))
}

// SetUnshadowed is Set, except that a hostname which a line outside every
// fwd block already maps is left out (and an entry left with no hostname
// with it), so that fwd never shadows the user's own entries. It returns
// the hostnames it left out. Both the check and the write happen under the
// file's lock.
func (f *File) SetUnshadowed(owner Owner, entries []Entry) (shadowed []string, err error) {
	normalized, err := normalizeAll(entries)
	if err != nil {
		return nil, err
	}
	err = f.blocks().SetFunc(blockfile.Owner(owner), func(outside []string) []string {
		var kept []Entry
		kept, shadowed = withoutNames(normalized, userNames(outside))
		return entryLines(kept, maxHostsPerLine)
	})
	return shadowed, hostsErr(err)
}

func normalizeAll(entries []Entry) ([]Entry, error) {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		n, err := e.normalize()
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// Remove removes owner's block. Without one it changes nothing and writes
// nothing.
func (f *File) Remove(owner Owner) error {
	return hostsErr(f.blocks().Remove(blockfile.Owner(owner)))
}

// Clean removes every block whose owner is no longer running (see
// [Owner.Alive]) and returns them. Blocks of running processes stay, even
// those of other fwd processes.
func (f *File) Clean() (removed []Block, err error) {
	dead, err := f.blocks().Clean()
	if err != nil {
		return nil, hostsErr(err)
	}
	return toBlocks(dead), nil
}

// Blocks lists the fwd blocks in file order, each entry as one line of
// the file (on Windows a long entry is split over lines of nine names). A
// block without its end marker is listed with no entries. A missing hosts
// file has no blocks.
func (f *File) Blocks() ([]Block, error) {
	blocks, err := f.blocks().Blocks()
	if err != nil {
		return nil, hostsErr(err)
	}
	return toBlocks(blocks), nil
}

// hostsErr makes the errors of the shared machinery, which already start
// with "hosts:", match hosts' own ErrLockBusy and ErrNotWritable too: those
// are what callers test for.
func hostsErr(err error) error {
	switch {
	case errors.Is(err, blockfile.ErrLockBusy):
		return &sentinelError{err, ErrLockBusy}
	case errors.Is(err, blockfile.ErrNotWritable):
		return &sentinelError{err, ErrNotWritable}
	}
	return err
}

// sentinelError is err, matching sentinel as well.
type sentinelError struct {
	err, sentinel error
}

func (e *sentinelError) Error() string        { return e.err.Error() }
func (e *sentinelError) Unwrap() error        { return e.err }
func (e *sentinelError) Is(target error) bool { return target == e.sentinel }
