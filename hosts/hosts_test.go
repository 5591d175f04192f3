package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	entriesA  = []Entry{{"127.1.2.3", []string{"api", "api.shop"}}, {"127.1.2.4", []string{"db.shop"}}}
	entriesA2 = []Entry{{"127.1.2.5", []string{"API.Shop", "web.shop"}}}
	entriesB  = []Entry{{"::1", []string{"cache.shop"}}, {"127.3.3.3", []string{"queue.shop"}}}
)

// TestRoundTrip is the byte-for-byte guarantee: over every fixture, and
// both with a working rename and on a simulated bind mount, any sequence of
// Set and Remove that ends with every block removed gives back the exact
// original file.
func TestRoundTrip(t *testing.T) {
	for _, tfs := range testFileSystems {
		for _, name := range fixtureNames(t) {
			t.Run(tfs.name+"/"+name, func(t *testing.T) {
				orig := readFixture(t, name)
				path := writeHosts(t, orig)
				f := newFile(path, tfs.fs)
				// Holding the original open keeps its inode from being
				// reused, so SameFile below tells replaced from rewritten.
				held, err := os.Open(path)
				must(t, err)
				defer held.Close()
				before, err := held.Stat()
				must(t, err)
				a, b := newOwner(), newOwner()

				must(t, f.Set(a, entriesA))
				got := readHosts(t, path)
				if !bytes.HasPrefix(got, orig) {
					t.Fatalf("Set changed the bytes before the block:\n got %q\norig %q", got, orig)
				}
				checkResolves(t, path, "api.shop", "127.1.2.3")
				checkResolves(t, path, "db.shop", "127.1.2.4")
				checkBlock(t, f, a, entriesA)

				must(t, f.Set(a, entriesA2))
				checkResolves(t, path, "api.shop", "127.1.2.5")
				checkUnresolved(t, path, "db.shop")
				must(t, f.Set(b, entriesB))
				checkResolves(t, path, "cache.shop", "::1")
				checkBlock(t, f, a, []Entry{{"127.1.2.5", []string{"api.shop", "web.shop"}}})

				must(t, f.Remove(a))
				checkUnresolved(t, path, "api.shop")
				checkBlock(t, f, b, entriesB)
				must(t, f.Remove(b))
				mustEqualBytes(t, readHosts(t, path), orig, "after Set a, Set b, Remove a, Remove b")

				must(t, f.Set(a, entriesA))
				must(t, f.Set(b, entriesB))
				must(t, f.Remove(b))
				must(t, f.Remove(a))
				mustEqualBytes(t, readHosts(t, path), orig, "after Set a, Set b, Remove b, Remove a")

				must(t, f.Set(a, entriesA))
				must(t, f.Remove(a))
				must(t, f.Remove(a))
				mustEqualBytes(t, readHosts(t, path), orig, "after Set a, Remove a twice")

				checkNoTemps(t, filepath.Dir(path))
				after := stat(t, path)
				if rewritten := os.SameFile(before, after); rewritten != tfs.bindMount {
					t.Fatalf("file rewritten in place: %v, want %v", rewritten, tfs.bindMount)
				}
				if after.Mode() != before.Mode() {
					t.Fatalf("mode %v, was %v", after.Mode(), before.Mode())
				}
			})
		}
	}
}

