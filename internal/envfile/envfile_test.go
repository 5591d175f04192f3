package envfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// envFixtures are .env files as users have them. Each is written by the
// test itself, so its bytes (CRLF, no final newline) are exactly these.
var envFixtures = []struct{ name, content string }{
	{"lf", "# app settings\nDATABASE_URL=postgres://me@localhost/app\n\nexport API_TOKEN='abc'\n"},
	{"crlf", "# app settings\r\nDATABASE_URL=postgres://me@localhost/app\r\nexport API_TOKEN=\"abc\"\r\n"},
	{"no final newline", "DATABASE_URL=x\nexport API_TOKEN=abc # trailing comment"},
	{"crlf no final newline", "DATABASE_URL=x\r\nAPI_TOKEN=abc"},
	{"mixed endings", "A_ONE=1\r\nA_TWO=2\nA_THREE=3\r\n"},
	{"bom", "\ufeffDATABASE_URL=x\r\n"},
	{"odd whitespace", "  \tDATABASE_URL = x  \n\n\n   # indented comment\t\n"},
	{"only comments", "# nothing yet\n#\n"},
	{"empty", ""},
	{"only newline", "\n"},
	{"lone cr at end", "A_ONE=1\r"},
}

var (
	varsA  = []Var{{"FWD_DB_HOST", "127.1.2.3"}, {"FWD_DB_PASSWORD", "p@ss word's"}}
	varsA2 = []Var{{"FWD_DB_HOST", "127.1.2.5"}, {"FWD_API_URL", "http://127.1.2.5:8080/v1?x=1"}}
	varsB  = []Var{{"FWD_CACHE_URL", `redis://:s3cr\et@127.3.3.3:6379`}}
)

// TestRoundTrip is the byte-for-byte guarantee: over every fixture, any
// sequence of Set and Remove that ends with every block removed gives back
// the exact original file, and Blocks reads back each value exactly.
func TestRoundTrip(t *testing.T) {
	for _, fx := range envFixtures {
		t.Run(fx.name, func(t *testing.T) {
			path := writeEnv(t, fx.content)
			f := New(path)
			a, b := newOwner(), newOwner()

			setNoShadow(t, f, a, varsA)
			got := readEnv(t, path)
			if !strings.HasPrefix(got, fx.content) {
				t.Fatalf("Set changed the bytes before the block:\n got %q\norig %q", got, fx.content)
			}
			checkBlock(t, f, a, varsA)
			setNoShadow(t, f, a, varsA2)
			setNoShadow(t, f, b, varsB)
			checkBlock(t, f, a, varsA2)
			checkBlock(t, f, b, varsB)
			if got := userLines(readEnv(t, path), "FWD_"); !sameUserLines(got, fx.content) {
				t.Fatalf("user lines changed:\n got %q\norig %q", got, fx.content)
			}

			must(t, f.Remove(a))
			checkBlock(t, f, b, varsB)
			must(t, f.Remove(b))
			mustEqual(t, readEnv(t, path), fx.content, "after Set a, Set b, Remove a, Remove b")

			setNoShadow(t, f, a, varsA)
			setNoShadow(t, f, b, varsB)
			must(t, f.Remove(b))
			must(t, f.Remove(a))
			must(t, f.Remove(a))
			mustEqual(t, readEnv(t, path), fx.content, "after Set a, Set b, Remove b, Remove a twice")
			checkNoTemps(t, filepath.Dir(path))
		})
	}
}

// sameUserLines: got is orig, except that a last line without a newline
// may have gained one.
func sameUserLines(got, orig string) bool {
	if strings.HasSuffix(orig, "\n") || orig == "" {
		return got == orig
	}
	return got == orig+"\n" || got == orig+"\r\n"
}

func setNoShadow(t *testing.T, f *File, o Owner, vars []Var) {
	t.Helper()
	shadowed, err := f.Set(o, vars)
	must(t, err)
	if len(shadowed) != 0 {
		t.Fatalf("Set left out %v", shadowed)
	}
}

