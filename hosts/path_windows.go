package hosts

import (
	"path/filepath"

	"github.com/txn2/txeh"
	"golang.org/x/sys/windows"
)

// defaultEOL is what an empty hosts file gets; Notepad and the resolver
// both expect CRLF here.
const defaultEOL = "\r\n"

// maxHostsPerLine is txeh's measured limit: Windows ignores names past the
// ninth on one line.
const maxHostsPerLine = txeh.DefaultMaxHostsPerLineWindows

// defaultPath asks Windows for its system directory instead of reading
// %SystemRoot%, which a caller's environment could change.
func defaultPath() string {
	dir, err := windows.GetSystemDirectory()
	if err != nil {
		dir = `C:\Windows\System32`
	}
	return filepath.Join(dir, "drivers", "etc", "hosts")
}
