package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLoadUnreadable checks that a file Load cannot read gives an *Error
// that names it, says what is wrong and what to do, and keeps the cause.
func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	mustDo(t, os.Mkdir(filepath.Join(dir, "gw"), 0o755))
	mustDo(t, os.Symlink("loop.yaml", filepath.Join(dir, "loop.yaml")))
	mustDo(t, os.Symlink("gone.yaml", filepath.Join(dir, "link.yaml")))
	mustDo(t, os.WriteFile(filepath.Join(dir, "file"), []byte(good), 0o644))
	for _, tc := range []struct {
		name, path, msg string
		cause           error
	}{
		{"missing", filepath.Join(dir, "gateway.yaml"), `no such file: check --config, or create it (see the README's "Gateway config")`, fs.ErrNotExist},
		{"directory", filepath.Join(dir, "gw") + "/", "is a directory, not a config file: pass the YAML file inside it", syscall.EISDIR},
		{"symlink loop", filepath.Join(dir, "loop.yaml"), "too many levels of symbolic links: fix the link", syscall.ELOOP},
		{"dangling symlink", filepath.Join(dir, "link.yaml"), `is a symbolic link to "gone.yaml", which does not exist: fix the link`, fs.ErrNotExist},
		{"file as a directory", filepath.Join(dir, "file", "gateway.yaml"), "part of the path is a file, not a directory: check --config", syscall.ENOTDIR},
		{"no path", "", "no config file given: pass --config gateway.yaml", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path)
			checkReadError(t, err, tc.path, tc.msg, tc.cause)
		})
	}
}

// TestReadErrorPermission covers what root, who runs the tests here, cannot
// provoke: a file it may not read.
func TestReadErrorPermission(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	mustDo(t, os.WriteFile(path, []byte(good), 0o000))
	_, err := Load(path)
	if err == nil { // root reads it anyway
		err = readError(path, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES})
	}
	checkReadError(t, err, path, "cannot read it: permission denied: run as a user that can read it", fs.ErrPermission)
}

func TestReadErrorOther(t *testing.T) {
	err := readError("gateway.yaml", &fs.PathError{Op: "read", Path: "gateway.yaml", Err: syscall.EIO})
	checkReadError(t, err, "gateway.yaml", "cannot read it: input/output error: check the file and the disk it is on", syscall.EIO)
}

func checkReadError(t *testing.T, err error, path, msg string, cause error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %#v, want an *Error", err)
	}
	if e.File != path || e.Line != 0 || e.Column != 0 || e.Msg != msg {
		t.Errorf("error %+v, want File %q, no line and Msg %q", e, path, msg)
	}
	file := path
	if file == "" {
		file = "config"
	}
	if want := file + ": " + msg; err.Error() != want {
		t.Errorf("error %q, want %q", err.Error(), want)
	}
	if !errors.Is(err, cause) {
		t.Errorf("error %v does not wrap %v", err, cause)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