func TestBlockFormat(t *testing.T) {
	o := Owner{PID: 1234, Start: 98765, Session: "ab12cd34ef567890"}
	entries := []Entry{{"127.1.2.3", []string{"api", "api.shop"}}}
	const begin = "# fwd begin pid=1234 start=98765 session=ab12cd34ef567890"
	const notice = " — do not edit, removed when fwd exits"
	tests := []struct{ name, in, want string }{
		{"lf", "127.0.0.1 localhost\n",
			"127.0.0.1 localhost\n" + begin + notice + "\n127.1.2.3 api api.shop\n# fwd end session=ab12cd34ef567890\n"},
		{"crlf", "127.0.0.1 localhost\r\n",
			"127.0.0.1 localhost\r\n" + begin + notice + "\r\n127.1.2.3 api api.shop\r\n# fwd end session=ab12cd34ef567890\r\n"},
		{"no trailing newline", "127.0.0.1 localhost",
			"127.0.0.1 localhost\n" + begin + " nl=added" + notice + "\n127.1.2.3 api api.shop\n# fwd end session=ab12cd34ef567890\n"},
		{"empty", "",
			begin + notice + defaultEOL + "127.1.2.3 api api.shop" + defaultEOL + "# fwd end session=ab12cd34ef567890" + defaultEOL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeHosts(t, []byte(tt.in))
			must(t, New(path).Set(o, entries))
			mustEqualBytes(t, readHosts(t, path), []byte(tt.want), "file")
		})
	}
}

func TestSetKeepsOtherBlocksAndPlace(t *testing.T) {
	orig := readFixture(t, "basic.hosts")
	path := writeHosts(t, orig)
	f := New(path)
	a, b, c := newOwner(), newOwner(), newOwner()
	must(t, f.Set(a, entriesA))
	must(t, f.Set(b, entriesB))
	must(t, f.Set(c, []Entry{{"127.4.4.4", []string{"c.shop"}}}))
	withB := readHosts(t, path)

	must(t, f.Set(a, entriesA2))
	must(t, f.Set(c, nil))
	blocks, err := f.Blocks()
	must(t, err)
	if len(blocks) != 3 || blocks[0].Owner != a || blocks[1].Owner != b || blocks[2].Owner != c {
		t.Fatalf("blocks moved or lost: %+v", blocks)
	}
	if len(blocks[2].Entries) != 0 {
		t.Fatalf("Set with no entries left %+v", blocks[2].Entries)
	}
	bText := blockText(t, withB, b)
	if !bytes.Contains(readHosts(t, path), bText) {
		t.Fatalf("b's block changed; want it to still contain %q", bText)
	}
	must(t, f.Remove(b))
	checkBlock(t, f, a, []Entry{{"127.1.2.5", []string{"api.shop", "web.shop"}}})
	checkBlock(t, f, c, nil)
	must(t, f.Remove(a))
	must(t, f.Remove(c))
	mustEqualBytes(t, readHosts(t, path), orig, "after removing all")
}

func blockText(t *testing.T, data []byte, o Owner) []byte {
	t.Helper()
	lines := splitLines(data)
	for _, s := range parseSpans(lines) {
		if s.Owner == o {
			return joinLines(lines[s.first : s.last+1])
		}
	}
	t.Fatalf("no block of %+v", o)
	return nil
}

// TestAddedNewlineHandOver: when the block that added the file's final
// newline goes while another block follows it, the next block takes over
// the duty of removing that newline.
func TestAddedNewlineHandOver(t *testing.T) {
	orig := readFixture(t, "no-trailing-newline.hosts")
	path := writeHosts(t, orig)
	f := New(path)
	a, b := newOwner(), newOwner()
	must(t, f.Set(a, entriesA))
	must(t, f.Set(b, entriesB))
	must(t, f.Remove(a))
	if !strings.Contains(string(readHosts(t, path)), "session="+b.Session+" nl=added") {
		t.Fatalf("b did not take over the added newline:\n%s", readHosts(t, path))
	}
	must(t, f.Remove(b))
	mustEqualBytes(t, readHosts(t, path), orig, "after hand-over")
}

