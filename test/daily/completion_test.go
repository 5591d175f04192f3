package daily_test

import (
	"strings"
	"testing"
	"time"
)

// complete asks fwd's shell completion for the candidates after args, as
// a shell does on <TAB> (cobra's hidden __complete command).
func (sh *shell) complete(args ...string) []string {
	sh.t.Helper()
	r := sh.run("", append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		sh.t.Fatalf("fwd __complete %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		if l != "" && !strings.HasPrefix(l, ":") {
			out = append(out, strings.SplitN(l, "\t", 2)[0])
		}
	}
	return out
}

// TestCompletionKnowsNames: projects, services, addons and contexts
// complete from the saved context's gateway; a gateway that is gone
// answers from the cache, at once.
func TestCompletionKnowsNames(t *testing.T) {
	gw := shop(t)
	sh := newShell(t)
	if r := sh.run(gw.Token, "login", "--gateway", gw.Addr, "--fingerprint", gw.Fingerprint, "--name", "work"); r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "--project", ""}, "shop"},
		{[]string{"service", "--project", "shop", ""}, "api"},
		{[]string{"addon", "-p", "shop", "--addon", ""}, "db"},
		{[]string{"exec", "addon", "-p", "shop", ""}, "db"},
		{[]string{"all", ""}, "shop"},
		{[]string{"status", "--context", ""}, "work"},
	} {
		if got := sh.complete(tc.args...); strings.Join(got, " ") != tc.want {
			t.Errorf("fwd %s<TAB>: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	gw.Stop()
	start := time.Now()
	if got := sh.complete("service", "--project", "shop", ""); strings.Join(got, " ") != "api" {
		t.Errorf("with the gateway gone: %q, want api from the cache", got)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("completion with the gateway gone took %s", took)
	}
}
