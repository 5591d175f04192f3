package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fileLimit is the open-files limit the benchmark asks for. In the memory
// test each process holds each idle connection once: this one the client
// ends, the target process the server ends, the fwd client its local ends
// and the gateway its target ends.
const fileLimit = 65536

// raiseFileLimit raises RLIMIT_NOFILE, soft and hard, so that the benchmark
// and the children it starts (which inherit it) can hold the idle
// connections. Raising the hard limit needs CAP_SYS_RESOURCE (root outside
// a container that drops it); otherwise the soft limit goes up to the hard
// one. It returns the limit in force.
func raiseFileLimit(idle int, log io.Writer) string {
	want := uint64(max(fileLimit, idle+4096))
	need := uint64(idle + 1024)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(log, "warning: reading the open files limit: %v\n", err)
		return "unknown"
	}
	if lim.Cur >= want {
		return strconv.FormatUint(lim.Cur, 10)
	}
	raised := syscall.Rlimit{Cur: want, Max: max(want, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		raised = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err2 != nil {
			fmt.Fprintf(log, "warning: cannot raise the open files limit (%d): %v\n", lim.Cur, err)
			return strconv.FormatUint(lim.Cur, 10)
		}
	}
	if raised.Cur < need {
		fmt.Fprintf(log, "warning: open files limit is %d; %d idle connections need about %d per process: raise ulimit -Hn\n", raised.Cur, idle, need)
	}
	return strconv.FormatUint(raised.Cur, 10)
}

// environment describes the machine and the code measured, for the JSON.
func environment() map[string]string {
	env := map[string]string{
		"go":     runtime.Version(),
		"os":     runtime.GOOS + "/" + runtime.GOARCH,
		"cpus":   strconv.Itoa(runtime.NumCPU()),
		"kernel": strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		"cpu":    cpuModel(),
	}
	if out, err := exec.Command("ssh", "-V").CombinedOutput(); err == nil {
		env["ssh"] = strings.TrimSpace(string(out))
	}
	return env
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func cpuModel() string {
	s := bufio.NewScanner(strings.NewReader(readFile("/proc/cpuinfo")))
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// gitDescribe names the commit measured, marked when the tree has changes.
func gitDescribe(dir string) string {
	out, err := exec.Command("git", "-C", dir, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// modulePath returns the module path declared in a go.mod.
func modulePath(gomod []byte) string {
	for _, line := range bytes.Split(gomod, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("module ")); ok {
			return strings.Trim(string(bytes.TrimSpace(rest)), `"`)
		}
	}
	return ""
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctxDone <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctxDone:
	}
}

// cpuTimes are the machine's CPU seconds, busy and in all, since boot.
type cpuTimes struct{ busy, total float64 }

// readCPUTimes reads the first line of /proc/stat.
func readCPUTimes() (cpuTimes, bool) {
	line, _, _ := strings.Cut(readFile("/proc/stat"), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return cpuTimes{}, false
	}
	var t cpuTimes
	for i, s := range f[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return cpuTimes{}, false
		}
		v /= 100 // USER_HZ, 100 on every Linux that matters here
		t.total += v
		if i != 3 && i != 4 { // idle and iowait
			t.busy += v
		}
	}
	return t, true
}

// ownCPU is the CPU seconds used by this process and its children that
// have been waited for (fwd, sshd with its sessions, ssh, the go build).
func ownCPU() float64 {
	var sum float64
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			sum += time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		}
	}
	return sum
}

// cpuWatch measures how much CPU other processes took during the run: the
// machine is shared (other work, tests, fuzzers), and every figure here is
// CPU-bound on loopback, so a busy machine skews them.
type cpuWatch struct {
	start cpuTimes
	own   float64
	ok    bool
}

func startCPUWatch() cpuWatch {
	t, ok := readCPUTimes()
	return cpuWatch{start: t, own: ownCPU(), ok: ok}
}

// othersShare returns the share of all CPU time since the start that
// processes other than the benchmark's used. Call it after every child has
// exited, so that their time is counted as the benchmark's.
func (w cpuWatch) othersShare() (float64, bool) {
	end, ok := readCPUTimes()
	if !ok || !w.ok || end.total <= w.start.total {
		return 0, false
	}
	others := (end.busy - w.start.busy) - (ownCPU() - w.own)
	return max(others, 0) / (end.total - w.start.total), true
}
