package via_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// TestKnownHostBitExact forwards through sshd with the server in
// known_hosts: 16 MB each way through an echo server come back bit for bit,
// and a port whose first target refuses fails over to the next.
func TestKnownHostBitExact(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	u := newUser(t, s.ClientKey, "", knownHost(s))
	refused, release, err := fwdtest.RefusingAddr()
	must(t, err)
	t.Cleanup(func() { release() })
	cat := u.writeCatalog(oneService("exact", "echo", 17101, refused, startEcho(t)))
	_, results := u.forward("all", "--via", via(s), "--catalog", cat)
	addr := addrOf(t, results, "main")

	const size = 16 << 20
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	sent := sha256.New()
	go func() {
		io.Copy(c, io.TeeReader(fwdtest.PRNG(1, size), sent))
		c.(*net.TCPConn).CloseWrite()
	}()
	got := sha256.New()
	n, err := io.Copy(got, c)
	must(t, err)
	if n != size || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(sent.Sum(nil)) {
		t.Fatalf("got %d bytes back, sha256 %x; sent %d, sha256 %x", n, got.Sum(nil), size, sent.Sum(nil))
	}
	for i := range 4 {
		must(t, echo(addr, fmt.Sprintf("turn %d", i), 5*time.Second))
	}
}

// TestChangedHostKeyRefused checks that a known_hosts entry with another
// key for the server stops fwd at once, with ssh's warning on one line
// naming the offending line, exit 3, and nothing forwarded.
func TestChangedHostKeyRefused(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	other := startSSHD(t, fwdtest.SSHDOptions{}) // its host key is "the old one"
	u := newUser(t, s.ClientKey, "", "# kept by the user", fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, other.HostKey))
	cat := u.writeCatalog(oneService("changed", "echo", 17102, startEcho(t)))
	r := u.run("", "all", "--via", via(s), "--catalog", cat, "--skipHostnames", "--output", "json", "--accept-new")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3; stderr:\n%s", r.code, r.stderr)
	}
	line := lastLine(r.stderr)
	for _, want := range []string{"WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!",
		fmt.Sprintf("Host key for [127.0.0.1]:%d has changed", s.Port),
		"ED25519 key " + fingerprint(t, s.HostKey),
		"offending key in " + u.knownHosts() + ":2", "ssh-keygen -R"} {
		if !strings.Contains(line, want) {
			t.Errorf("error line lacks %q:\n%s", want, line)
		}
	}
	if strings.TrimSpace(r.out) != "" {
		t.Errorf("results printed for a refused server: %q", r.out)
	}
	b, _ := os.ReadFile(u.knownHosts())
	if strings.Count(string(b), "\n") != 2 {
		t.Errorf("known_hosts changed:\n%s", b)
	}
}

// TestUnknownHostRefusedWithoutTerminal checks that a server not in
// known_hosts is refused when nothing can ask, saying how to add it.
func TestUnknownHostRefusedWithoutTerminal(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	u := newUser(t, s.ClientKey, "")
	cat := u.writeCatalog(oneService("unknown", "echo", 17103, startEcho(t)))
	r := u.run("", "all", "--via", via(s), "--catalog", cat, "--skipHostnames")
	want := fmt.Sprintf("Host key verification failed: no known_hosts entry for [127.0.0.1]:%d (ED25519 key %s): add it with ssh-keyscan, connect once with ssh, or pass --accept-new",
		s.Port, fingerprint(t, s.HostKey))
	if r.code != 3 || !strings.Contains(lastLine(r.stderr), want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 3 and %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(u.knownHosts()); err == nil {
		t.Error("known_hosts was written without --accept-new")
	}
}

// TestAcceptNew checks that --accept-new records the server's key in
// known_hosts (hashed, as Debian's ssh_config asks, or plain) and
// forwards, and that the next run trusts it without the flag.
func TestAcceptNew(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	u := newUser(t, s.ClientKey, "")
	cat := u.writeCatalog(oneService("acceptnew", "echo", 17104, startEcho(t)))
	p, results := u.forward("all", "--via", via(s), "--catalog", cat, "--accept-new")
	must(t, echo(addrOf(t, results, "main"), "first", 5*time.Second))
	b, err := os.ReadFile(u.knownHosts())
	must(t, err)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 || !strings.HasSuffix(lines[0], s.HostKey) {
		t.Fatalf("known_hosts after --accept-new:\n%s", b)
	}
	if !p.LogContains("Permanently added '[127.0.0.1]:" + fmt.Sprint(s.Port) + "' (ED25519) to the list of known hosts.") {
		t.Errorf("no word of the added key; log:\n%s", p.Output())
	}
	p.Stop()

	_, results = u.forward("all", "--via", via(s), "--catalog", cat)
	must(t, echo(addrOf(t, results, "main"), "second", 5*time.Second))
}

func fingerprint(t *testing.T, authorized string) string {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorized))
	must(t, err)
	return ssh.FingerprintSHA256(k)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
