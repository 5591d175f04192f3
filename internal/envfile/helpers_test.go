package envfile

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// Helper processes: the test binary re-executes itself with helperEnv set
// to the role the child plays, on the file named by helperFileEnv.
const (
	helperEnv     = "FWD_ENVFILE_TEST_HELPER"
	helperFileEnv = "FWD_ENVFILE_TEST_FILE"
)

func TestMain(m *testing.M) {
	role := os.Getenv(helperEnv)
	if role == "" {
		os.Exit(m.Run())
	}
	if err := runHelper(role, os.Getenv(helperFileEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "%s child: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(role, path string) error {
	switch role {
	case "wait": // lives until its stdin closes, so a test can hold a live PID
		waitForStdin()
		return nil
	case "hold": // sets a block, says so, and waits to be killed
		if _, err := New(path).Set(CurrentOwner(), heldVars); err != nil {
			return err
		}
		fmt.Println("ready")
		waitForStdin()
		return nil
	case "writer":
		return writerChild(path)
	}
	return fmt.Errorf("unknown helper %q", role)
}

func waitForStdin() {
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
}

// heldVars is what the "hold" child writes.
var heldVars = []Var{{"HELD_HOST", "127.9.9.9"}, {"HELD_PASSWORD", "it's a secret"}}

// child starts the test binary in role on path, with stdin held open
// until the test ends, and returns it with its stdout.
func child(t *testing.T, role, path string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+role, helperFileEnv+"="+path)
	cmd.Stderr = &bytes.Buffer{}
	out, err := cmd.StdoutPipe()
	must(t, err)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewReader(out)
}

func stderrOf(cmd *exec.Cmd) string {
	return cmd.Stderr.(*bytes.Buffer).String()
}

// deadOwner is the owner of a process that ran and has exited: its PID and
// start time were real, and it is not running any more.
func deadOwner(t *testing.T) Owner {
	t.Helper()
	cmd, _ := child(t, "wait", "")
	start, _ := blockfile.ProcessStart(cmd.Process.Pid)
	o := Owner{PID: cmd.Process.Pid, Start: start, Session: randomSession()}
	if !o.Alive() {
		t.Fatalf("child %d not alive while it waits", o.PID)
	}
	must(t, cmd.Process.Kill())
	_ = cmd.Wait()
	if o.Alive() {
		t.Fatalf("pid %d still alive after exit", o.PID)
	}
	return o
}

func randomSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newOwner is a live owner: this process with a session of its own.
func newOwner() Owner {
	me := CurrentOwner()
	return Owner{PID: me.PID, Start: me.Start, Session: randomSession()}
}

func writeEnv(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	must(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func readEnv(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return string(b)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustEqual(t testing.TB, got, want, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func findBlock(blocks []Block, o Owner) (Block, bool) {
	i := slices.IndexFunc(blocks, func(b Block) bool { return b.Owner == o })
	if i < 0 {
		return Block{}, false
	}
	return blocks[i], true
}

func checkBlock(t testing.TB, f *File, o Owner, want []Var) {
	t.Helper()
	blocks, err := f.Blocks()
	must(t, err)
	b, ok := findBlock(blocks, o)
	if !ok {
		t.Fatalf("no block of %+v in %+v", o, blocks)
	}
	if !slices.Equal(b.Vars, want) {
		t.Fatalf("block vars %q, want %q", b.Vars, want)
	}
}

// userLines drops fwd's lines (markers, and lines whose key starts with
// one of ours) and returns the rest, each with its terminator, for a check
// independent of the package's parser.
func userLines(data string, oursPrefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(data, "\n") {
		if strings.HasPrefix(l, "# fwd ") || oursPrefix != "" && strings.HasPrefix(l, oursPrefix) {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

func checkNoTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".fwd-tmp-") || strings.HasSuffix(e.Name(), ".fwd-backup") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

func readLine(t *testing.T, r *bufio.Reader, cmd *exec.Cmd) string {
	t.Helper()
	s, _ := r.ReadString('\n')
	if s == "" {
		t.Fatalf("child said nothing: %s", stderrOf(cmd))
	}
	return s
}
