package hosts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txn2/txeh"
)

const (
	stressChildren = 4
	stressWorkers  = 8   // goroutines per child, each its own owner
	stressOps      = 100 // Set/Remove/Clean calls per worker
	stressKills    = 8   // SIGKILLs spread over the children
	stressDomain   = ".stress"
)

// TestStress runs 4 processes, each with 8 goroutines setting and removing
// their own blocks, while SIGKILLing children at random points of their
// work and starting them again. Readers must always see every user line;
// afterwards Clean must reclaim the blocks of the killed children and leave
// exactly the original file.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test skipped in -short mode")
	}
	// No trailing newline: the hardest case for the newline hand-over.
	orig := readFixture(t, "no-trailing-newline.hosts")
	path := writeHosts(t, orig)
	var kills atomic.Int32
	kills.Store(stressKills)
	var wg sync.WaitGroup
	errs := make(chan error, stressChildren)
	for range stressChildren {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runStressSlot(path, orig, &kills); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d children killed", stressKills-max(kills.Load(), 0))
	// The workers' own Clean calls may have reclaimed every leftover, so
	// one more child is killed while it surely holds blocks.
	held := killHoldingChild(t, path)

	f := New(path)
	checkStressFile(t, f, path, orig)
	removed, err := f.Clean()
	must(t, err)
	t.Logf("Clean removed %d blocks left by killed children", len(removed))
	if n := countPID(removed, held); n != stressWorkers {
		t.Fatalf("Clean removed %d blocks of killed pid %d, want %d", n, held, stressWorkers)
	}
	final := readHosts(t, path)
	if bytes.Contains(final, []byte("fwd")) || bytes.Contains(final, []byte(stressDomain)) {
		t.Fatalf("fwd lines left after Clean:\n%s", final)
	}
	mustEqualBytes(t, final, orig, "after Clean")
	checkNoTemps(t, filepath.Dir(path))
}

func checkStressFile(t *testing.T, f *File, path string, orig []byte) {
	t.Helper()
	data := readHosts(t, path)
	if err := checkUserLines(data, orig, isStressLine); err != nil {
		t.Fatal(err)
	}
	for _, s := range parseSpans(splitLines(data)) {
		if !s.complete {
			t.Fatalf("block of %+v lost its end marker", s.Owner)
		}
	}
	if _, err := f.Blocks(); err != nil {
		t.Fatal(err)
	}
	if _, err := txeh.NewHosts(&txeh.HostsConfig{ReadFilePath: path}); err != nil {
		t.Fatalf("txeh cannot read the file: %v", err)
	}
}

// killHoldingChild starts a child that sets one block per worker and then
// waits, SIGKILLs it, and returns its PID.
func killHoldingChild(t *testing.T, path string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=hold", helperFileEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	stdin, err := cmd.StdinPipe() // never closed: the child waits on it until killed
	must(t, err)
	defer stdin.Close()
	must(t, cmd.Start())
	ready, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if ready != "ready\n" {
		t.Fatalf("hold child: %q\n%s", ready, stderr.Bytes())
	}
	return cmd.Process.Pid
}

