package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/hosts"
)

func TestHostsCleanRemovesOnlyDeadOwners(t *testing.T) {
	path := writeFile(t, "hosts", "127.0.0.1 localhost\n")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	f := hosts.New(path)
	gone := hosts.Owner{PID: dead.ProcessState.Pid(), Session: "deadbeef"}
	if err := f.Set(gone, []hosts.Entry{{Address: "127.1.2.3", Hostnames: []string{"stale.shop"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(hosts.CurrentOwner(), []hosts.Entry{{Address: "127.1.2.4", Hostnames: []string{"live.shop"}}}); err != nil {
		t.Fatal(err)
	}
	r := runFwd(t, nil, "hosts", "clean", "--hosts-file", path, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var out struct {
		Removed []struct{ PID, Entries int }
	}
	if err := json.Unmarshal([]byte(r.out), &out); err != nil || len(out.Removed) != 1 || out.Removed[0].PID != gone.PID {
		t.Fatalf("output %q (%v)", r.out, err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "stale.shop") || !strings.Contains(string(b), "live.shop") {
		t.Fatalf("after clean:\n%s", b)
	}
	if r := runFwd(t, nil, "hosts", "clean", "--hosts-file", path); r.code != 0 || !strings.Contains(r.out, "no stale fwd entries") {
		t.Fatalf("second clean: %d %q", r.code, r.out)
	}
}

// TestBusyLockAdviceIsNotSudo: a hosts lock held by another process is not
// a permission problem, so neither the forward commands nor hosts clean may
// tell the user to use sudo; the message names the lock instead.
func TestBusyLockAdviceIsNotSudo(t *testing.T) {
	busy := fmt.Errorf("%w: another process has held /etc/.hosts.fwd.lock for over 10s", hosts.ErrLockBusy)
	for name, err := range map[string]error{
		"forward":     fmt.Errorf("%w /etc/hosts: %w", forward.ErrHostsFile, busy),
		"hosts clean": busy,
	} {
		code, msg := explain(err)
		if code != exitError || strings.Contains(msg, "sudo") || !strings.Contains(msg, ".hosts.fwd.lock") {
			t.Errorf("%s: explain = %d %q, want exit %d naming the lock without sudo advice", name, code, msg, exitError)
		}
	}
	// The advice that does fit an unwritable file is kept.
	unwritable := fmt.Errorf("%w /etc/hosts: %w", forward.ErrHostsFile, fs.ErrPermission)
	if _, msg := explain(unwritable); !strings.Contains(msg, "sudo") {
		t.Errorf("unwritable hosts file: %q lacks the sudo advice", msg)
	}
}

// TestHostsListJSON: fwd hosts takes --output json like every command, and
// lists each block with its owner and entries.
func TestHostsListJSON(t *testing.T) {
	path := writeFile(t, "hosts", "127.0.0.1 localhost\n")
	if err := hosts.New(path).Set(hosts.CurrentOwner(), []hosts.Entry{{Address: "127.1.2.4", Hostnames: []string{"live.shop"}}}); err != nil {
		t.Fatal(err)
	}
	r := runFwd(t, nil, "hosts", "--hosts-file", path, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var out struct {
		File   string `json:"file"`
		Blocks []struct {
			PID     int  `json:"pid"`
			Alive   bool `json:"alive"`
			Entries []struct {
				Address   string   `json:"address"`
				Hostnames []string `json:"hostnames"`
			} `json:"entries"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		t.Fatalf("%q: %v", r.out, err)
	}
	if out.File != path || len(out.Blocks) != 1 || out.Blocks[0].PID != os.Getpid() || !out.Blocks[0].Alive ||
		len(out.Blocks[0].Entries) != 1 || out.Blocks[0].Entries[0].Address != "127.1.2.4" {
		t.Fatalf("fwd hosts -o json: %s", r.out)
	}
}
