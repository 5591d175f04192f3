package fwdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is wrapped by errors about a server or client binary that
// is not on this machine.
var ErrNotInstalled = errors.New("fwdtest: not installed")

// errPortInUse marks a start that failed because the port was taken; the
// Start functions retry those with another port.
var errPortInUse = errors.New("fwdtest: port in use")

// portAttempts bounds the retries with a new port after a bind failure.
const portAttempts = 5

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

// process is one running server. Its output goes to a log file, which readiness
// checks and error messages read.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stopSig syscall.Signal
	done    chan struct{}
	waitErr error

	closeOnce sync.Once
	closeErr  error
}

// startProcess runs argv with its output appended to logPath. cred, if not
// nil, runs it as another user. The process gets its own process group, which
// close kills after the process itself has stopped (workers, backends and
// sessions it left behind), and dies with the calling thread's process.
func startProcess(name, logPath string, stopSig syscall.Signal, cred *syscall.Credential, env []string, argv ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fwdtest: %s: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fwdtest: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, stopSig: stopSig, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// log returns the end of the process's log.
func (p *process) log() string {
	b, _ := os.ReadFile(p.logPath)
	const max = 4096
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// logContains reports whether the log holds any of the strings.
func (p *process) logContains(subs ...string) bool {
	b, _ := os.ReadFile(p.logPath)
	for _, s := range subs {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// bindFailures are what the servers print when their port is taken.
var bindFailures = []string{
	"Address already in use",
	"Address in use",
	"could not bind",
	"Cannot bind any address",
}

// waitReady polls ready until it reports true, the process exits, or ctx
// ends. A bind failure in the log ends the wait with an error wrapping
// errPortInUse (and the process is stopped).
func (p *process) waitReady(ctx context.Context, ready func() (bool, error)) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.logContains(bindFailures...) {
			p.close()
			return fmt.Errorf("%w: %s: %s", errPortInUse, p.name, p.log())
		}
		ok, err := ready()
		if err != nil {
			p.close()
			return fmt.Errorf("fwdtest: %s: %w\n%s", p.name, err, p.log())
		}
		if ok {
			return nil
		}
		select {
		case <-p.done:
			if p.logContains(bindFailures...) {
				return fmt.Errorf("%w: %s: %s", errPortInUse, p.name, p.log())
			}
			return fmt.Errorf("fwdtest: %s exited before it was ready (%v); its log:\n%s", p.name, p.waitErr, p.log())
		case <-ctx.Done():
			p.close()
			return fmt.Errorf("fwdtest: %s not ready: %w; its log:\n%s", p.name, ctx.Err(), p.log())
		case <-tick.C:
		}
	}
}

// close sends the stop signal, waits up to 10s, then kills the process group.
// It returns an error only if the process had to be killed.
func (p *process) close() error {
	p.closeOnce.Do(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(p.stopSig)
			t := time.NewTimer(10 * time.Second)
			select {
			case <-p.done:
			case <-t.C:
				syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
				p.closeErr = fmt.Errorf("fwdtest: %s did not stop on %v within 10s; killed", p.name, p.stopSig)
			}
			t.Stop()
		}
		// Whatever the process left in its group (nginx workers, postgres
		// backends, sshd sessions) goes too.
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	})
	return p.closeErr
}

// exited reports whether the process has stopped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartOption changes how a packaged server is started.
type StartOption func(*startConfig)

type startConfig struct {
	pick func(networks ...string) (int, error)
}

// WithPortPicker makes the server take its ports from pick (which may
// hand out taken ones, to test the retries) instead of looking for free
// ones.
func WithPortPicker(pick func(networks ...string) (int, error)) StartOption {
	return func(c *startConfig) { c.pick = pick }
}

func newStartConfig(opts []StartOption) *startConfig {
	c := &startConfig{pick: pickPort}
	for _, o := range opts {
		o(c)
	}
	return c
}

// pickPort returns a port on 127.0.0.1 that is free right now for every
// network given ("tcp", "udp"). It is below Linux's ephemeral range so that
// outgoing connections do not take it meanwhile; a server that still fails to
// bind it is retried by the caller with another.
func pickPort(networks ...string) (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if portFree(port, networks) {
			return port, nil
		}
	}
	return 0, errors.New("fwdtest: no free port found in 20000-32000")
}

// FreeTCPAddr returns a 127.0.0.1 address whose TCP port is free and below
// the ephemeral range, for a server that is restarted on the same address:
// an ephemeral port can meanwhile become some connection's source port, or
// a connection to itself when a client redials it while nobody listens.
func FreeTCPAddr() (string, error) {
	port, err := pickPort("tcp")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

func portFree(port int, networks []string) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for _, n := range networks {
		switch n {
		case "tcp":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			ln.Close()
		case "udp":
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				return false
			}
			c.Close()
		}
	}
	return true
}

// withPorts runs start with n fresh ports until it succeeds or fails for a
// reason other than a taken port.
func withPorts[T any](c *startConfig, n int, networks []string, start func(ports []int) (T, error)) (T, error) {
	var zero T
	var last error
	for range portAttempts {
		ports := make([]int, 0, n)
		for len(ports) < n {
			p, err := c.pick(networks...)
			if err != nil {
				return zero, err
			}
			dup := false
			for _, q := range ports {
				dup = dup || q == p
			}
			if !dup {
				ports = append(ports, p)
			}
		}
		v, err := start(ports)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, errPortInUse) {
			return zero, err
		}
		last = err
	}
	return zero, fmt.Errorf("fwdtest: gave up after %d ports were taken: %w", portAttempts, last)
}

// baseEnv is the environment servers run with: PATH and a C locale, nothing
// from the caller that could change their behaviour (PG*, REDIS*...).
func baseEnv(extra ...string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	if !strings.Contains(path, "/usr/sbin") {
		path += ":/usr/sbin:/sbin"
	}
	return append([]string{"PATH=" + path, "LC_ALL=C", "LANG=C", "TZ=UTC"}, extra...)
}

// runQuiet runs a short command and returns its combined output in the
// error if it fails.
func runQuiet(ctx context.Context, cred *syscall.Credential, env []string, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("fwdtest: %s: %w\n%s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// writeFile writes a file, creating its directory.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, perm)
}
