package leases

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readFileErr(path string) (fileFormat, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileFormat{}, err
	}
	var f fileFormat
	err = json.Unmarshal(data, &f)
	return f, err
}

func readFile(t *testing.T, path string) fileFormat {
	t.Helper()
	f, err := readFileErr(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestFileFormat reads the file as a program outside this package would:
// the field names and RFC 3339 times are the format.
func TestFileFormat(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	l := label(t, s, alice, t0)
	p := port(t, s, bob, ports, t0)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Version int              `json:"version"`
		Labels  []map[string]any `json:"labels"`
		Ports   []map[string]any `json:"ports"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Version != 1 || len(raw.Labels) != 1 || len(raw.Ports) != 1 {
		t.Fatalf("file: %s", data)
	}
	wantL := map[string]any{"owner": "token:alice", "project": "shop", "name": "web", "label": l, "expires": t0.Add(ttl).Format(time.RFC3339)}
	wantP := map[string]any{"owner": "user:bob", "project": "shop", "name": "web", "port": float64(p), "expires": t0.Add(ttl).Format(time.RFC3339)}
	for _, c := range []struct{ got, want map[string]any }{{raw.Labels[0], wantL}, {raw.Ports[0], wantP}} {
		if len(c.got) != len(c.want) {
			t.Errorf("got fields %v, want %v", c.got, c.want)
		}
		for k, v := range c.want {
			if c.got[k] != v {
				t.Errorf("%s = %v, want %v", k, c.got[k], v)
			}
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %v, want 0600", m)
	}
	// An empty store writes empty lists, not nulls.
	if err := s.ReleasePort(bob); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte(`"ports": []`)) {
		t.Errorf("no ports written as %s", data)
	}
}

func TestOpenBadFile(t *testing.T) {
	future := `"expires":"2030-01-01T00:00:00Z"`
	for _, c := range []struct{ name, content, says string }{
		{"not json", "{not json", "invalid character"},
		{"truncated", `{"version":1,"labels":[`, "unexpected end"},
		{"no version", `{"labels":[]}`, "version is 0"},
		{"newer version", `{"version":2}`, "version is 2"},
		{"bad label", `{"version":1,"labels":[{"owner":"a","label":"UPPER123",` + future + `}]}`, `"UPPER123"`},
		{"bad time", `{"version":1,"labels":[{"owner":"a","label":"abcdefgh","expires":"tomorrow"}]}`, "tomorrow"},
		{"port too big", `{"version":1,"ports":[{"owner":"a","port":70000,` + future + `}]}`, "70000"},
		{"port 0", `{"version":1,"ports":[{"owner":"a","port":0,` + future + `}]}`, "port 0"},
		{"label twice", `{"version":1,"labels":[{"owner":"a","label":"abcdefgh",` + future + `},{"owner":"b","label":"abcdefgh",` + future + `}]}`, "both"},
		{"key twice", `{"version":1,"ports":[{"owner":"a","port":1,` + future + `},{"owner":"a","port":2,` + future + `}]}`, "two ports"},
		{"port twice", `{"version":1,"ports":[{"owner":"a","port":1,` + future + `},{"owner":"b","port":1,` + future + `}]}`, "both"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := tempPath(t)
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, ttl)
			if err == nil {
				t.Fatalf("Open gave %+v, want an error", s)
			}
			for _, w := range []string{"leases: ", path, "move it away", "afresh", c.says} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

func TestOpenEmptyFile(t *testing.T) {
	path := tempPath(t)
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	label(t, s, alice, t0)
	if f := readFile(t, path); len(f.Labels) != 1 {
		t.Fatalf("file after the first lease: %+v", f)
	}
}

func TestOpenUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory where the file should be
	if _, err := Open(dir, ttl); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v, want an error naming %s", err, dir)
	}
}

func TestNoTempFilesLeft(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "leases.json")
	s := open(t, path)
	for i := range 20 {
		now := t0.Add(time.Duration(i) * time.Minute)
		label(t, s, alice, now)
		port(t, s, bob, ports, now)
		if err := s.RenewPort(bob, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ReleasePort(bob); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"leases.json"}) {
		t.Fatalf("the directory holds %v, want only leases.json", names)
	}
}

// TestWriteFailsReadOnlyDir: a failed save returns its error, leaves the
// old file byte for byte and no temporary file, and changes nothing the
// store hands out.
func TestWriteFailsReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "leases.json")
	s := open(t, path)
	port(t, s, alice, ports, t0)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })

	if p, err := s.Port(bob, ports, t0); err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Port into a read-only directory gave %d, %v; want a permission error naming %s", p, err, path)
	}
	if l, err := s.Label(bob, t0); err == nil {
		t.Fatalf("Label into a read-only directory gave %q", l)
	}
	if err := s.ReleasePort(alice); err == nil {
		t.Fatal("ReleasePort into a read-only directory succeeded")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("the file changed:\n%s\nto\n%s", before, after)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"leases.json"}) {
		t.Fatalf("the directory holds %v", names)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Neither bob's port nor alice's release took effect.
	if p := port(t, s, bob, ports, t0); p != 30001 {
		t.Fatalf("bob got %d, want 30001: alice still holds 30000", p)
	}
}

// TestWriteFailsAtRename fails the last step, which root cannot get past
// either: a rename of a file over a directory.
func TestWriteFailsAtRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "leases.json")
	s := open(t, path)
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Port(alice, ports, t0); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Port with a directory in the file's place gave %d, %v; want an error naming %s", p, err, path)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"leases.json"}) {
		t.Fatalf("the directory holds %v, want no temporary file", names)
	}
	if names := dirNames(t, path); !slices.Equal(names, []string{"inside"}) {
		t.Fatalf("the directory in the way holds %v", names)
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if p := port(t, s, bob, ports, t0); p != 30000 {
		t.Fatalf("bob got %d, want 30000: alice's failed lease must not count", p)
	}
}

// TestWriteFailsUnwritableTime: an expiry RFC 3339 cannot write fails the
// call rather than saving a file the next start could not read.
func TestWriteFailsUnwritableTime(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	label(t, s, alice, t0)
	before, _ := os.ReadFile(path)
	if _, err := s.Label(bob, time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC)); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want an error naming %s", err, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the file changed")
	}
	open(t, path)
}
