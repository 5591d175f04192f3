package hosts

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// UserEntries are the entries on the lines outside every fwd block: the
// user's own, whose names SetUnshadowed leaves out. A missing hosts file
// has none. It reads without the lock, as Blocks may: a listing, not an
// edit.
func (f *File) UserEntries() ([]Entry, error) {
	data, err := f.fs.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	return parseEntries(blockfile.Outside(data)), nil
}
