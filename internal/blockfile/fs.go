package blockfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// FileSystem is every file operation an update makes on the file and its
// directory. It is an interface so that one test body can run against the
// real filesystem and against one whose Rename fails the way it does when
// the file is a bind mount (as /etc/hosts is in containers).
type FileSystem interface {
	ReadFile(name string) ([]byte, error)
	Stat(name string) (fs.FileInfo, error)
	EvalSymlinks(name string) (string, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	// WriteTemp creates a new file in dir, named from pattern as
	// os.CreateTemp does, with data, perm and (when like is not nil and we
	// may) like's owner, synced to disk; it returns the file's name.
	WriteTemp(dir, pattern string, data []byte, perm fs.FileMode, like fs.FileInfo) (string, error)
	// WriteInPlace truncates name and writes data into the same file,
	// synced to disk.
	WriteInPlace(name string, data []byte) error
	Rename(oldname, newname string) error
	Remove(name string) error
}

// OSFS is the real filesystem, what a File with no FS uses. Tests embed it
// to change one operation.
type OSFS struct{}

func (OSFS) ReadFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (OSFS) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (OSFS) EvalSymlinks(name string) (string, error)   { return filepath.EvalSymlinks(name) }
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (OSFS) Remove(name string) error                   { return os.Remove(name) }

func (OSFS) WriteTemp(dir, pattern string, data []byte, perm fs.FileMode, like fs.FileInfo) (name string, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// Chmod, not a create mode: the umask must not narrow the file's mode,
	// or resolvers running as other users lose read access to the hosts
	// file.
	if err := f.Chmod(perm); err != nil {
		return "", err
	}
	if like != nil {
		if err := copyOwner(f, like); err != nil {
			return "", err
		}
	}
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

func (OSFS) WriteInPlace(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (OSFS) Rename(oldname, newname string) error {
	if err := os.Rename(oldname, newname); err != nil {
		return err
	}
	syncDir(filepath.Dir(newname))
	return nil
}
