package projectfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// names are the project file's names in a directory, in the order Find
// looks for them.
var names = []string{"fwd.yaml", ".fwd.yaml"}

// maxSize bounds what Load reads: a project file lists a few ports (64 KiB
// holds a thousand), and a far larger file under that name is a mistake to
// say so about, rather than one to parse, and for a broken one to parse
// again in parts to find the bad line.
const maxSize = 64 << 10

// Port is one port the project publishes.
type Port struct {
	LocalPort       uint16 // local_port (required, 1-65535)
	Name            string // name: the exposure's name, a DNS label; "" lets the caller pick
	TCP             bool   // tcp: expose as a TCP port instead of HTTPS
	ExposeLocalhost bool   // expose_localhost: expose it even if it listens on loopback only
	Auth            string // auth: "user:pass" basic auth for HTTPS exposures; never with TCP
}

// File is a loaded project file.
type File struct {
	Path  string // as given to Load, or dir joined with the name Find found
	Ports []Port // in the file's order, at least one
}

// Error is a project file that cannot be used as written. It prints on one
// line, path:line:column: what is wrong: what to do, so that an editor can
// jump to it; for that reason it has no "projectfile: " prefix. Callers can
// tell it, with errors.As, from a file that could not be read.
type Error struct {
	Path   string // the file's path
	Line   int    // 1-based
	Column int    // 1-based; 0 where YAML's parser does not say
	Msg    string // what is wrong and what to do
	Err    error  // YAML's parser's error, when it found the problem
}

func (e *Error) Error() string {
	pos := e.Path + ":" + strconv.Itoa(e.Line)
	if e.Column > 0 {
		pos += ":" + strconv.Itoa(e.Column)
	}
	return pos + ": " + e.Msg
}

// Unwrap returns YAML's parser's error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Find returns the project file in dir: fwd.yaml, else .fwd.yaml. Both
// present is an error saying to keep one; neither returns (nil, nil).
func Find(dir string) (*File, error) {
	var found []string
	for _, name := range names {
		path := filepath.Join(dir, name)
		_, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking for the project file: %w", err)
		}
		found = append(found, path)
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return Load(found[0])
	}
	return nil, fmt.Errorf("%s and %s are both project files and fwd reads only one: keep one of them", found[0], found[1])
}

// Load parses one file. A file that is not a valid project file comes back
// as an *Error.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the project file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the project file: %w", err)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("%s is over %d KiB, too large for a project file, which lists ports: is it the right file?", path, maxSize>>10)
	}
	return parse(path, data)
}
