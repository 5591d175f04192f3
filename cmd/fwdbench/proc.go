package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// stopWait is how long a child gets to exit after SIGTERM before SIGKILL.
const stopWait = 5 * time.Second

// startProc starts argv (a fwd gateway or client, ssh, the target process)
// with extra environment. Its stderr, and its stdout unless lines, go to
// logPath, which errors quote and the memory phase parses; with lines, the
// first stdout line is the process's to say it is ready (see startReady).
// Stopping it is SIGTERM, so that fwd closes its tunnel cleanly, and
// SIGKILL after stopWait.
func startProc(name, logPath string, env []string, lines bool, argv ...string) (*fwdtest.Process, error) {
	return fwdtest.StartProcess(name, fwdtest.ProcessOptions{
		LogPath: logPath, Env: append(os.Environ(), env...),
		StopSignal: syscall.SIGTERM, StopGrace: stopWait, StdoutLines: lines,
	}, argv...)
}

// startReady is startProc for a child that prints a line once it is
// ready (fwd its JSON, the target its address): it waits up to readyWait
// for that line and returns it.
func startReady(name, logPath string, env []string, argv ...string) (*fwdtest.Process, string, error) {
	p, err := startProc(name, logPath, env, true, argv...)
	if err != nil {
		return nil, "", err
	}
	line, err := p.FirstLine(readyWait)
	if err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, line, nil
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
