package fwdtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProcessOptions say how StartProcess runs a child.
type ProcessOptions struct {
	// LogPath is the file the child's stderr goes to, and its stdout
	// unless StdoutLines, made anew; it stays after the child exits, for
	// whoever parses it. Without it the output is kept in memory.
	LogPath string
	// Env is the child's whole environment; nil is the caller's.
	Env []string
	// Dir is the child's working directory; "" is the caller's.
	Dir string
	// Credential, if set, runs the child as another user.
	Credential *syscall.Credential
	// StopSignal is what Stop sends first (SIGTERM if zero): the signal
	// the child shuts down cleanly on, or SIGKILL for no chance to.
	StopSignal syscall.Signal
	// StopGrace is how long Stop waits for the child to exit on
	// StopSignal before SIGKILL (10 s if zero).
	StopGrace time.Duration
	// OwnGroup runs the child in a process group of its own, which Stop
	// kills once the child has exited: workers, backends and sessions it
	// left behind go with it.
	OwnGroup bool
	// StdoutLines reads stdout line by line: the first is FirstLine's,
	// for a child that prints one when it is ready; the rest go to the
	// log, so that the child never blocks on a full pipe.
	StdoutLines bool
}

// Process is one running child: a server, a fwd gateway or client, ssh.
// It is reaped as soon as it exits; Stop ends it.
type Process struct {
	name    string
	opts    ProcessOptions
	cmd     *exec.Cmd
	mem     *SyncBuffer // the log when there is no LogPath
	started time.Time
	first   chan string   // stdout's first line, then closed; nil without StdoutLines
	done    chan struct{} // closed once the child has been waited for
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartProcess runs argv as name (which errors and logs call it). On Linux
// the child is killed when the thread that started it ends, so that however
// the caller dies no server outlives it holding ports.
func StartProcess(name string, opts ProcessOptions, argv ...string) (*Process, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("fwdtest: %s: no command", name)
	}
	p := &Process{name: name, opts: withDefaults(opts), done: make(chan struct{})}
	log, err := p.openLog()
	if err != nil {
		return nil, err
	}
	stdout, err := p.start(argv, log)
	if err != nil {
		closeLog(log)
		return nil, err
	}
	if stdout == nil {
		closeLog(log) // the child has its own copy
		return p, nil
	}
	p.first = make(chan string, 1)
	go p.readLines(stdout, log)
	return p, nil
}

// StartProcessT is StartProcess for a test: a failure to start fails it,
// and when it ends the process is stopped (an error if it had to be
// killed) and, if the test failed, its output logged.
func StartProcessT(t testing.TB, name string, opts ProcessOptions, argv ...string) *Process {
	t.Helper()
	p, err := StartProcess(name, opts, argv...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s", name, p.Pid(), p.Output())
		}
	})
	return p
}

func withDefaults(o ProcessOptions) ProcessOptions {
	if o.StopSignal == 0 {
		o.StopSignal = syscall.SIGTERM
	}
	if o.StopGrace == 0 {
		o.StopGrace = 10 * time.Second
	}
	return o
}

// openLog returns where the child's output goes: LogPath, made anew, or
// memory.
func (p *Process) openLog() (io.Writer, error) {
	if p.opts.LogPath == "" {
		p.mem = &SyncBuffer{}
		return p.mem, nil
	}
	f, err := os.OpenFile(p.opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fwdtest: %s: log: %w", p.name, err)
	}
	return f, nil
}

func closeLog(log io.Writer) {
	if f, ok := log.(*os.File); ok {
		f.Close()
	}
}

// start starts the child and the goroutine that reaps it. With
// StdoutLines it returns our end of the stdout pipe: a file, not a writer
// exec copies from, so that EOF comes once the child and whatever inherited
// it have closed theirs.
func (p *Process) start(argv []string, log io.Writer) (*os.File, error) {
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env, p.cmd.Stderr, p.cmd.Stdout, p.cmd.Dir = p.opts.Env, log, log, p.opts.Dir
	p.cmd.SysProcAttr = sysProcAttr(p.opts)
	// An in-memory log is copied from a pipe, which a grandchild may hold:
	// Wait must not wait for it for ever.
	p.cmd.WaitDelay = 5 * time.Second
	var r, w *os.File
	if p.opts.StdoutLines {
		var err error
		if r, w, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("fwdtest: %s: %w", p.name, err)
		}
		p.cmd.Stdout = w
		defer w.Close() // the child has its own copy
	}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		if r != nil {
			r.Close()
		}
		return nil, fmt.Errorf("fwdtest: start %s: %w", p.name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return r, nil
}

// readLines hands stdout's first line to FirstLine, then copies the rest to
// the log until EOF.
func (p *Process) readLines(stdout *os.File, log io.Writer) {
	defer closeLog(log)
	defer stdout.Close()
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if line = strings.TrimRight(line, "\r\n"); err == nil || line != "" {
		p.first <- line
	}
	close(p.first)
	io.Copy(log, r)
}

