package blockfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// procStat returns the state (field 3) and start time in clock ticks since
// boot (field 22) of /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from its last ')'.
func procStat(pid int) (state string, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, fmt.Errorf("blockfile: malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return "", 0, fmt.Errorf("blockfile: malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("blockfile: malformed /proc/%d/stat: %w", pid, err)
	}
	return fields[0], start, nil
}

func processStart(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

func processAlive(pid int, start uint64) bool {
	state, got, err := procStat(pid)
	if err != nil {
		// Without a readable /proc (not mounted, hidepid) a missing file
		// proves nothing; ask the kernel instead.
		if errors.Is(err, fs.ErrNotExist) && procReadable() {
			return false
		}
		return signalZeroAlive(pid)
	}
	if state == "Z" || state == "X" { // exited, not yet reaped
		return false
	}
	return start == 0 || got == start
}

func procReadable() bool {
	_, _, err := procStat(os.Getpid())
	return err == nil
}
