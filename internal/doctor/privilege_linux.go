package doctor

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// capNetBindService is CAP_NET_BIND_SERVICE's bit in /proc's capability
// masks.
const capNetBindService = 10

// MayBindLowPorts reports whether this process may bind ports below the
// unprivileged start: root, or CAP_NET_BIND_SERVICE in its effective set
// (setcap on the binary, or a container that grants it).
func MayBindLowPorts() bool {
	if os.Geteuid() == 0 {
		return true
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<capNetBindService) != 0
		}
	}
	return false
}

// UnprivilegedPortStart is the first port any process may bind:
// net.ipv4.ip_unprivileged_port_start, 1024 unless lowered.
func UnprivilegedPortStart() uint16 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16)
	if err != nil {
		return 1024
	}
	return uint16(n)
}
