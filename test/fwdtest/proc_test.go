package fwdtest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProcessFirstLineThenLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "sh.log")
	p, err := StartProcess("sh", ProcessOptions{LogPath: logPath, OwnGroup: true, StdoutLines: true},
		"/bin/sh", "-c", "echo ready; echo later; echo oops >&2; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if line, err := p.FirstLine(10 * time.Second); err != nil || line != "ready" {
		t.Fatalf("FirstLine = %q, %v; want ready", line, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.LogContains("later") || !p.LogContains("oops") {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks the later stdout line or stderr: %q", p.Output())
		}
		time.Sleep(10 * time.Millisecond) // bounded poll of a file another process writes
	}
	if strings.Contains(p.Output(), "ready") {
		t.Errorf("the first line went to the log too: %q", p.Output())
	}
	if err := p.Stop(); err != nil || !p.Exited() {
		t.Fatalf("Stop on SIGTERM: %v (exited %v)", err, p.Exited())
	}
}

func TestProcessStopKillsAfterGrace(t *testing.T) {
	p, err := StartProcess("stubborn", ProcessOptions{StopGrace: 200 * time.Millisecond, OwnGroup: true, StdoutLines: true},
		"/bin/sh", "-c", `trap "" TERM; echo ready; sleep 30`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FirstLine(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop of a process that ignores SIGTERM: %v, want an error saying it was killed", err)
	}
	if !p.Exited() || p.ExitCode() != -1 || p.Err() == nil {
		t.Fatalf("after Stop: exited %v, exit code %d, err %v; want killed by a signal", p.Exited(), p.ExitCode(), p.Err())
	}
}

func TestProcessExitWithoutLine(t *testing.T) {
	p, err := StartProcess("failing", ProcessOptions{StdoutLines: true}, "/bin/sh", "-c", "echo broken config >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if _, err := p.FirstLine(10 * time.Second); err == nil || !strings.Contains(err.Error(), "broken config") {
		t.Fatalf("FirstLine of a process that exits: %v, want an error quoting its log", err)
	}
	if !p.Wait(10*time.Second) || p.ExitCode() != 3 {
		t.Fatalf("exit code %d, want 3", p.ExitCode())
	}
}

func TestParseAnnouncement(t *testing.T) {
	a, err := ParseAnnouncement(`{"fingerprint":"sha256:ab","listen":"127.0.0.1:4433","projects":[]}`)
	if err != nil || a.Listen != "127.0.0.1:4433" || a.Fingerprint != "sha256:ab" || a.Projects == nil {
		t.Fatalf("ParseAnnouncement = %+v, %v", a, err)
	}
	for _, bad := range []string{`not json`, `{"listen":"127.0.0.1:1"}`, `{"fingerprint":"sha256:ab"}`} {
		if _, err := ParseAnnouncement(bad); err == nil {
			t.Errorf("ParseAnnouncement(%q) accepted it", bad)
		}
	}
}
