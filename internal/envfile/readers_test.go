package envfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// awkwardValues are values every reader must get back exactly: each needs
// one of the three forms, or is there because a reader treats it specially.
var awkwardValues = []string{
	"", "plain", "127.1.2.3", "a-b_c.d,e/f:g@h%i+j=k", "==", "-",
	"two words", " leading", "trailing ", "\ttab", "  ",
	"a$b", "$HOME", "$$", "$", "${", "$(id)", "a$", "${X", "$X}", "${a:b}", "`id`",
	"it's", "'", "''", "it's here", `say "hi" now`, `"`, `"start`, `it's "x" ok`, `'quoted'`,
	`C:\path\to`, `back\slash`, `\\server\share`, `a\'b`, `\n`, `\t`, `a\"b`, `\"`, `it\'s`,
	"#hash", "a #b", "a#b", "a # b", "=", "a=b", "x=#y",
	"ünïcødé", "日本語", "emoji 🎉", "\u00a0nbsp\u00a0", "\u2028",
	"~", "~/x", "a:~/b", "*", "?", "[a]", "{a,b}", "a;b", "a|b", "a&b", "<x>", "!", "!!", "(x)", "\x1b[0m",
	"postgres://user:p%40ss@127.1.2.3:5432/db?sslmode=disable&x=1",
}

// userPart is lines of the user's own around fwd's block, which every
// reader must still read.
const userPart = "# the user's\nUSER_PLAIN=kept\nexport USER_QUOTED='kept too'\n"

// writeAwkward writes awkwardValues as V0, V1... into a file beside the
// user's lines and returns it.
func writeAwkward(t *testing.T) (path string, keys []string) {
	t.Helper()
	path = writeEnv(t, userPart)
	vars := make([]Var, len(awkwardValues))
	for i, v := range awkwardValues {
		vars[i] = Var{fmt.Sprintf("V%d", i), v}
		keys = append(keys, vars[i].Key)
	}
	f := New(path)
	setNoShadow(t, f, newOwner(), vars)
	blocks, err := f.Blocks()
	must(t, err)
	if len(blocks) != 1 || len(blocks[0].Vars) != len(vars) {
		t.Fatalf("blocks %+v", blocks)
	}
	for i, v := range blocks[0].Vars {
		if v != vars[i] {
			t.Errorf("Blocks reads back %q, want %q", v, vars[i])
		}
	}
	return path, keys
}

// checkRead compares what a reader got for each key with what was written
// to path.
func checkRead(t *testing.T, reader, path string, keys []string, got map[string]string) {
	t.Helper()
	written := map[string]string{}
	for _, l := range strings.Split(readEnv(t, path), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			written[k] = l
		}
	}
	for i, k := range keys {
		if v, ok := got[k]; !ok || v != awkwardValues[i] {
			t.Errorf("%s reads %s as %q (found %v), want %q; the line is %q", reader, k, v, ok, awkwardValues[i], written[k])
		}
	}
	if got["USER_PLAIN"] != "kept" || got["USER_QUOTED"] != "kept too" {
		t.Errorf("%s lost the user's lines: %q, %q", reader, got["USER_PLAIN"], got["USER_QUOTED"])
	}
}

// TestBashReadsBack: what `set -a; . FILE` gives each variable, as a shell
// script sourcing the file would see it.
func TestBashReadsBack(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no bash to source the file with on Windows")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash, which every Unix CI has, is missing: %v", err)
	}
	path, keys := writeAwkward(t)
	got := map[string]string{}
	for _, k := range append(keys, "USER_PLAIN", "USER_QUOTED") {
		cmd := exec.Command(bash, "-c", `set -a; . "$0"; printf %s "$`+k+`"`, path)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/fwd-test"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash: %v", err)
		}
		got[k] = string(out)
	}
	checkRead(t, "bash", path, keys, got)
}

// TestPythonDotenvReadsBack: python-dotenv's dotenv_values, with its
// default interpolation, and no warning about a line it cannot parse.
func TestPythonDotenvReadsBack(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil || exec.Command(python, "-c", "import dotenv").Run() != nil {
		t.Skip("python3 with python-dotenv not installed")
	}
	path, keys := writeAwkward(t)
	const script = `import json, sys, dotenv
sys.stdout.write(json.dumps(dotenv.dotenv_values(sys.argv[1])))`
	got := map[string]string{}
	runJSON(t, exec.Command(python, "-c", script, path), &got)
	checkRead(t, "python-dotenv", path, keys, got)
}

// TestDirenvReadsBack: direnv's dotenv parser, as `dotenv` in an .envrc
// uses it.
func TestDirenvReadsBack(t *testing.T) {
	direnv, err := exec.LookPath("direnv")
	if err != nil {
		t.Skip("direnv not installed")
	}
	path, keys := writeAwkward(t)
	cmd := exec.Command(direnv, "dotenv", "json", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/fwd-test"}
	got := map[string]string{}
	runJSON(t, cmd, &got)
	checkRead(t, "direnv", path, keys, got)
}

// runJSON runs cmd, which must print a JSON object and nothing on stderr.
func runJSON(t *testing.T, cmd *exec.Cmd, into *map[string]string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s: %v\n%s", cmd.Args[0], err, stderr.Bytes())
	}
	if err := json.Unmarshal(out, into); err != nil {
		t.Fatalf("%s printed %q: %v", cmd.Args[0], out, err)
	}
}
