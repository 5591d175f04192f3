//go:build !windows

package hosts

const defaultEOL = "\n"

// maxHostsPerLine 0 puts all of an entry's names on one line.
const maxHostsPerLine = 0

func defaultPath() string {
	return "/etc/hosts"
}
