package contexts

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	s := fileStore(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	want := []Context{
		{Name: "prod", Gateway: "gw.example.com:7443", Fingerprint: "sha256:" + strings.Repeat("0f", 32), Project: "web"},
		{Name: "staging.eu_1", Gateway: "[2001:db8::1]:443", CA: ca},
		// Values YAML would read as other types unless quoted.
		{Name: "123", Gateway: "10.0.0.5:7443", Project: "true"},
	}
	for _, ctx := range want {
		must(t, s.Put(ctx))
	}
	must(t, s.Use("staging.eu_1"))

	c, err := s.Load()
	must(t, err)
	if !reflect.DeepEqual(c.Contexts, want) {
		t.Fatalf("loaded %+v\nwant %+v", c.Contexts, want)
	}
	cur, ok := c.Current()
	if !ok || cur.Name != "staging.eu_1" {
		t.Fatalf("current %v %v, want staging.eu_1", cur, ok)
	}
	// The file is the documented YAML, readable without this package.
	data := readBytes(t, s.ConfigPath())
	for _, line := range []string{"current: staging.eu_1\n", "contexts:\n", "  - name: prod\n",
		"    gateway: gw.example.com:7443\n", "    ca: " + ca + "\n", "    project: \"true\"\n"} {
		mustContain(t, data, line)
	}
}

func TestFirstPutBecomesCurrent(t *testing.T) {
	s := fileStore(t)
	must(t, s.Put(testContext("a")))
	must(t, s.Put(testContext("b")))
	c, err := s.Load()
	must(t, err)
	if c.CurrentName != "a" {
		t.Fatalf("current %q, want a: the first context saved", c.CurrentName)
	}
	// Put replaces in place, keeping the order.
	repl := testContext("a")
	repl.Project = "other"
	must(t, s.Put(repl))
	c, err = s.Load()
	must(t, err)
	if len(c.Contexts) != 2 || c.Contexts[0] != repl {
		t.Fatalf("after replacing a: %+v", c.Contexts)
	}
}

func TestModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no permission bits")
	}
	parent := t.TempDir()
	s := OpenDir(filepath.Join(parent, "config", "fwd"), Options{NoKeyring: true})
	if _, err := s.Login(testContext("a"), "tok"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		s.Dir():                               0o700,
		filepath.Join(parent, "config"):       0o700,
		s.ConfigPath():                        0o600,
		s.CredentialsPath():                   0o600,
		filepath.Join(s.Dir(), "config.lock"): 0o600,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	// A file the user loosened is written back private.
	must(t, os.Chmod(s.ConfigPath(), 0o644))
	must(t, s.Put(testContext("b")))
	if got := mode(t, s.ConfigPath()); got != 0o600 {
		t.Errorf("rewritten config: mode %o, want 600", got)
	}
	checkNoTemps(t, s.Dir())
}

func TestTokenNeverInConfig(t *testing.T) {
	s := fileStore(t)
	if _, err := s.Login(testContext("a"), "sekrit-token"); err != nil {
		t.Fatal(err)
	}
	if data := readBytes(t, s.ConfigPath()); strings.Contains(string(data), "sekrit") {
		t.Fatalf("config.yaml holds the token:\n%s", data)
	}
	mustContain(t, readBytes(t, s.CredentialsPath()), "a: sekrit-token")
}

func TestMissingFileIsEmpty(t *testing.T) {
	s := fileStore(t)
	c, err := s.Load()
	must(t, err)
	if len(c.Contexts) != 0 || c.CurrentName != "" {
		t.Fatalf("%+v, want an empty config", c)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load created %s (%v)", s.Dir(), err)
	}
	if _, err := c.Resolve(""); !errors.Is(err, ErrNoCurrent) {
		t.Fatalf("Resolve with no current: %v, want ErrNoCurrent", err)
	}
}

func TestUseRenameDelete(t *testing.T) {
	s := fileStore(t)
	must(t, s.Put(testContext("a")))
	must(t, s.Put(testContext("b")))
	must(t, s.Use("b"))
	must(t, s.Rename("b", "c"))
	c, err := s.Load()
	must(t, err)
	if got, err := c.Resolve(""); err != nil || got.Name != "c" {
		t.Fatalf("after renaming the current context: %v, %v; want c current", got, err)
	}
	if got, err := c.Resolve("a"); err != nil || got.Name != "a" {
		t.Fatalf("Resolve(a): %v, %v", got, err)
	}
	must(t, s.Delete("c"))
	c, err = s.Load()
	must(t, err)
	if c.CurrentName != "" || len(c.Contexts) != 1 || c.Contexts[0].Name != "a" {
		t.Fatalf("after deleting the current context: %+v", c)
	}

	for name, err := range map[string]error{
		"use missing":      s.Use("nope"),
		"rename missing":   s.Rename("nope", "x"),
		"delete missing":   s.Delete("nope"),
		"resolve missing":  func() error { _, err := c.Resolve("nope"); return err }(),
		"rename onto":      func() error { must(t, s.Put(testContext("b"))); return s.Rename("a", "b") }(),
		"rename bad name":  s.Rename("a", "-x"),
		"put bad gateway":  s.Put(Context{Name: "x", Gateway: "nohost"}),
		"put both trusts":  s.Put(Context{Name: "x", Gateway: "h:1", Fingerprint: testContext("").Fingerprint, CA: "/ca.pem"}),
		"put relative ca":  s.Put(Context{Name: "x", Gateway: "h:1", CA: "ca.pem"}),
		"put short finger": s.Put(Context{Name: "x", Gateway: "h:1", Fingerprint: "sha256:abcd"}),
		"put no gateway":   s.Put(Context{Name: "x"}),
	} {
		want := ErrNotFound
		switch {
		case name == "rename onto":
			want = ErrExists
		case strings.HasPrefix(name, "put") || name == "rename bad name":
			want = ErrInvalid
		}
		if !errors.Is(err, want) || !strings.HasPrefix(err.Error(), "contexts: ") {
			t.Errorf("%s: %v, want contexts: ... %v", name, err, want)
		}
	}
}

