package hosts

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUserEntriesLeaveOutFwdBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte("127.0.0.1 localhost\n10.0.0.7 api # mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := New(path)
	if err := f.Set(CurrentOwner(), []Entry{{Address: "127.1.2.3", Hostnames: []string{"web", "web.shop"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := f.UserEntries()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Address != "10.0.0.7" || len(got[1].Hostnames) != 1 || got[1].Hostnames[0] != "api" {
		t.Errorf("got %+v, want localhost and api, not fwd's web", got)
	}
	if missing, err := New(filepath.Join(t.TempDir(), "none")).UserEntries(); err != nil || len(missing) != 0 {
		t.Errorf("missing file: %v, %v", missing, err)
	}
}