// TestBlockFormat pins the bytes: the markers are blockfile's, the same as
// in the hosts file, and each variable is one KEY=value line.
func TestBlockFormat(t *testing.T) {
	o := Owner{PID: 1234, Start: 98765, Session: "ab12cd34ef567890"}
	const begin = "# fwd begin pid=1234 start=98765 session=ab12cd34ef567890"
	const notice = " — do not edit, removed when fwd exits"
	const body = "DB_HOST=127.1.2.3\nDB_PASSWORD='two words'\nDB_NOTE=\"it's\"\nEMPTY=\n"
	vars := []Var{{"DB_HOST", "127.1.2.3"}, {"DB_PASSWORD", "two words"}, {"DB_NOTE", "it's"}, {"EMPTY", ""}}
	crlfBody := strings.ReplaceAll(body, "\n", "\r\n")
	tests := []struct{ name, in, want string }{
		{"empty", "", begin + notice + "\n" + body + "# fwd end session=ab12cd34ef567890\n"},
		{"lf", "A=1\n", "A=1\n" + begin + notice + "\n" + body + "# fwd end session=ab12cd34ef567890\n"},
		{"crlf", "A=1\r\n", "A=1\r\n" + begin + notice + "\r\n" + crlfBody + "# fwd end session=ab12cd34ef567890\r\n"},
		{"no final newline", "A=1", "A=1\n" + begin + " nl=added" + notice + "\n" + body + "# fwd end session=ab12cd34ef567890\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeEnv(t, tt.in)
			_, err := New(path).Set(o, vars)
			must(t, err)
			mustEqual(t, readEnv(t, path), tt.want, "file")
		})
	}
}

// TestNewFileMode: a missing file is created readable by its owner only,
// whatever the umask; an existing file keeps its mode.
func TestNewFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	path := filepath.Join(t.TempDir(), ".env")
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
	setNoShadow(t, f, o, varsA)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	must(t, f.Remove(o))
	mustEqual(t, readEnv(t, path), "", "after Remove")

	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604} {
		path := writeEnv(t, "A=1\n")
		must(t, os.Chmod(path, mode))
		setNoShadow(t, New(path), newOwner(), varsA)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("existing file of mode %v became %v (%v)", mode, fi.Mode(), err)
		}
	}
}

// TestUserKeysLeftOut: a key that a line of the user's defines, in any of
// the forms the readers accept, is left out of fwd's block and reported;
// a commented-out key or one in another fwd block is not the user's.
func TestUserKeysLeftOut(t *testing.T) {
	user := "DB_HOST=mine\r\nexport DB_USER=me\r\n  DB_PORT = 5433\r\nDB_NAME: app\r\nDB_SSL\r\n# DB_PASSWORD=old\r\nexport\tDB_MODE='x'\r\n"
	path := writeEnv(t, user)
	f := New(path)
	other := newOwner()
	setNoShadow(t, f, other, []Var{{"DB_EXTRA", "theirs"}})
	o := newOwner()
	vars := []Var{{"DB_HOST", "127.1.1.1"}, {"DB_USER", "fwd"}, {"DB_PORT", "5432"}, {"DB_NAME", "db"},
		{"DB_SSL", "off"}, {"DB_PASSWORD", "new"}, {"DB_MODE", "y"}, {"DB_EXTRA", "ours"}}
	shadowed, err := f.Set(o, vars)
	must(t, err)
	if want := []string{"DB_HOST", "DB_USER", "DB_PORT", "DB_NAME", "DB_SSL", "DB_MODE"}; !slices.Equal(shadowed, want) {
		t.Fatalf("shadowed %v, want %v", shadowed, want)
	}
	checkBlock(t, f, o, []Var{{"DB_PASSWORD", "new"}, {"DB_EXTRA", "ours"}})
	must(t, f.Remove(other))
	must(t, f.Remove(o))
	mustEqual(t, readEnv(t, path), user, "after Remove")
}

// TestDeadOwnerReclaimed: the block of a process that is gone is removed
// by Clean, which returns it, and by the next Set of anyone, while the
// blocks of live owners stay.
func TestDeadOwnerReclaimed(t *testing.T) {
	const orig = "# mine\nAPP_MODE=dev\n"
	path := writeEnv(t, orig)
	f := New(path)
	dead, live := deadOwner(t), newOwner()
	deadVars := []Var{{"OLD_HOST", "127.8.8.8"}}

	setNoShadow(t, f, live, varsA)
	setNoShadow(t, f, dead, deadVars) // as if it had written it while it ran
	removed, err := f.Clean()
	must(t, err)
	if len(removed) != 1 || removed[0].Owner != dead || !slices.Equal(removed[0].Vars, deadVars) {
		t.Fatalf("Clean removed %+v, want the block of %+v", removed, dead)
	}
	checkBlock(t, f, live, varsA)
	if removed, err := f.Clean(); err != nil || len(removed) != 0 {
		t.Fatalf("second Clean = %+v, %v", removed, err)
	}

	setNoShadow(t, f, dead, deadVars)
	setNoShadow(t, f, live, varsA2)
	blocks, err := f.Blocks()
	must(t, err)
	if len(blocks) != 1 || blocks[0].Owner != live {
		t.Fatalf("after the next Set: %+v, want only the live block", blocks)
	}
	must(t, f.Remove(live))
	mustEqual(t, readEnv(t, path), orig, "after Remove")
}

