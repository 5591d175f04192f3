package contexts

import (
	"fmt"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// writeFile replaces path with data, mode 0600, atomically (blockfile's
// write, which the hosts file uses too).
func writeFile(path string, data []byte) error {
	if err := blockfile.WriteAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("contexts: %w", err)
	}
	return nil
}
