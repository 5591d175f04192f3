package fwdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// ErrNotInstalled is wrapped by errors about a server or client binary that
// is not on this machine.
var ErrNotInstalled = errors.New("fwdtest: not installed")

// binaries maps the names LookPath accepts to the Debian package that ships
// them, for error messages.
var binaries = map[string]string{
	"postgres":        "postgresql",
	"initdb":          "postgresql",
	"pg_isready":      "postgresql",
	"psql":            "postgresql-client",
	"pgbench":         "postgresql",
	"redis-server":    "redis-server",
	"redis-cli":       "redis-tools",
	"redis-benchmark": "redis-tools",
	"nginx":           "nginx",
	"dnsmasq":         "dnsmasq",
	"dig":             "dnsutils",
	"sshd":            "openssh-server",
	"ssh":             "openssh-client",
	"ssh-keygen":      "openssh-client",
	"curl":            "curl",
	"nghttp":          "nghttp2-client",
	"useradd":         "passwd",
	"ip":              "iproute2",
	"iptables":        "iptables",
	"nft":             "nftables",
	"getent":          "libc-bin",
}

// aliases lets callers name a server rather than its binary.
var aliases = map[string][]string{
	"postgres": {"postgres", "initdb", "pg_isready"},
	"redis":    {"redis-server"},
	"sshd":     {"sshd", "ssh-keygen"},
}

// Check reports whether everything named is installed: a server ("postgres",
// "redis", "nginx", "dnsmasq", "sshd") or any binary LookPath knows. The error
// wraps ErrNotInstalled.
func Check(names ...string) error {
	for _, name := range names {
		bins, ok := aliases[name]
		if !ok {
			bins = []string{name}
		}
		for _, b := range bins {
			if _, err := LookPath(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// NeedBinaries skips the test, saying which package to install, unless
// everything named is installed (see Check). Any other failure to look
// one up fails the test.
func NeedBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := Check(name); err != nil {
			if errors.Is(err, ErrNotInstalled) {
				t.Skipf("%s not installed: run .ci/install-deps.sh (%v)", name, err)
			}
			t.Fatalf("checking for %s: %v", name, err)
		}
	}
}

// LookPath finds a binary in PATH, in /usr/sbin and /sbin (root's tools are
// there and PATH may lack them), and for PostgreSQL's server tools in the
// newest /usr/lib/postgresql/*/bin.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
		return p, nil
	}
	dirs := []string{"/usr/sbin", "/sbin", "/usr/bin"}
	if pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(pg) > 0 {
		sort.Slice(pg, func(i, j int) bool { return pgVersion(pg[i]) > pgVersion(pg[j]) })
		dirs = append(pg, dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	pkg := binaries[name]
	if pkg == "" {
		pkg = name
	}
	return "", fmt.Errorf("%w: %s (Debian package %s)", ErrNotInstalled, name, pkg)
}

// pgVersion extracts N from /usr/lib/postgresql/N/bin.
func pgVersion(binDir string) int {
	v := 0
	fmt.Sscanf(filepath.Base(filepath.Dir(binDir)), "%d", &v)
	return v
}
