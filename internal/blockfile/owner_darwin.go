package blockfile

import (
	"golang.org/x/sys/unix"
)

const darwinZombie = 5 // SZOMB in <sys/proc.h>

// processStart is the start time in microseconds since the Unix epoch.
func processStart(pid int) (uint64, error) {
	p, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	tv := p.Proc.P_starttime
	return uint64(tv.Sec)*1e6 + uint64(tv.Usec), nil
}

func processAlive(pid int, start uint64) bool {
	if !signalZeroAlive(pid) {
		return false
	}
	p, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return true
	}
	if p.Proc.P_stat == darwinZombie {
		return false
	}
	tv := p.Proc.P_starttime
	return start == 0 || uint64(tv.Sec)*1e6+uint64(tv.Usec) == start
}
