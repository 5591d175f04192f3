package envfile

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
)

// TestKilledWriterReclaimed: a fwd killed with SIGKILL while its block is
// in the file cannot remove it; the next Set, of another process, does.
func TestKilledWriterReclaimed(t *testing.T) {
	const orig = "A_USER=1\n# keep me\n"
	path := writeEnv(t, orig)
	cmd, out := child(t, "hold", path)
	if got := readLine(t, out, cmd); got != "ready\n" {
		t.Fatalf("hold child said %q: %s", got, stderrOf(cmd))
	}
	f := New(path)
	blocks, err := f.Blocks()
	must(t, err)
	if len(blocks) != 1 || blocks[0].Owner.PID != cmd.Process.Pid || !slices.Equal(blocks[0].Vars, heldVars) {
		t.Fatalf("blocks %+v, want the child's (pid %d)", blocks, cmd.Process.Pid)
	}

	must(t, cmd.Process.Signal(os.Kill)) // SIGKILL on Unix: no exit handler runs
	if err := cmd.Wait(); err == nil {
		t.Fatal("the child exited normally; it was to be killed")
	}
	mustEqual(t, userLines(readEnv(t, path), "HELD_"), orig, "user lines after the kill")

	live := newOwner()
	setNoShadow(t, f, live, varsA)
	blocks, err = f.Blocks()
	must(t, err)
	if len(blocks) != 1 || blocks[0].Owner != live {
		t.Fatalf("blocks after the next Set: %+v, want only the live one", blocks)
	}
	must(t, f.Remove(live))
	mustEqual(t, readEnv(t, path), orig, "after Remove")
}

// writers and writerOps size TestConcurrentWriters, for each of its two
// processes.
const (
	writers   = 3
	writerOps = 25
)

// TestConcurrentWriters: goroutines sharing one File, goroutines with their
// own File, and a second process doing the same on the same file never
// lose each other's blocks, nor a byte of the user's.
func TestConcurrentWriters(t *testing.T) {
	const orig = "# shared\r\nAPP=1\r\nexport TOKEN='t'" // CRLF, no final newline
	path := writeEnv(t, orig)
	cmd, out := child(t, "writer", path)

	shared := New(path)
	owners := make([]Owner, writers)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		owners[w] = newOwner()
		f := shared
		if w%2 == 1 {
			f = New(path)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := writerWorker(f, owners[w], fmt.Sprintf("PARENT%d_", w)); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := readLine(t, out, cmd); got != "done\n" {
		t.Fatalf("writer child said %q: %s", got, stderrOf(cmd))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("writer child: %v\n%s", err, stderrOf(cmd))
	}

	blocks, err := shared.Blocks()
	must(t, err)
	if len(blocks) != writers {
		t.Fatalf("%d blocks, want the %d of this process: %+v", len(blocks), writers, blocks)
	}
	for _, o := range owners {
		must(t, shared.Remove(o))
	}
	mustEqual(t, readEnv(t, path), orig, "after every block removed")
}

// writerChild is the second process of TestConcurrentWriters: its workers
// end by removing their blocks.
func writerChild(path string) error {
	f := New(path)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := newOwner()
			err := writerWorker(f, o, fmt.Sprintf("CHILD%d_", w))
			if err == nil {
				err = f.Remove(o)
			}
			if err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

// writerWorker sets its block and checks it, removing it now and then, and
// ends with its block set: between any two steps other writers wrote, and
// none may have lost or changed it.
func writerWorker(f *File, o Owner, prefix string) error {
	for i := range writerOps {
		vars := []Var{{prefix + "HOST", fmt.Sprintf("127.0.%d.1", i)}, {prefix + "PASSWORD", fmt.Sprintf("it's #%d", i)}}
		if shadowed, err := f.Set(o, vars); err != nil || len(shadowed) != 0 {
			return fmt.Errorf("op %d: Set = %v, %v", i, shadowed, err)
		}
		blocks, err := f.Blocks()
		if err != nil {
			return err
		}
		if b, ok := findBlock(blocks, o); !ok || !slices.Equal(b.Vars, vars) {
			return fmt.Errorf("op %d: own block lost or changed right after Set: %+v", i, b)
		}
		if i%3 == 1 {
			if err := f.Remove(o); err != nil {
				return err
			}
		}
	}
	return nil
}
