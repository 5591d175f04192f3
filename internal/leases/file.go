package leases

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// version is the file format's; a gateway refuses a file of another
// version rather than guess at what a newer one meant.
const version = 1

type fileFormat struct {
	Version int          `json:"version"`
	Labels  []labelEntry `json:"labels"`
	Ports   []portEntry  `json:"ports"`
}

type labelEntry struct {
	Owner   string    `json:"owner"`
	Project string    `json:"project"`
	Name    string    `json:"name"`
	Label   string    `json:"label"`
	Expires time.Time `json:"expires"`
}

type portEntry struct {
	Owner   string    `json:"owner"`
	Project string    `json:"project"`
	Name    string    `json:"name"`
	Port    uint16    `json:"port"`
	Expires time.Time `json:"expires"`
}

func keyName(k Key) string {
	return fmt.Sprintf("owner %q project %q name %q", k.Owner, k.Project, k.Name)
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Project, b.Project), cmp.Compare(a.Name, b.Name))
}

// encode sorts the leases by key, so that an unchanged state writes the
// same bytes and a person can read the file and its diffs.
func encode(st state) ([]byte, error) {
	f := fileFormat{Version: version, Labels: make([]labelEntry, 0, len(st.labels)), Ports: make([]portEntry, 0, len(st.ports))}
	for _, k := range slices.SortedFunc(maps.Keys(st.labels), compareKeys) {
		l := st.labels[k]
		f.Labels = append(f.Labels, labelEntry{k.Owner, k.Project, k.Name, l.value, l.expires})
	}
	for _, k := range slices.SortedFunc(maps.Keys(st.ports), compareKeys) {
		l := st.ports[k]
		f.Ports = append(f.Ports, portEntry{k.Owner, k.Project, k.Name, l.value, l.expires})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil { // an expiry past the year 9999, which RFC 3339 cannot write
		return nil, err
	}
	return append(data, '\n'), nil
}

// decode refuses anything this package would not have written (two leases
// for one key, one label or port for two keys), since guessing which one
// holds would hand an exposure's URL or port to somebody else.
func decode(data []byte) (state, error) {
	st := newState()
	if len(bytes.TrimSpace(data)) == 0 {
		return st, nil // created empty beforehand, e.g. to be mounted
	}
	var f fileFormat
	if err := json.Unmarshal(data, &f); err != nil {
		return state{}, err
	}
	if f.Version != version {
		return state{}, fmt.Errorf("its version is %d, this gateway reads version %d", f.Version, version)
	}
	holders := map[string]Key{}
	for _, e := range f.Labels {
		k := Key{e.Owner, e.Project, e.Name}
		if !validLabel(e.Label) {
			return state{}, fmt.Errorf("the label %q of %s is not %d characters from a-z and 0-9", e.Label, keyName(k), labelLen)
		}
		if _, ok := st.labels[k]; ok {
			return state{}, fmt.Errorf("%s has two labels", keyName(k))
		}
		if other, ok := holders[e.Label]; ok {
			return state{}, fmt.Errorf("the label %q is leased to both %s and %s", e.Label, keyName(other), keyName(k))
		}
		holders[e.Label] = k
		st.labels[k] = lease[string]{value: e.Label, expires: e.Expires.UTC()}
	}
	ports := map[uint16]Key{}
	for _, e := range f.Ports {
		k := Key{e.Owner, e.Project, e.Name}
		if e.Port == 0 {
			return state{}, fmt.Errorf("%s holds port 0, which cannot be leased", keyName(k))
		}
		if _, ok := st.ports[k]; ok {
			return state{}, fmt.Errorf("%s has two ports", keyName(k))
		}
		if other, ok := ports[e.Port]; ok {
			return state{}, fmt.Errorf("port %d is leased to both %s and %s", e.Port, keyName(other), keyName(k))
		}
		ports[e.Port] = k
		st.ports[k] = lease[uint16]{value: e.Port, expires: e.Expires.UTC()}
	}
	return st, nil
}

// writeAtomic replaces path with data by renaming a synced temporary file
// from the same directory over it (a rename across file systems would not
// be atomic), so that a reader or a crash sees the old file or the new one.
// On any error the temporary file is removed and path is left as it was.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".leases-*")
	if err != nil {
		return fmt.Errorf("leases: saving %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("leases: saving %s: %w", path, err), cleanup(f, tmp))
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// cleanup closes (again, harmlessly, if it was) and removes the temporary
// file; only a failed removal is worth reporting, as it leaves litter.
func cleanup(f *os.File, tmp string) error {
	_ = f.Close()
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("leases: removing the temporary file: %w", err)
	}
	return nil
}

// syncDir makes the rename itself durable where the system allows it. It
// is best effort: the new file is already in place, and some systems
// (Windows) cannot sync a directory at all.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
