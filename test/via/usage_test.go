package via_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// TestUsage checks the flag mistakes --via can meet: each is exit 2 with
// one line saying what to do.
func TestUsage(t *testing.T) {
	t.Parallel()
	u := newUser(t, "", "")
	cat := u.writeCatalog(oneService("usage", "echo", 17120, "127.0.0.1:1"))
	bad := u.writeCatalog("projects:\n  - name: usage\n    services:\n      - name: echo\n        ports:\n          - {port: 70000, targets: [127.0.0.1:1]}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--via", "ssh://bastion"}, "--via needs --catalog FILE"},
		{[]string{"--via", "ssh://bastion", "--catalog", cat, "--gateway", "127.0.0.1:7443"}, "--via and --gateway both set"},
		{[]string{"--catalog", cat}, "--catalog is for --via"},
		{[]string{"--accept-new", "--gateway", "127.0.0.1:7443"}, "--accept-new is for --via"},
		{[]string{"--via", "bastion", "--catalog", cat}, `is not an ssh:// URL: write ssh://[user@]host[:port]`},
		{[]string{"--via", "ssh://bastion", "--catalog", cat, "--fingerprint", "sha256:00"}, "are for a gateway"},
		{[]string{"--via", "ssh://bastion", "--catalog", bad}, bad + ":6:20: port 70000 out of range"},
	} {
		r := u.run("", append([]string{"all"}, tc.args...)...)
		if line := lastLine(r.stderr); r.code != 2 || !strings.Contains(line, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("fwd all %s: exit %d, stderr:\n%s\nwant exit 2 and one line with %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}

// TestRefusals checks the exits of a server that cannot be reached (4),
// refuses the key (3), or that there is no key for (3).
func TestRefusals(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	stranger := startSSHD(t, fwdtest.SSHDOptions{}) // its client key is not s's
	refused, release, err := fwdtest.RefusingAddr()
	must(t, err)
	t.Cleanup(func() { release() })
	_, refusedPort, _ := strings.Cut(refused, ":")
	for _, tc := range []struct {
		name, key, via string
		code           int
		want           string
	}{
		{"unreachable", s.ClientKey, "ssh://127.0.0.1:" + refusedPort, 4, "sshdial: connecting to 127.0.0.1:" + refusedPort + ": dial tcp"},
		{"key refused", stranger.ClientKey, via(s), 3, fmt.Sprintf("%s@127.0.0.1:%d refused the login with the 1 SSH key(s) offered", s.User, s.Port)},
		{"no key", "", via(s), 3, fmt.Sprintf("no SSH key to log in to 127.0.0.1:%d", s.Port)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t, tc.key, "", knownHost(s))
			cat := u.writeCatalog(oneService("refusals", "echo", 17121, "127.0.0.1:1"))
			r := u.run("", "all", "--via", tc.via, "--catalog", cat, "--skipHostnames")
			if r.code != tc.code || !strings.Contains(lastLine(r.stderr), tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}
