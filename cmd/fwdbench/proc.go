package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopWait is how long a child gets to exit after SIGTERM before SIGKILL.
const stopWait = 5 * time.Second

// proc is a child process: a fwd gateway or client, sshd, ssh. Its stderr,
// and its stdout past the first line, go to a log file that errors quote.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time     // just before exec: the Go runtime's clock starts soon after
	exited  chan struct{} // closed when the process has been waited for
	waitErr error
}

// startProc starts bin with args and extra environment. If firstLine, it
// waits up to wait for the first line of stdout and returns it: fwd prints
// its JSON announcement there once it is ready.
func startProc(name, logPath string, env []string, firstLine bool, wait time.Duration, bin string, args ...string) (*proc, string, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	var stdout io.ReadCloser
	if firstLine {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			logf.Close()
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
	} else {
		cmd.Stdout = logf
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, "", fmt.Errorf("%s: start: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, started: started, exited: make(chan struct{})}
	lines := make(chan string, 1)
	if firstLine {
		go readFirstLine(stdout, logf, lines)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	if !firstLine {
		return p, "", nil
	}
	line, err := p.awaitLine(lines, wait)
	if err != nil {
		p.stop()
		return nil, "", err
	}
	return p, line, nil
}

// readFirstLine hands the first stdout line over, then copies the rest to
// the log so that the child never blocks on a full pipe.
func readFirstLine(stdout io.Reader, log io.Writer, lines chan<- string) {
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err == nil {
		lines <- strings.TrimSpace(line)
	}
	io.Copy(log, r)
}

func (p *proc) awaitLine(lines <-chan string, wait time.Duration) (string, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case line := <-lines:
		return line, nil
	case <-p.exited:
		// The line may have arrived just before exit.
		select {
		case line := <-lines:
			return line, nil
		default:
		}
		return "", fmt.Errorf("%s exited before it was ready (%v)%s", p.name, p.waitErr, p.logTail())
	case <-timer.C:
		return "", fmt.Errorf("%s: not ready after %s%s", p.name, wait, p.logTail())
	}
}

// pid is the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// running reports whether the child has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the child: SIGTERM, so that fwd closes its tunnel cleanly, and
// SIGKILL if it is still there after stopWait.
func (p *proc) stop() {
	if !p.running() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(stopWait):
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// logTail returns the end of the child's log for an error message.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	const keep = 1500
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return "\n  " + p.name + " log (" + p.logPath + "):\n    " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ")
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int) (int64, error) {
	return procStatusField(pid, "VmRSS:")
}

// procStatusField reads a "kB" field of /proc/PID/status, in bytes.
func procStatusField(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading memory of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, field)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pid %d: %s %q: %w", pid, field, rest, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("pid %d: no %s in /proc status", pid, field)
}

// openFilesLimit reads a process's soft limit on open files from /proc, to
// show that children inherited the raised limit.
func openFilesLimit(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0], nil
			}
		}
	}
	return "", errors.New("no open files limit in /proc limits")
}
