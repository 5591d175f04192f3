package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"go install @v1.2.3", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"go install @commit", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201092339-2ef4f50e94fa"}}, "v0.0.0-20261201092339-2ef4f50e94fa"},
		{"go build in a checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "dev (0123456789ab, modified)"},
		{"nothing stamped", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		if got := buildVersion(&tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVerboseIsOneFlag: -v is --verbose on every command, and --version
// has no short form.
func TestVerboseIsOneFlag(t *testing.T) {
	if r := runFwd(t, nil, "--version"); r.code != 0 || !strings.Contains(r.out, "fwd version") {
		t.Fatalf("--version: exit %d, %q", r.code, r.out)
	}
	if r := runFwd(t, nil, "-v"); strings.Contains(r.out, "fwd version") {
		t.Fatalf("-v at the root printed the version: %q", r.out)
	}
	for _, cmd := range [][]string{{"service"}, {"addon"}, {"all"}, {"gateway"}, {"demo"}} {
		c, _, err := newRootCmd(streams{}).Find(cmd)
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().ShorthandLookup("v")
		if f == nil {
			f = c.InheritedFlags().ShorthandLookup("v")
		}
		if f == nil || f.Name != "verbose" {
			t.Errorf("fwd %s: -v is %v, want --verbose", cmd[0], f)
		}
	}
}

// TestManPages: one page per command, hidden ones left out.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if r := runFwd(t, nil, "man", dir); r.code != 0 {
		t.Fatalf("fwd man: exit %d: %s", r.code, r.err)
	}
	for _, page := range []string{"fwd.1", "fwd-service.1", "fwd-exec-addon.1", "fwd-login.1", "fwd-status.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), `.TH "FWD"`) {
			t.Errorf("%s: %v, want a man page", page, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "fwd-man.1")); err == nil {
		t.Error("the hidden man command got a page")
	}
}
