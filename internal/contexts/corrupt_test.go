package contexts

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

const goodFingerprint = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// absCA is an absolute path on the OS the test runs on.
var absCA = filepath.Join(os.TempDir(), "ca.pem")

// corruptConfigs are config.yaml files Load must refuse, with the line and
// column (0: any) of the problem and a piece of the message.
var corruptConfigs = []struct {
	name      string
	data      string
	line, col int
	msg       string
}{
	{"syntax error", "current: a\ncontexts:\n  - name: a\n    gateway: [x\n", 4, 0, "invalid YAML"},
	{"syntax error, bad indent", "contexts:\n  - name: a\n    gateway: h:1\n   project: x\n", 4, 0, "invalid YAML"},
	{"syntax error, tab", "contexts:\n\t- name: a\n", 2, 0, "invalid YAML"},
	{"control character", "current: \"a\x01\"\n", 1, 12, "invalid YAML"},
	{"lone carriage return", "contexts:\r\n  - name: a\r    gatway: h:1\r\n", 2, 12, "a line ends with a carriage return without a line feed"},
	{"line separator", "current: a\u2028contexts: []\n", 1, 11, "U+2028"},
	{"second document", "current: a\n---\ncurrent: b\n", 2, 1, "second YAML document"},
	{"unknown key", "contexts:\n  - name: a\n    gatway: h:1\n", 3, 5, `unknown key "gatway"`},
	{"unknown top key", "curent: a\n", 1, 1, `unknown key "curent"`},
	{"duplicate name", "contexts:\n  - name: a\n    gateway: h:1\n  - name: a\n    gateway: h:2\n", 4, 11, `a second context is called "a" (the first at line 2)`},
	{"duplicate key", "contexts:\n  - name: a\n    gateway: h:1\n    gateway: h:2\n", 4, 5, `key "gateway" again`},
	{"dangling current", "current: b\ncontexts:\n  - name: a\n    gateway: h:1\n", 1, 10, `current is "b", but no context has that name: set it to one of a (or delete the line)`},
	{"wrong type, contexts", "contexts:\n  name: a\n", 2, 3, "contexts must be a list"},
	{"wrong type, value", "contexts:\n  - name: a\n    gateway: [h, 1]\n", 3, 14, "gateway must be a single value, not a list"},
	{"wrong type, root", "- a\n- b\n", 1, 1, "the config must be a mapping"},
	{"wrong type, context", "contexts:\n  - a\n", 2, 5, "a context must be a mapping"},
	{"no name", "contexts:\n  - gateway: h:1\n", 2, 5, "a context has no name"},
	{"bad name", "contexts:\n  - name: -a\n    gateway: h:1\n", 2, 11, `name "-a" starts with '-'`},
	{"no gateway", "contexts:\n  - name: a\n", 2, 11, `context "a" has no gateway`},
	{"bad gateway", "contexts:\n  - name: a\n    gateway: h\n", 3, 14, `gateway "h" is not host:port`},
	{"bad fingerprint", "contexts:\n  - name: a\n    gateway: h:1\n    fingerprint: abc\n", 4, 18, "is not sha256:<64 hex digits>"},
	{"both trusts", "contexts:\n  - name: a\n    gateway: h:1\n    fingerprint: " + goodFingerprint + "\n    ca: " + absCA + "\n", 5, 9, "fingerprint and ca both set"},
	{"relative ca", "contexts:\n  - name: a\n    gateway: h:1\n    ca: ca.pem\n", 4, 9, "not an absolute path"},
}