// TestInvalidInput: nothing reaches the file, nor even its lock, when a key
// or a value cannot be written; the error says which and why.
func TestInvalidInput(t *testing.T) {
	tests := []struct {
		name string
		vars []Var
		says string
	}{
		{"empty key", []Var{{"", "x"}}, "empty key"},
		{"digit first", []Var{{"1A", "x"}}, `"1A"`},
		{"dash", []Var{{"A-B", "x"}}, `"A-B"`},
		{"space", []Var{{"A B", "x"}}, `"A B"`},
		{"equals", []Var{{"A=B", "x"}}, `"A=B"`},
		{"dot", []Var{{"A.B", "x"}}, `"A.B"`},
		{"unicode key", []Var{{"É", "x"}}, `"É"`},
		{"twice", []Var{{"A", "1"}, {"A", "2"}}, "A given twice"},
		{"newline", []Var{{"A", "x\ny"}}, "line break"},
		{"carriage return", []Var{{"A", "x\r"}}, "line break"},
		{"nul", []Var{{"A", "x\x00"}}, "NUL"},
		{"invalid utf-8", []Var{{"A", "x\xff"}}, "UTF-8"},
		{"python variable", []Var{{"A", "a${HOME}b"}}, `"${HOME}"`},
		{"python default", []Var{{"A", "${X:-y}"}}, "python-dotenv"},
		{"quote and dollar", []Var{{"PASS", "it's $5"}}, "value of PASS holds ' and $ or `"},
		{"quote and backtick", []Var{{"A", "it's `x`"}}, "' and $ or `"},
		{"final backslash", []Var{{"A", `C:\dir\`}}, `holds a final \:`},
		{"quote and final quote", []Var{{"A", `it's "x"`}}, `' and a final "`},
		{"two backslashes and backslash n", []Var{{"A", `\\srv\new`}}, `\\ and \n or \r`},
		{"one bad among good", []Var{{"GOOD", "1"}, {"BAD", "a\nb"}}, "BAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const orig = "A_USER=1\n"
			path := writeEnv(t, orig)
			before, err := os.Stat(path)
			must(t, err)
			_, err = New(path).Set(newOwner(), tt.vars)
			if !errors.Is(err, ErrInvalidVar) || !strings.HasPrefix(err.Error(), "envfile: ") || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Set = %v, want ErrInvalidVar saying %q", err, tt.says)
			}
			checkUntouched(t, path, orig, before)
		})
	}
	for _, o := range []Owner{{PID: 0, Session: "ab"}, {PID: 1, Session: ""}, {PID: 1, Session: "x\n# fwd end"}} {
		path := writeEnv(t, "")
		if _, err := New(path).Set(o, varsA); err == nil || !strings.HasPrefix(err.Error(), "envfile: invalid owner") {
			t.Errorf("Set(%+v) = %v, want an invalid owner error", o, err)
		}
		if err := New(path).Remove(o); err == nil {
			t.Errorf("Remove(%+v) succeeded", o)
		}
	}
}

// checkUntouched: the file is as it was, not replaced, and not even its
// lock file was made.
func checkUntouched(t *testing.T, path, orig string, before fs.FileInfo) {
	t.Helper()
	mustEqual(t, readEnv(t, path), orig, "file")
	after, err := os.Stat(path)
	must(t, err)
	if !os.SameFile(before, after) {
		t.Fatal("file replaced")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	must(t, err)
	if len(entries) != 1 {
		t.Fatalf("files beside it: %v", entries)
	}
}

// TestEditedBlock: a line someone added inside the fence is kept as long
// as the block is, not read as a variable, and goes with the block.
func TestEditedBlock(t *testing.T) {
	const orig = "A_USER=1\n"
	path := writeEnv(t, orig)
	f := New(path)
	o := newOwner()
	setNoShadow(t, f, o, varsB)
	edited := strings.Replace(readEnv(t, path), "FWD_CACHE_URL=", "# a note\nBROKEN='x\nFWD_CACHE_URL=", 1)
	must(t, os.WriteFile(path, []byte(edited), 0o600))
	checkBlock(t, f, o, varsB)
	must(t, f.Remove(o))
	mustEqual(t, readEnv(t, path), orig, "after Remove")
}

func TestPath(t *testing.T) {
	if got := New("dir/.env").Path(); got != "dir/.env" {
		t.Fatalf("Path() = %q", got)
	}
}