func holdChild(path string, out io.Writer) error {
	f := New(path)
	for w := range stressWorkers {
		if err := stressSet(f, newOwner(), w, 0); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(out, "ready")
	return err
}

func countPID(blocks []Block, pid int) int {
	n := 0
	for _, b := range blocks {
		if b.Owner.PID == pid {
			n++
		}
	}
	return n
}

func isStressLine(text string) bool {
	return strings.HasSuffix(text, stressDomain)
}

// runStressSlot keeps one child running: it kills the child after a random
// number of its operations while the kill budget lasts, and starts another.
// Every 50 operations it reads the file, without the lock, as a resolver
// would.
func runStressSlot(path string, orig []byte, kills *atomic.Int32) error {
	for {
		killAt := -1
		if kills.Add(-1) >= 0 {
			killAt = 1 + rand.IntN(stressWorkers*stressOps/2)
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=stress", helperFileEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		killed, readErr := watchStressChild(cmd, out, path, orig, killAt)
		waitErr := cmd.Wait()
		switch {
		case readErr != nil:
			return readErr
		case killed:
			continue
		case waitErr != nil:
			return fmt.Errorf("child %d: %v\n%s", cmd.Process.Pid, waitErr, stderr.Bytes())
		default:
			return nil
		}
	}
}

func watchStressChild(cmd *exec.Cmd, out io.Reader, path string, orig []byte, killAt int) (killed bool, err error) {
	sc := bufio.NewScanner(out)
	for n := 1; sc.Scan(); n++ {
		if n == killAt {
			_ = cmd.Process.Kill()
			killed = true
		}
		if n%50 == 0 && err == nil {
			if data, rerr := os.ReadFile(path); rerr != nil {
				err = rerr
			} else {
				err = checkUserLines(data, orig, isStressLine)
			}
		}
	}
	_, _ = io.Copy(io.Discard, out)
	return killed, err
}

// stressChild is the body of a child process.
func stressChild(path string, out io.Writer) error {
	if path == "" {
		return errors.New("no hosts file given")
	}
	f := New(path)
	// 32 writers hammer one lock with two fsyncs per hold: on a slow CI
	// disk one may wait past the 10 s a user would, which is not what the
	// stress test is about.
	f.LockWait = 2 * time.Minute
	var wg sync.WaitGroup
	errs := make(chan error, stressWorkers)
	var outMu sync.Mutex
	for w := range stressWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stressWorker(f, w, func() {
				outMu.Lock()
				defer outMu.Unlock()
				fmt.Fprintln(out, "op")
			}); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return errors.Join(drain(errs)...)
}

func drain(ch chan error) []error {
	var errs []error
	for err := range ch {
		errs = append(errs, err)
	}
	return errs
}

func stressWorker(f *File, w int, done func()) error {
	owner := newOwner()
	for i := range stressOps {
		var err error
		switch {
		case i%50 == 25:
			err = stressClean(f, owner)
		case i%2 == 0:
			err = stressSet(f, owner, w, i)
		default:
			err = stressRemove(f, owner)
		}
		if err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
		done()
	}
	return nil
}

// stressSet sets the block and checks it is there: between the two, other
// processes wrote, and none of them may have lost it.
func stressSet(f *File, owner Owner, w, i int) error {
	entries := []Entry{
		{fmt.Sprintf("127.%d.%d.%d", 10+w, 1+i%250, 1+owner.PID%250), []string{fmt.Sprintf("w%d-%d.p%d%s", w, i, owner.PID, stressDomain)}},
		{"::1", []string{fmt.Sprintf("a.w%d-%d%s", w, i, stressDomain), fmt.Sprintf("b.w%d-%d%s", w, i, stressDomain)}},
	}
	if err := f.Set(owner, entries); err != nil {
		return err
	}
	blocks, err := f.Blocks()
	if err != nil {
		return err
	}
	if b, ok := findBlock(blocks, owner); !ok || !sameEntries(b.Entries, entries) {
		return fmt.Errorf("own block lost or changed right after Set: %+v", b)
	}
	return nil
}

func stressRemove(f *File, owner Owner) error {
	if err := f.Remove(owner); err != nil {
		return err
	}
	blocks, err := f.Blocks()
	if err != nil {
		return err
	}
	if _, ok := findBlock(blocks, owner); ok {
		return errors.New("block still there after Remove")
	}
	return nil
}

func stressClean(f *File, owner Owner) error {
	removed, err := f.Clean()
	if err != nil {
		return err
	}
	for _, b := range removed {
		if b.Owner.PID == owner.PID {
			return fmt.Errorf("Clean removed a block of this live process: %+v", b.Owner)
		}
	}
	return nil
}
