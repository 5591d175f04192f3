package configedit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// lockWait bounds the wait for another writer of the same config (a
// second fwd ports detect --write).
const lockWait = 10 * time.Second

// AddPortsToFile is AddPorts on the file at path, under the lock that
// fwd's other editors of shared files take (".NAME.fwd.lock" beside it),
// written atomically (a temporary file renamed over it) with the file's
// own mode. check sees the old content and the new first: an error keeps
// the file as it was. A symlink is followed, so that a config mounted as a link (a
// Kubernetes ConfigMap) stays a link.
func AddPortsToFile(path string, at Place, ports []Port, check func(old, new []byte) error) (added, kept []Port, err error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, nil, fmt.Errorf("configedit: %w", err)
	}
	dir, base := filepath.Split(real)
	unlock, err := blockfile.Lock(filepath.Join(dir, "."+base+".fwd.lock"), true, lockWait, 0o600)
	if errors.Is(err, blockfile.ErrLockTimeout) {
		return nil, nil, fmt.Errorf("configedit: another process has been editing %s for over %s: try again when it is done", path, lockWait)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("configedit: locking %s: %w", path, err)
	}
	defer unlock()
	fi, err := os.Stat(real)
	if err != nil {
		return nil, nil, fmt.Errorf("configedit: %w", err)
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return nil, nil, fmt.Errorf("configedit: %w", err)
	}
	out, added, kept, err := AddPorts(data, at, ports)
	if err != nil || len(added) == 0 {
		return added, kept, err
	}
	if check != nil {
		if err := check(data, out); err != nil {
			return nil, nil, fmt.Errorf("configedit: %s would not load with the new ports, so it was left as it was: %w", path, err)
		}
	}
	if err := blockfile.WriteAtomic(real, out, fi.Mode().Perm()); err != nil {
		return nil, nil, fmt.Errorf("configedit: %w", err)
	}
	return added, kept, nil
}
