package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// component is a process whose CPU time and context switches the
// connection-rate measurement divides by the connections made: where a
// connection's cost goes.
type component struct {
	name string
	pid  int
}

// procUsage is a process's CPU seconds and context switches, all threads.
type procUsage struct {
	cpu      float64
	switches int64
}

func readUsage(pid int) (procUsage, bool) {
	cpu, err := procCPUSeconds(pid)
	if err != nil {
		return procUsage{}, false
	}
	u := procUsage{cpu: cpu}
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
				u.switches += n
			} else if rest, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
				u.switches += n
			}
		}
	}
	return u, true
}

// usageOf reads every component's usage; missing ones are left out.
func usageOf(cs []component) map[string]procUsage {
	out := map[string]procUsage{}
	for _, c := range cs {
		if u, ok := readUsage(c.pid); ok {
			out[c.name] = u
		}
	}
	return out
}

// recordConnCost adds, for each component, CPU µs and context switches per
// connection between before and after.
func (b *benchRun) recordConnCost(peer string, round int, conns float64, before, after map[string]procUsage) {
	if conns <= 0 {
		return
	}
	var parts []string
	for name, a := range after {
		z, ok := before[name]
		if !ok {
			continue
		}
		cpu := (a.cpu - z.cpu) * 1e6 / conns
		sw := float64(a.switches-z.switches) / conns
		b.res.add("CPU per connection: "+name, peer, round, cpu, "µs")
		b.res.add("context switches per connection: "+name, peer, round, sw, "count")
		parts = append(parts, name+" "+strconv.FormatFloat(cpu, 'f', 0, 64)+" µs CPU, "+strconv.FormatFloat(sw, 'f', 1, 64)+" switches")
	}
	b.progress("  per connection: %s", strings.Join(parts, "; "))
}

// sshdSessions finds the sshd processes serving an ssh client: the sshd
// whose command line names dir (its config is there), and its descendants.
// Those forked per login keep serving that login's channels.
func sshdSessions(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	var masters []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The parent is the second field after the command's ")".
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
			if f := strings.Fields(string(stat)[i+1:]); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmd), dir) && strings.Contains(string(cmd), "sshd") {
			masters = append(masters, pid)
		}
	}
	var out []int
	for pid := range parent {
		for p, hops := parent[pid], 0; p > 1 && hops < 8; p, hops = parent[p], hops+1 {
			if len(masters) > 0 && p == masters[0] {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}
