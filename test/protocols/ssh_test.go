package protocols_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestSSH logs in to a real sshd through fwd with OpenSSH's client (host
// key checked, key authentication), runs a command and pipes 4 MiB through
// a remote sha256sum.
func TestSSH(t *testing.T) {
	fwdtest.NeedBinaries(t, "sshd", "ssh")
	sshd, err := fwdtest.StartSSHD(testCtx(t, 30*time.Second), t.TempDir(), fwdtest.SSHDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sshd.Close() })
	fw := fwdTo(t, "bastion", port{"ssh", 22, catalog.TCP, sshd.Addr})["ssh"]
	args, err := sshd.SSHArgs(fw.Addr)
	if err != nil {
		t.Fatal(err)
	}

	out := run(t, 30*time.Second, "ssh", append(args, "echo", "fwd-ok", "&&", "id", "-un")...)
	mustEqual(t, "ssh output", strings.TrimSpace(out), "fwd-ok\n"+sshd.User)

	data, _ := io.ReadAll(fwdtest.PRNG(9, 4<<20))
	out = runIn(t, 60*time.Second, bytes.NewReader(data), "ssh", append(args, "sha256sum")...)
	mustEqual(t, "remote sha256sum", strings.TrimSpace(out), sha256Hex(data)+"  -")
}
