package hosts

import (
	"io/fs"
	"os"
	"path/filepath"
)

// fileSystem is every file operation an update makes on the hosts file and
// its directory. It is an interface so that one test body can run against
// the real filesystem and against one whose Rename fails the way it does
// when the hosts file is a bind mount (as in containers).
type fileSystem interface {
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

// osFS is the real filesystem.
type osFS struct{}

func (osFS) ReadFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (osFS) EvalSymlinks(name string) (string, error)   { return filepath.EvalSymlinks(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (osFS) Remove(name string) error                   { return os.Remove(name) }

func (osFS) WriteTemp(dir, pattern string, data []byte, perm fs.FileMode, like fs.FileInfo) (name string, err error) {
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
	// Chmod, not a create mode: the umask must not narrow the hosts file's
	// mode, or resolvers running as other users lose read access.
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

func (osFS) WriteInPlace(name string, data []byte) error {
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

func (osFS) Rename(oldname, newname string) error {
	if err := os.Rename(oldname, newname); err != nil {
		return err
	}
	syncDir(filepath.Dir(newname))
	return nil
}
