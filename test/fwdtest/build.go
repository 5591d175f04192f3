package fwdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildFwd builds the fwd command into a new temporary directory and
// returns the binary's path and a function that removes it: for tests that
// drive the real binary as separate processes, from their TestMain.
func BuildFwd() (bin string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "fwd-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("fwdtest: %w", err)
	}
	bin = filepath.Join(dir, "fwd")
	build := exec.Command("go", "build", "-o", bin, "github.com/fwd-dev/fwd/cmd/fwd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("fwdtest: building fwd: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// RunWithFwd is a TestMain for packages that drive the real binary: it
// builds fwd, sets *bin to its path, runs the tests and removes the binary,
// returning the exit code for os.Exit.
func RunWithFwd(m *testing.M, bin *string) int {
	path, remove, err := BuildFwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	*bin = path
	return m.Run()
}