// FirstLine waits up to timeout for stdout's first line (StdoutLines), and
// returns it without its line ending. It fails if the child ends stdout
// first, or exits; a second call finds no line.
func (p *Process) FirstLine(timeout time.Duration) (string, error) {
	if p.first == nil {
		return "", fmt.Errorf("fwdtest: %s: stdout is not read by line (StdoutLines)", p.name)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-p.first:
		if ok {
			return line, nil
		}
	case <-p.done:
		// The line may still be in the pipe, or in the reader's hands.
		if line, ok := p.lineWithin(time.Second); ok {
			return line, nil
		}
	case <-timer.C:
		return "", fmt.Errorf("fwdtest: %s printed no line within %v; its log:\n%s", p.name, timeout, p.LogTail())
	}
	p.Wait(time.Second) // its exit status, for the message
	return "", fmt.Errorf("fwdtest: %s ended stdout without a line (%s); its log:\n%s", p.name, p.state(), p.LogTail())
}

func (p *Process) lineWithin(d time.Duration) (string, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case line, ok := <-p.first:
		return line, ok
	case <-timer.C:
		return "", false
	}
}

// Name is what errors and logs call the process.
func (p *Process) Name() string { return p.name }

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Started is when the child was started: just before exec, so a clock the
// child keeps from its own start (the Go runtime's) begins soon after.
func (p *Process) Started() time.Time { return p.started }

// LogPath is the file the output goes to, "" if it is kept in memory.
func (p *Process) LogPath() string { return p.opts.LogPath }

// Signal sends sig to the child.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited reports whether the child has exited (and been reaped).
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the child to exit and reports whether it
// has.
func (p *Process) Wait(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// Err is how the child ended, as exec.Cmd.Wait says it (nil for exit 0);
// nil while it runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// ExitCode is the child's exit status: -1 while it runs or if a signal
// ended it.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// state says how the child ended, for an error message.
func (p *Process) state() string {
	switch {
	case !p.Exited():
		return "still running"
	case p.waitErr != nil:
		return p.waitErr.Error()
	}
	return "exit status 0"
}

// Output is everything in the log so far.
func (p *Process) Output() string {
	if p.mem != nil {
		return p.mem.String()
	}
	b, _ := os.ReadFile(p.opts.LogPath)
	return string(b)
}

// LogTail is the end of the log, for an error message.
func (p *Process) LogTail() string {
	const keep = 4096
	out := p.Output()
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return strings.TrimSpace(out)
}

// LogContains reports whether the log holds any of the strings.
func (p *Process) LogContains(subs ...string) bool {
	out := p.Output()
	for _, s := range subs {
		if strings.Contains(out, s) {
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

// WaitReady polls ready until it reports true, the child exits, or ctx
// ends. A bind failure in the log ends the wait with an error wrapping
// errPortInUse, which the Start functions retry with another port. On any
// failure but an exit the child is stopped.
func (p *Process) WaitReady(ctx context.Context, ready func() (bool, error)) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.LogContains(bindFailures...) {
			p.Stop()
			return fmt.Errorf("%w: %s: %s", errPortInUse, p.name, p.LogTail())
		}
		ok, err := ready()
		if err != nil {
			p.Stop()
			return fmt.Errorf("fwdtest: %s: %w\n%s", p.name, err, p.LogTail())
		}
		if ok {
			return nil
		}
		select {
		case <-p.done:
			return p.exitedEarly()
		case <-ctx.Done():
			p.Stop()
			return fmt.Errorf("fwdtest: %s not ready: %w; its log:\n%s", p.name, ctx.Err(), p.LogTail())
		case <-tick.C:
		}
	}
}

func (p *Process) exitedEarly() error {
	if p.LogContains(bindFailures...) {
		return fmt.Errorf("%w: %s: %s", errPortInUse, p.name, p.LogTail())
	}
	return fmt.Errorf("fwdtest: %s exited before it was ready (%s); its log:\n%s", p.name, p.state(), p.LogTail())
}

// Stop ends the child: StopSignal, then SIGKILL (to its whole group if it
// has one) if it is still there after StopGrace, then, with OwnGroup, the
// rest of its group. It returns an error only if the child had to be
// killed or could not be reaped; later calls return the same.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.stopErr = p.stop()
		if p.opts.OwnGroup {
			syscall.Kill(-p.Pid(), syscall.SIGKILL)
		}
	})
	return p.stopErr
}

func (p *Process) stop() error {
	if p.Exited() {
		return nil
	}
	grace := p.opts.StopGrace
	// An error here is a child that is exiting anyway; waiting tells.
	p.cmd.Process.Signal(p.opts.StopSignal)
	if p.Wait(grace) {
		return nil
	}
	if p.opts.OwnGroup {
		syscall.Kill(-p.Pid(), syscall.SIGKILL)
	} else {
		p.cmd.Process.Kill()
	}
	if !p.Wait(grace) {
		return fmt.Errorf("fwdtest: %s (pid %d) not reaped %v after SIGKILL", p.name, p.Pid(), grace)
	}
	return fmt.Errorf("fwdtest: %s did not stop on %v within %v; killed", p.name, p.opts.StopSignal, grace)
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