// TestCorruptConfig: each file gives a one-line *FileError at its line,
// ending in what to do, and no change rewrites the file.
func TestCorruptConfig(t *testing.T) {
	for _, tc := range corruptConfigs {
		t.Run(tc.name, func(t *testing.T) {
			s := fileStore(t)
			writeBytes(t, s.ConfigPath(), []byte(tc.data))
			_, err := s.Load()
			fe := fileError(t, err)
			if fe.File != s.ConfigPath() || fe.Line != tc.line || (tc.col != 0 && fe.Column != tc.col) {
				t.Errorf("at %s:%d:%d, want %s:%d:%d", fe.File, fe.Line, fe.Column, s.ConfigPath(), tc.line, tc.col)
			}
			msg := err.Error()
			prefix := s.ConfigPath() + ":" + strconv.Itoa(tc.line) + ":"
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.msg) ||
				!strings.HasSuffix(msg, "or remove the file to start again") || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line starting %q, saying %q and what to do", msg, prefix, tc.msg)
			}
			checkChangesFail(t, s, s.ConfigPath(), []byte(tc.data))
		})
	}
}

// checkChangesFail runs every change and checks each fails with a
// *FileError and leaves path holding data.
func checkChangesFail(t *testing.T, s *Store, path string, data []byte) {
	t.Helper()
	changes := map[string]func() error{
		"Put":    func() error { return s.Put(testContext("new")) },
		"Use":    func() error { return s.Use("a") },
		"Rename": func() error { return s.Rename("a", "z") },
		"Delete": func() error { return s.Delete("a") },
		"Login":  func() error { _, err := s.Login(testContext("new"), "tok"); return err },
		"Update": func() error { return s.Update(func(c *Config) error { c.Contexts = nil; return nil }) },
	}
	for name, change := range changes {
		fileError(t, change())
		if got := readBytes(t, path); !bytes.Equal(got, data) {
			t.Fatalf("%s rewrote the corrupt file:\n%q\nwas\n%q", name, got, data)
		}
	}
	checkNoTemps(t, s.Dir())
}

var corruptCredentials = []struct {
	name      string
	data      string
	line, col int
	msg       string
}{
	{"syntax error", "tokens:\n  a: [x\n", 2, 0, "invalid YAML"},
	{"unknown key", "tokenz:\n  a: x\n", 1, 1, `unknown key "tokenz"`},
	{"duplicate name", "tokens:\n  a: x\n  a: y\n", 3, 3, `key "a" again (first at line 2)`},
	{"wrong type", "tokens: [a, b]\n", 1, 9, "tokens must be a mapping"},
	{"wrong type, token", "tokens:\n  a: {x: y}\n", 2, 6, `the token of "a" must be a single value`},
	{"bad name", "tokens:\n  a b: x\n", 2, 3, `context name "a b"`},
	{"empty token", "tokens:\n  a:\n", 2, 5, `the token of "a" is empty`},
}

// TestCorruptCredentials: as TestCorruptConfig, for credentials.yaml;
// and a save fails before it reaches the keyring.
func TestCorruptCredentials(t *testing.T) {
	for _, tc := range corruptCredentials {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKeyring()
			s := storeWith(t, k, 0)
			writeBytes(t, s.CredentialsPath(), []byte(tc.data))
			_, err := s.Token("a")
			fe := fileError(t, err)
			if fe.Line != tc.line || (tc.col != 0 && fe.Column != tc.col) || !strings.Contains(fe.Msg, tc.msg) ||
				!strings.HasSuffix(fe.Msg, "or remove the file and run fwd login again") {
				t.Errorf("got %v; want line %d col %d saying %q", err, tc.line, tc.col, tc.msg)
			}
			if _, err := s.SaveToken("b", "tok"); fileError(t, err) == nil {
				t.Fatal("unreachable")
			}
			fileError(t, s.DeleteToken("a"))
			if _, err := s.Login(testContext("b"), "tok"); fileError(t, err) == nil {
				t.Fatal("unreachable")
			}
			if got := readBytes(t, s.CredentialsPath()); string(got) != tc.data {
				t.Fatalf("credentials rewritten:\n%q", got)
			}
			if n := k.callCount(); n != 0 {
				t.Fatalf("%d keyring calls with a corrupt credentials file: a save must fail before it", n)
			}
			if _, err := keyring.Get(keyringService, "b"); err == nil {
				t.Fatal("the token reached go-keyring")
			}
		})
	}
}
