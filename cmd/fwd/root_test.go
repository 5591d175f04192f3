package main

import (
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