func TestNames(t *testing.T) {
	good := []string{"a", "prod", "A-b_c.d", "0", "_x", ".x", strings.Repeat("n", 63)}
	bad := []string{"", "-a", "a b", "a/b", "a:b", "é", strings.Repeat("n", 64), "a\n"}
	for _, n := range good {
		if msg := checkName(n); msg != "" {
			t.Errorf("%q refused: %s", n, msg)
		}
	}
	for _, n := range bad {
		if checkName(n) == "" {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestUpdate(t *testing.T) {
	s := fileStore(t)
	must(t, s.Put(testContext("a")))
	before := readBytes(t, s.ConfigPath())

	mine := errors.New("mine")
	if err := s.Update(func(c *Config) error { c.Contexts = nil; return mine }); err != mine {
		t.Fatalf("fn's error came back as %v", err)
	}
	// A change that breaks the file's rules is refused, not written.
	err := s.Update(func(c *Config) error {
		c.Contexts = append(c.Contexts, c.Contexts[0])
		return nil
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate written by Update: %v", err)
	}
	if err := s.Update(func(c *Config) error { c.CurrentName = "ghost"; return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dangling current written by Update: %v", err)
	}
	if after := readBytes(t, s.ConfigPath()); string(after) != string(before) {
		t.Fatalf("file changed:\n%s", after)
	}
	// Changes through Get's pointer are saved.
	must(t, s.Update(func(c *Config) error {
		ctx, _ := c.Get("a")
		ctx.Project = "edited"
		return nil
	}))
	c, err := s.Load()
	must(t, err)
	if c.Contexts[0].Project != "edited" {
		t.Fatalf("edit through Get lost: %+v", c.Contexts[0])
	}
}

func TestUnchangedIsNotRewritten(t *testing.T) {
	s := fileStore(t)
	must(t, s.Put(testContext("a")))
	before, err := os.Stat(s.ConfigPath())
	must(t, err)
	must(t, s.Use("a"))
	must(t, s.Put(testContext("a")))
	after, err := os.Stat(s.ConfigPath())
	must(t, err)
	if !os.SameFile(before, after) {
		t.Fatal("a change that changed nothing replaced the file")
	}
}

func TestConfigDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	// Absolute on any OS the test runs on: configDir checks with filepath.
	x, h := filepath.Join(t.TempDir(), "x"), filepath.Join(t.TempDir(), "h")
	for _, tc := range []struct {
		goos string
		env  func(string) string
		want string // "" for an error
	}{
		{"linux", env("XDG_CONFIG_HOME", x, "HOME", h), filepath.Join(x, "fwd")},
		{"linux", env("HOME", h), filepath.Join(h, ".config", "fwd")},
		{"linux", env("XDG_CONFIG_HOME", "rel", "HOME", h), ""},
		{"linux", env("HOME", "rel"), ""},
		{"linux", env(), ""},
		{"darwin", env("HOME", h), filepath.Join(h, "Library", "Application Support", "fwd")},
		{"darwin", env("XDG_CONFIG_HOME", x, "HOME", h), filepath.Join(x, "fwd")},
		{"windows", env("AppData", x, "HOME", h), filepath.Join(x, "fwd")},
		{"windows", env("HOME", h), ""},
	} {
		got, err := configDir(tc.goos, tc.env)
		if tc.want == "" {
			if err == nil || !strings.HasPrefix(err.Error(), "contexts: ") {
				t.Errorf("%s: got %q, %v; want a contexts: error", tc.goos, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.goos, got, err, tc.want)
		}
	}
}

func TestOpenEnv(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenEnv(func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return dir
		}
		return ""
	}, Options{NoKeyring: true})
	must(t, err)
	if want := filepath.Join(dir, "fwd", "config.yaml"); s.ConfigPath() != want {
		t.Fatalf("config at %s, want %s", s.ConfigPath(), want)
	}
	if s.KeyringError() == nil {
		t.Fatal("NoKeyring: KeyringError is nil")
	}
}
