//go:build unix

package blockfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNewFile: a missing file is created with Mode exactly, the umask
// notwithstanding, and its lines end with EOL; the zero File makes 0644
// and "\n".
func TestNewFile(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, tt := range []struct {
		mode, want fs.FileMode
		eol, ends  string
	}{
		{0, 0o644, "", "\n"},
		{0o600, 0o600, "\r\n", "\r\n"},
		{0o664, 0o664, "\n", "\n"},
	} {
		f := &File{Mode: tt.mode, EOL: tt.eol, Path: filepath.Join(t.TempDir(), "new")}
		o := newOwner()
		must(t, f.Set(o, []string{"x"}))
		fi, err := os.Stat(f.Path)
		must(t, err)
		if fi.Mode().Perm() != tt.want {
			t.Errorf("Mode %v made %v, want %v", tt.mode, fi.Mode(), tt.want)
		}
		if data := string(readFile(t, f.Path)); !strings.HasSuffix(data, "x"+tt.ends+endMarker(o.Session)+tt.ends) {
			t.Errorf("EOL %q wrote %q", tt.eol, data)
		}
	}
}
