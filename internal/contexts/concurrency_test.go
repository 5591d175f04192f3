package contexts

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// checkAllLoggedIn fails unless every name has its context and its token.
func checkAllLoggedIn(t *testing.T, s *Store, names []string) {
	t.Helper()
	c, err := s.Load()
	must(t, err)
	if len(c.Contexts) != len(names) {
		t.Errorf("%d contexts, want %d: a concurrent change was lost", len(c.Contexts), len(names))
	}
	for _, n := range names {
		if _, ok := c.Get(n); !ok {
			t.Errorf("context %s lost", n)
		}
		if tok, err := s.Token(n); err != nil || tok != "token-"+n {
			t.Errorf("token of %s: %q, %v", n, tok, err)
		}
	}
	checkNoTemps(t, s.Dir())
}

// TestConcurrentGoroutines: 20 logins at once in one process, each its
// own context, lose none. Each opens the lock file itself, as separate
// commands would.
func TestConcurrentGoroutines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fwd")
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("g%d", i))
	}
	start := make(chan struct{})
	errs := make(chan error, len(names))
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := OpenDir(dir, Options{NoKeyring: true}).Login(testContext(n), "token-"+n)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	checkAllLoggedIn(t, OpenDir(dir, Options{NoKeyring: true}), names)
}

// TestConcurrentProcesses: 8 child processes log in at once, each its own
// context, and lose none.
func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := filepath.Join(t.TempDir(), "fwd")
	var names []string
	var cmds []*exec.Cmd
	var stdins []io.Closer
	for i := range 8 {
		n := fmt.Sprintf("p%d", i)
		names = append(names, n)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=login", helperDirEnv+"="+dir, helperNameEnv+"="+n)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		must(t, err)
		must(t, cmd.Start())
		cmds, stdins = append(cmds, cmd), append(stdins, in)
	}
	// The children wait for their stdin to close: release them together.
	for _, in := range stdins {
		in.Close()
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %s: %v", names[i], err)
		}
	}
	checkAllLoggedIn(t, OpenDir(dir, Options{NoKeyring: true}), names)
}