// TestUnterminatedBlock pins down what a begin marker without its end
// marker means: it owns only its own line, and the lines after it, which
// may well be the user's, are never touched.
func TestUnterminatedBlock(t *testing.T) {
	orig := string(readFixture(t, "foreign-blocks.hosts"))
	complete := Owner{PID: 2147480000, Start: 1, Session: "0123456789abcdef"}
	broken := Owner{PID: 2147480001, Start: 1, Session: "fedcba9876543210"}
	brokenMarker := "# fwd begin pid=2147480001 start=1 session=fedcba9876543210 — do not edit, removed when fwd exits\n"
	completeBlock := "# fwd begin pid=2147480000 start=1 session=0123456789abcdef — do not edit, removed when fwd exits\n" +
		"127.9.9.9 old old.shop\n# fwd end session=0123456789abcdef\n"

	t.Run("Blocks", func(t *testing.T) {
		blocks, err := New(writeHosts(t, []byte(orig))).Blocks()
		must(t, err)
		if len(blocks) != 2 || blocks[0].Owner != complete || blocks[1].Owner != broken {
			t.Fatalf("blocks %+v", blocks)
		}
		if !sameEntries(blocks[0].Entries, []Entry{{"127.9.9.9", []string{"old", "old.shop"}}}) || len(blocks[1].Entries) != 0 {
			t.Fatalf("entries %+v / %+v", blocks[0].Entries, blocks[1].Entries)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		path := writeHosts(t, []byte(orig))
		must(t, New(path).Remove(broken))
		mustEqualBytes(t, readHosts(t, path), []byte(strings.Replace(orig, brokenMarker, "", 1)), "file")
	})
	t.Run("Set", func(t *testing.T) {
		path := writeHosts(t, []byte(orig))
		must(t, New(path).Set(broken, []Entry{{"127.8.8.8", []string{"fixed"}}}))
		want := strings.Replace(orig, brokenMarker,
			brokenMarker+"127.8.8.8 fixed\n# fwd end session=fedcba9876543210\n", 1)
		mustEqualBytes(t, readHosts(t, path), []byte(want), "file")
	})
	t.Run("Clean", func(t *testing.T) {
		path := writeHosts(t, []byte(orig))
		removed, err := New(path).Clean()
		must(t, err)
		if len(removed) != 2 || removed[0].Owner != complete || removed[1].Owner != broken {
			t.Fatalf("removed %+v", removed)
		}
		want := strings.Replace(strings.Replace(orig, completeBlock, "", 1), brokenMarker, "", 1)
		mustEqualBytes(t, readHosts(t, path), []byte(want), "file")
	})
}

// startWaiter starts a helper process that lives until the returned stop
// function is called, and returns its PID.
func startWaiter(t *testing.T) (pid int, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=wait")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			stdin.Close()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return cmd.Process.Pid, stop
}

func TestCleanDeadPID(t *testing.T) {
	orig := readFixture(t, "basic.hosts")
	path := writeHosts(t, orig)
	f := New(path)
	pid, stop := startWaiter(t)
	start, err := processStart(pid)
	if err != nil && (runtime.GOOS == "linux" || runtime.GOOS == "darwin" || runtime.GOOS == "windows") {
		t.Fatalf("start time of %d: %v", pid, err)
	}
	child := Owner{PID: pid, Start: start, Session: randomSession()}
	childUnknownStart := Owner{PID: pid, Session: randomSession()}
	live := newOwner()
	must(t, f.Set(live, entriesA))
	must(t, f.Set(child, entriesB))
	must(t, f.Set(childUnknownStart, []Entry{{"127.5.5.5", []string{"other.shop"}}}))

	removed, err := f.Clean()
	must(t, err)
	if len(removed) != 0 {
		t.Fatalf("Clean removed blocks of running processes: %+v", removed)
	}

	stop()
	if child.Alive() || childUnknownStart.Alive() {
		t.Fatalf("pid %d still alive after exit", pid)
	}
	removed, err = f.Clean()
	must(t, err)
	if len(removed) != 2 || removed[0].Owner != child || removed[1].Owner != childUnknownStart {
		t.Fatalf("Clean removed %+v, want the two blocks of pid %d", removed, pid)
	}
	checkBlock(t, f, live, entriesA)
	must(t, f.Remove(live))
	mustEqualBytes(t, readHosts(t, path), orig, "after Clean and Remove")
}

// TestCleanReusedPID: a block whose PID now belongs to another process (here
// this very one, with a start time that is not its own) is dead.
func TestCleanReusedPID(t *testing.T) {
	me := CurrentOwner()
	if me.Start == 0 {
		t.Skipf("start times unknown on %s", runtime.GOOS)
	}
	orig := readFixture(t, "crlf.hosts")
	path := writeHosts(t, orig)
	f := New(path)
	reused := Owner{PID: me.PID, Start: me.Start + 1, Session: randomSession()}
	live := newOwner()
	unknown := Owner{PID: me.PID, Session: randomSession()}
	must(t, f.Set(reused, entriesB))
	must(t, f.Set(live, entriesA))
	must(t, f.Set(unknown, entriesA2))

	removed, err := f.Clean()
	must(t, err)
	if len(removed) != 1 || removed[0].Owner != reused || !sameEntries(removed[0].Entries, entriesB) {
		t.Fatalf("Clean removed %+v, want only %+v", removed, reused)
	}
	checkBlock(t, f, live, entriesA)
	must(t, f.Remove(live))
	must(t, f.Remove(unknown))
	mustEqualBytes(t, readHosts(t, path), orig, "file")
}

func TestOwner(t *testing.T) {
	me := CurrentOwner()
	if me != CurrentOwner() {
		t.Fatal("CurrentOwner changed")
	}
	if me.PID != os.Getpid() || len(me.Session) != 16 || strings.Trim(me.Session, "0123456789abcdef") != "" {
		t.Fatalf("CurrentOwner = %+v", me)
	}
	if (runtime.GOOS == "linux" || runtime.GOOS == "darwin" || runtime.GOOS == "windows") && me.Start == 0 {
		t.Fatal("start time unknown")
	}
	if !me.Alive() {
		t.Fatal("this process is not alive")
	}
	dead := []Owner{{PID: 0}, {PID: -1}}
	if me.Start != 0 {
		dead = append(dead, Owner{PID: me.PID, Start: me.Start + 1})
	}
	for _, o := range dead {
		if o.Alive() {
			t.Errorf("%+v alive", o)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
	}{
		{"bad ip", []Entry{{"127.0.0.300", []string{"a"}}}},
		{"not an ip", []Entry{{"localhost", []string{"a"}}}},
		{"empty address", []Entry{{"", []string{"a"}}}},
		{"zone", []Entry{{"fe80::1%eth0", []string{"a"}}}},
		{"no hostnames", []Entry{{"127.0.0.2", nil}}},
		{"space", []Entry{{"127.0.0.2", []string{"a b"}}}},
		{"newline", []Entry{{"127.0.0.2", []string{"a\n10.0.0.1 evil"}}}},
		{"carriage return", []Entry{{"127.0.0.2", []string{"a\r"}}}},
		{"tab", []Entry{{"127.0.0.2", []string{"a\tb"}}}},
		{"comment", []Entry{{"127.0.0.2", []string{"a#b"}}}},
		{"empty hostname", []Entry{{"127.0.0.2", []string{""}}}},
		{"empty label", []Entry{{"127.0.0.2", []string{"a..b"}}}},
		{"trailing dot", []Entry{{"127.0.0.2", []string{"a.b."}}}},
		{"leading hyphen", []Entry{{"127.0.0.2", []string{"-a"}}}},
		{"long label", []Entry{{"127.0.0.2", []string{strings.Repeat("a", 64)}}}},
		{"ip as hostname", []Entry{{"127.0.0.2", []string{"10.0.0.1"}}}},
		{"unicode space", []Entry{{"127.0.0.2", []string{"a\u00a0b"}}}},
		{"one bad among good", []Entry{{"127.0.0.2", []string{"good"}}, {"127.0.0.3", []string{"ok", "b@d"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := readFixture(t, "basic.hosts")
			path := writeHosts(t, orig)
			before := stat(t, path)
			err := New(path).Set(newOwner(), tt.entries)
			if !errors.Is(err, ErrInvalidEntry) || !strings.HasPrefix(err.Error(), "hosts: ") {
				t.Fatalf("Set = %v, want ErrInvalidEntry", err)
			}
			checkUntouched(t, path, orig, before)
			if _, err := os.Stat(lockPath(path)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("invalid entries reached the lock: %v", err)
			}
		})
	}
	for _, o := range []Owner{{PID: 0, Session: "ab"}, {PID: 1, Session: ""}, {PID: 1, Session: "a b"}, {PID: 1, Session: "x\n# fwd end"}} {
		path := writeHosts(t, nil)
		if err := New(path).Set(o, entriesA); err == nil || !strings.HasPrefix(err.Error(), "hosts: ") {
			t.Errorf("Set(%+v) = %v, want an error", o, err)
		}
		if err := New(path).Remove(o); err == nil {
			t.Errorf("Remove(%+v) succeeded", o)
		}
	}
}

// checkUntouched checks that a failed or no-op call neither changed nor
// replaced the file, nor left a temporary file.
func checkUntouched(t *testing.T, path string, orig []byte, before fs.FileInfo) {
	t.Helper()
	mustEqualBytes(t, readHosts(t, path), orig, "file")
	if !os.SameFile(before, stat(t, path)) {
		t.Fatal("file replaced")
	}
	checkNoTemps(t, filepath.Dir(path))
}

func TestRemoveAbsentWritesNothing(t *testing.T) {
	orig := readFixture(t, "foreign-blocks.hosts")
	path := writeHosts(t, orig)
	before := stat(t, path)
	must(t, New(path).Remove(newOwner()))
	checkUntouched(t, path, orig, before)
}

// TestRenameFailsOtherwise: a rename failure that is not a bind mount's is
// reported, and the temporary file is gone.
func TestRenameFailsOtherwise(t *testing.T) {
	orig := readFixture(t, "basic.hosts")
	path := writeHosts(t, orig)
	before := stat(t, path)
	f := newFile(path, renameFailsFS{err: syscall.EACCES})
	err := f.Set(newOwner(), entriesA)
	if !errors.Is(err, syscall.EACCES) || !errors.Is(err, ErrNotWritable) {
		t.Fatalf("Set = %v, want EACCES", err)
	}
	checkUntouched(t, path, orig, before)
}

func TestStaleTempRemoved(t *testing.T) {
	path := writeHosts(t, readFixture(t, "basic.hosts"))
	stale := filepath.Join(filepath.Dir(path), tempPrefix("hosts")+"12345")
	must(t, os.WriteFile(stale, []byte("left by a writer killed mid-write"), 0o600))
	must(t, New(path).Set(newOwner(), entriesA))
	checkNoTemps(t, filepath.Dir(path))
}

func TestSymlinkStaysLink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	orig := readFixture(t, "basic.hosts")
	target := writeHosts(t, orig)
	link := filepath.Join(t.TempDir(), "hosts")
	must(t, os.Symlink(target, link))
	f := New(link)
	o := newOwner()
	must(t, f.Set(o, entriesA))
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi.Mode(), err)
	}
	checkResolves(t, target, "api.shop", "127.1.2.3")
	must(t, f.Remove(o))
	mustEqualBytes(t, readHosts(t, target), orig, "target")
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	f := New(path)
	if blocks, err := f.Blocks(); err != nil || blocks != nil {
		t.Fatalf("Blocks of a missing file = %v, %v", blocks, err)
	}
	o := newOwner()
	must(t, f.Remove(o))
	if _, err := f.Clean(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove or Clean created the missing file: %v", err)
	}
	must(t, f.Set(o, entriesA))
	checkResolves(t, path, "api", "127.1.2.3")
	if fi := stat(t, path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644 {
		t.Fatalf("new file mode %v", fi.Mode())
	}
	must(t, f.Remove(o))
	mustEqualBytes(t, readHosts(t, path), nil, "file")
}

func TestDefaultPath(t *testing.T) {
	got := New("").Path()
	if runtime.GOOS == "windows" {
		if !strings.HasSuffix(strings.ToLower(got), `\system32\drivers\etc\hosts`) {
			t.Fatalf("default path %q", got)
		}
	} else if got != "/etc/hosts" {
		t.Fatalf("default path %q", got)
	}
	if got := New("x/hosts").Path(); got != "x/hosts" {
		t.Fatalf("Path() = %q", got)
	}
}

// TestLongEntrySplit: with Windows' limit of 9 names a line, a long entry
// spans several lines of the same address, all read back.
func TestLongEntrySplit(t *testing.T) {
	o := newOwner()
	var names []string
	for i := range 20 {
		names = append(names, "h"+string(rune('a'+i)))
	}
	data := setBlock([]byte("127.0.0.1 localhost\n"), Block{Owner: o, Entries: []Entry{{"127.1.1.1", names}}}, 9)
	spans := parseSpans(splitLines(data))
	if len(spans) != 1 || len(spans[0].Entries) != 3 {
		t.Fatalf("spans %+v", spans)
	}
	var got []string
	for _, e := range spans[0].Entries {
		if e.Address != "127.1.1.1" || len(e.Hostnames) > 9 {
			t.Fatalf("entry %+v", e)
		}
		got = append(got, e.Hostnames...)
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("names %v", got)
	}
	mustEqualBytes(t, removeBlock(data, o), []byte("127.0.0.1 localhost\n"), "after remove")
}

// TestConcurrentGoroutines: goroutines sharing one File and goroutines with
// their own File on the same path never lose each other's blocks.
func TestConcurrentGoroutines(t *testing.T) {
	orig := readFixture(t, "crlf-no-trailing-newline.hosts")
	path := writeHosts(t, orig)
	shared := New(path)
	const workers, ops = 8, 30
	owners := make([]Owner, workers)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		owners[w] = newOwner()
		f := shared
		if w%2 == 1 {
			f = New(path)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				entries := []Entry{{"127.0.9.1", []string{"w" + string(rune('a'+w)) + "-" + string(rune('a'+i%26))}}}
				if err := f.Set(owners[w], entries); err != nil {
					errs <- err
					return
				}
				blocks, err := f.Blocks()
				if err != nil {
					errs <- err
					return
				}
				if b, ok := findBlock(blocks, owners[w]); !ok || !sameEntries(b.Entries, entries) {
					errs <- errors.New("block lost or changed by another goroutine")
					return
				}
				if i%3 == 0 && i != ops-1 {
					if err := f.Remove(owners[w]); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	blocks, err := shared.Blocks()
	must(t, err)
	if len(blocks) != workers {
		t.Fatalf("%d blocks, want %d", len(blocks), workers)
	}
	for _, o := range owners {
		must(t, shared.Remove(o))
	}
	mustEqualBytes(t, readHosts(t, path), orig, "after all removed")
}

// TestSetUnshadowedKeepsUserNames: a name a user's own line maps is left
// out of fwd's block, an entry left with no name goes, and every user byte
// stays.
func TestSetUnshadowedKeepsUserNames(t *testing.T) {
	user := "127.0.0.1 localhost\r\n10.0.0.5 db # my own db\r\n"
	path := filepath.Join(t.TempDir(), "hosts")
	must(t, os.WriteFile(path, []byte(user), 0o644))
	f := New(path)
	owner := newOwner()
	shadowed, err := f.SetUnshadowed(owner, []Entry{
		{Address: "127.1.1.1", Hostnames: []string{"DB", "db.shop"}},
		{Address: "127.1.1.2", Hostnames: []string{"localhost"}},
		{Address: "127.1.1.3", Hostnames: []string{"api"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(shadowed, ",") != "db,localhost" {
		t.Fatalf("shadowed %v, want db and localhost", shadowed)
	}
	blocks, err := f.Blocks()
	if err != nil || len(blocks) != 1 {
		t.Fatalf("blocks %v, %v", blocks, err)
	}
	got := fmt.Sprint(blocks[0].Entries)
	if got != "[{127.1.1.1 [db.shop]} {127.1.1.3 [api]}]" {
		t.Fatalf("entries %s", got)
	}
	if err := f.Remove(owner); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != user {
		t.Fatalf("after Remove the file is %q, want the user's %q", b, user)
	}
}
