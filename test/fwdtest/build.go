package fwdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
