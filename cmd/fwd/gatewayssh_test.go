package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// sshPort is a free loopback address for ssh_listen: the config refuses
// ssh_listen equal to listen, even when both pick a free port (:0).
func sshPort(t *testing.T) string {
	t.Helper()
	p, err := fwdtest.FreePort("tcp")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// sshGatewayConfig writes a gateway config with one SSH user and
// sshListen (none if empty), and returns its path.
func sshGatewayConfig(t *testing.T, sshListen string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	text := "listen: 127.0.0.1:0\n"
	if sshListen != "" {
		text += "ssh_listen: " + sshListen + "\n"
	}
	text += `users:
  - name: alice
    ssh_keys: [` + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + `]
    projects: [shop]
projects:
  - name: shop
    services:
      - name: api
        ports:
          - {port: 80, targets: [` + serveEcho(t) + `]}
limits:
  shutdown_grace: 1s
`
	return writeFile(t, "gateway.yaml", text)
}

// TestGatewayAnnouncesSSH: with ssh_listen, fwd gateway -o json announces
// the SSH listener and its host key's fingerprint (the key made beside the
// config), after the keys it always had.
func TestGatewayAnnouncesSSH(t *testing.T) {
	cfg := sshGatewayConfig(t, sshPort(t))
	gw, line := startFwd(t, "gateway", "--config", cfg, "-o", "json")
	defer gw.stop()
	var ann struct {
		Fingerprint    string `json:"fingerprint"`
		SSHFingerprint string `json:"ssh_fingerprint"`
		SSHListen      string `json:"ssh_listen"`
	}
	if err := json.Unmarshal([]byte(line), &ann); err != nil {
		t.Fatalf("first line %q: %v (stderr %s)", line, err, gw.stderr)
	}
	keys := []string{`"fingerprint":`, `"listen":`, `"projects":`, `"ssh_fingerprint":`, `"ssh_listen":`}
	for i := 1; i < len(keys); i++ {
		if a, b := strings.Index(line, keys[i-1]), strings.Index(line, keys[i]); a < 0 || b < a {
			t.Errorf("announcement %s: want %s before %s", line, keys[i-1], keys[i])
		}
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(cfg), "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatalf("no host key beside the config: %v", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if fp := ssh.FingerprintSHA256(signer.PublicKey()); ann.SSHFingerprint != fp {
		t.Errorf("announced ssh_fingerprint %q, the host key's is %s", ann.SSHFingerprint, fp)
	}
	// The listener is there, speaking SSH with that key.
	c, err := net.DialTimeout("tcp", ann.SSHListen, 5*time.Second)
	if err != nil {
		t.Fatalf("ssh_listen %q: %v", ann.SSHListen, err)
	}
	defer c.Close()
	var served ssh.PublicKey
	ssh.NewClientConn(c, ann.SSHListen, &ssh.ClientConfig{User: "alice", Timeout: 5 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error { served = k; return nil }})
	if served == nil || ssh.FingerprintSHA256(served) != ann.SSHFingerprint {
		t.Errorf("ssh_listen serves host key %v, announced %s", served, ann.SSHFingerprint)
	}
}

// TestGatewayTextShowsSSHHostKey: the text output names the SSH listener
// and the host key's fingerprint as ssh prints it.
func TestGatewayTextShowsSSHHostKey(t *testing.T) {
	gw, first := startFwd(t, "gateway", "--config", sshGatewayConfig(t, sshPort(t)))
	defer gw.stop()
	lines := []string{first}
	for len(lines) < 7 && gw.lines.Scan() {
		lines = append(lines, gw.lines.Text())
	}
	out := strings.Join(lines, "\n")
	for _, want := range []string{"ssh listening on 127.0.0.1:", "ssh host key SHA256:", "ssh users: ssh -N -L 5432:<name>.<project>:5432 -p "} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

// TestGatewayWithoutSSH: no ssh_listen, no SSH: nothing announced, no
// host key made.
func TestGatewayWithoutSSH(t *testing.T) {
	cfg := sshGatewayConfig(t, "")
	gw, line := startFwd(t, "gateway", "--config", cfg, "-o", "json")
	defer gw.stop()
	if strings.Contains(line, "ssh_") {
		t.Errorf("announcement without ssh_listen: %s", line)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "ssh_host_ed25519_key")); err == nil {
		t.Error("a host key was made without ssh_listen")
	}
}

// TestGatewaySSHListenTaken: a taken ssh_listen port is a listen error
// naming the key, reported before any key or certificate is made.
func TestGatewaySSHListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := sshGatewayConfig(t, taken.Addr().String())
	r := runFwd(t, nil, "gateway", "--config", cfg)
	if r.code != exitError || !strings.Contains(r.err, "cannot listen on "+taken.Addr().String()+" (ssh_listen)") {
		t.Errorf("exit %d, stderr %s", r.code, r.err)
	}
	for _, f := range []string{"ssh_host_ed25519_key", "gateway.key"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), f)); err == nil {
			t.Errorf("%s made though the gateway could not listen", f)
		}
	}
}
