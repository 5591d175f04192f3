package daily_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// keys is a directory of SSH keys made by the real ssh-keygen: alice's
// (authorized for project shop), a stranger's, a passphrase-protected
// one, a user CA, and carol's keys with certificates the CA signed.
type keys struct {
	t   *testing.T
	dir string
}

func newKeys(t *testing.T) *keys {
	fwdtest.NeedBinaries(t, "ssh-keygen", "ssh-agent", "ssh-add")
	k := &keys{t: t, dir: t.TempDir()}
	k.keygen("alice", "")
	k.keygen("stranger", "")
	k.keygen("locked", "open sesame")
	k.keygen("ca", "")
	return k
}

func (k *keys) path(name string) string { return filepath.Join(k.dir, name) }

// keygen makes an ed25519 key pair name, name.pub.
func (k *keys) keygen(name, passphrase string) {
	k.t.Helper()
	k.cmd("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name+"@test", "-f", k.path(name))
}

// certify signs name.pub with the CA as name-cert.pub, for principals,
// valid for validity (ssh-keygen -V syntax).
func (k *keys) certify(name, principals, validity string) {
	k.t.Helper()
	k.cmd("ssh-keygen", "-q", "-s", k.path("ca"), "-I", name+"-id", "-n", principals, "-V", validity, k.path(name)+".pub")
}

// fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it.
func (k *keys) fingerprint(name string) string {
	k.t.Helper()
	out := k.cmd("ssh-keygen", "-l", "-E", "sha256", "-f", k.path(name)+".pub")
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "SHA256:") {
			return f
		}
	}
	k.t.Fatalf("no fingerprint in %q", out)
	return ""
}

func (k *keys) cmd(argv ...string) string {
	k.t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		k.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// install copies key name (and its certificate, if any) to home's
// ~/.ssh/id_ed25519, where fwd looks without flags.
func (k *keys) install(home, name string) {
	k.t.Helper()
	dir := filepath.Join(home, ".ssh")
	os.MkdirAll(dir, 0o700)
	for _, suffix := range []string{"", ".pub", "-cert.pub"} {
		b, err := os.ReadFile(k.path(name) + suffix)
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "id_ed25519"+suffix), b, 0o600); err != nil {
			k.t.Fatal(err)
		}
	}
}

// startAgent runs a real ssh-agent holding the named keys (ssh-add also
// loads a certificate found beside a key) and returns its socket.
func (k *keys) startAgent(names ...string) string {
	k.t.Helper()
	sock := filepath.Join(k.t.TempDir(), "agent.sock")
	fwdtest.StartProcessT(k.t, "ssh-agent", fwdtest.ProcessOptions{StopSignal: syscall.SIGTERM}, "ssh-agent", "-D", "-a", sock)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			k.t.Fatal("ssh-agent did not listen within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range names {
		cmd := exec.Command("ssh-add", k.path(n))
		cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := cmd.CombinedOutput(); err != nil {
			k.t.Fatalf("ssh-add %s: %v\n%s", n, err, out)
		}
	}
	return sock
}

// sshGateway runs the real `fwd gateway` with users from files: alice by
// authorized_keys, carol by certificates of the CA; both see only shop.
func sshGateway(t *testing.T, k *keys) (addr, fingerprint string) {
	t.Helper()
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alice.keys"), []byte("# alice's laptop\n"+mustRead(t, k.path("alice")+".pub")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
users:
  - {name: alice, authorized_keys: alice.keys, projects: [shop]}
  - {name: carol, projects: [shop]}
ssh_user_ca: %s
projects:
  - name: shop
    services:
      - name: api
        ports: [{name: echo, port: 28311, targets: [%q]}]
  - name: hidden
    services:
      - name: api
        ports: [{port: 28311, targets: [%q]}]
`, k.path("ca")+".pub", echo.Addr, echo.Addr)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := fwdtest.StartProcessT(t, "fwd gateway", fwdtest.ProcessOptions{StopSignal: syscall.SIGTERM, StdoutLines: true},
		fwdBin, "gateway", "--config", path, "--output", "json")
	line, err := p.FirstLine(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ann, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		t.Fatal(err)
	}
	return ann.Listen, ann.Fingerprint
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lsProjects runs fwd ls -o json and returns the projects it lists.
func lsProjects(t *testing.T, r result) []string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("fwd ls: exit %d: %s", r.code, r.stderr)
	}
	var rows []struct {
		ProjectID string `json:"projectId"`
	}
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatalf("fwd ls -o json printed %q: %v", r.out, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, row := range rows {
		if !seen[row.ProjectID] {
			seen[row.ProjectID] = true
			out = append(out, row.ProjectID)
		}
	}
	return out
}

// refused checks a login refused with exit 3 and a one-line message
// holding each of want.
func refused(t *testing.T, what string, r result, want ...string) {
	t.Helper()
	msg := strings.TrimSpace(r.stderr)
	if r.code != 3 || strings.Contains(msg, "\n") {
		t.Errorf("%s: exit %d, stderr %q: want exit 3 and one line", what, r.code, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: stderr %q does not say %q", what, msg, w)
		}
	}
}

// TestSSHAgentLogin: with no token, fwd signs with ssh-agent's keys. A key
// the gateway does not know is refused with its fingerprint.
func TestSSHAgentLogin(t *testing.T) {
	k := newKeys(t)
	addr, fp := sshGateway(t, k)
	sh := newShell(t, "FWD_GATEWAY="+addr, "FWD_FINGERPRINT="+fp)

	agent := sh.with("SSH_AUTH_SOCK=" + k.startAgent("stranger", "alice"))
	if got := lsProjects(t, agent.run("", "ls", "-o", "json")); len(got) != 1 || got[0] != "shop" {
		t.Errorf("alice by ssh-agent sees %v, want [shop]", got)
	}
	client := agent.start("service", "api", "-p", "shop", "--skipHostnames", "-o", "json")
	line, err := client.FirstLine(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var res []struct {
		Data struct{ Address string } `json:"data"`
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil || len(res) != 1 || res[0].Data.Address == "" {
		t.Fatalf("fwd service printed %q: %v", line, err)
	}
	echoThrough(t, net.JoinHostPort(res[0].Data.Address, "28311"))

	only := sh.with("SSH_AUTH_SOCK=" + k.startAgent("stranger"))
	refused(t, "a stranger's key in ssh-agent", only.run("", "ls", "-o", "json"),
		"gateway refused the SSH login: key not authorized: ssh-ed25519 "+k.fingerprint("stranger"))
}

// echoThrough sends a line to the echo service at addr and reads it back.
func echoThrough(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := "hello through an SSH-key login\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := readFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo: %q, %v", buf, err)
	}
}

func readFull(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestSSHKeyFileLogin: --ssh-key, then ~/.ssh/id_ed25519 without a flag.
// A key nobody authorized and a passphrase nothing can ask for are
// refused, each saying what to do.
func TestSSHKeyFileLogin(t *testing.T) {
	k := newKeys(t)
	addr, fp := sshGateway(t, k)
	sh := newShell(t, "FWD_GATEWAY="+addr, "FWD_FINGERPRINT="+fp)

	if got := lsProjects(t, sh.run("", "ls", "-o", "json", "--ssh-key", k.path("alice"))); len(got) != 1 || got[0] != "shop" {
		t.Errorf("alice by --ssh-key sees %v, want [shop]", got)
	}
	refused(t, "--ssh-key of a stranger", sh.run("", "ls", "--ssh-key", k.path("stranger")),
		"key not authorized: ssh-ed25519 "+k.fingerprint("stranger"))
	refused(t, "an encrypted key without a terminal", sh.run("", "ls", "--ssh-key", k.path("locked")),
		"needs its passphrase", "ssh-add "+k.path("locked"))

	k.install(filepath.Join(sh.dir, "home"), "alice")
	if got := lsProjects(t, sh.run("", "ls", "-o", "json")); len(got) != 1 || got[0] != "shop" {
		t.Errorf("alice by ~/.ssh/id_ed25519 sees %v, want [shop]", got)
	}
}

// TestSSHCertificateLogin: a certificate signed with ssh-keygen -s by the
// gateway's ssh_user_ca logs in as its principal; an expired one, one not
// yet valid and one for a principal the gateway has no user for are
// refused in OpenSSH's words.
func TestSSHCertificateLogin(t *testing.T) {
	k := newKeys(t)
	addr, fp := sshGateway(t, k)
	for _, tc := range []struct {
		name, principals, validity string
		want                       string // "" logs in
	}{
		{"valid", "carol", "-5m:+1h", ""},
		{"expired", "carol", "20200101:20200102", "certificate expired: valid until 2020-01-02"},
		{"not yet valid", "carol", "+1d:+2d", "certificate not yet valid: valid from"},
		{"principal", "mallory", "-5m:+1h", `principal not allowed: the certificate names "mallory"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "carol-" + strings.ReplaceAll(tc.name, " ", "-")
			k.keygen(key, "")
			k.certify(key, tc.principals, tc.validity)
			sh := newShell(t, "FWD_GATEWAY="+addr, "FWD_FINGERPRINT="+fp)
			k.install(filepath.Join(sh.dir, "home"), key)
			r := sh.run("", "ls", "-o", "json")
			if tc.want == "" {
				if got := lsProjects(t, r); len(got) != 1 || got[0] != "shop" {
					t.Errorf("carol's certificate sees %v, want [shop]", got)
				}
				agent := sh.with("SSH_AUTH_SOCK=" + k.startAgent(key))
				os.RemoveAll(filepath.Join(sh.dir, "home", ".ssh"))
				if got := lsProjects(t, agent.run("", "ls", "-o", "json")); len(got) != 1 || got[0] != "shop" {
					t.Errorf("carol's certificate in ssh-agent sees %v, want [shop]", got)
				}
				return
			}
			// The plain key is offered after its certificate and is no
			// user's either: both reasons are given.
			refused(t, tc.name, r, tc.want, "key not authorized")
		})
	}
}

// TestLoginWithSSHKey: fwd login --ssh checks the key and saves a context
// without a token; later commands sign with the saved key file.
func TestLoginWithSSHKey(t *testing.T) {
	k := newKeys(t)
	addr, fp := sshGateway(t, k)
	sh := newShell(t)
	r := sh.run("", "login", "--gateway", addr, "--fingerprint", fp, "--ssh", "--ssh-key", k.path("alice"), "--name", "keyed", "-o", "json")
	if r.code != 0 || !strings.Contains(r.out, `"auth":"ssh"`) || strings.Contains(r.out, `"token"`) {
		t.Fatalf("fwd login --ssh: exit %d, out %q, stderr %q", r.code, r.out, r.stderr)
	}
	cfg := mustRead(t, filepath.Join(sh.dir, "config", "fwd", "config.yaml"))
	if !strings.Contains(cfg, "ssh_key: "+k.path("alice")) {
		t.Errorf("config.yaml does not keep the key file:\n%s", cfg)
	}
	if _, err := os.Stat(filepath.Join(sh.dir, "config", "fwd", "credentials.yaml")); err == nil && strings.Contains(mustRead(t, filepath.Join(sh.dir, "config", "fwd", "credentials.yaml")), "keyed") {
		t.Error("a token was saved for an SSH login")
	}
	if got := lsProjects(t, sh.run("", "ls", "-o", "json")); len(got) != 1 || got[0] != "shop" {
		t.Errorf("fwd ls with the saved context sees %v, want [shop]", got)
	}
	refused(t, "fwd login --ssh with a stranger's key", sh.run("", "login", "--gateway", addr, "--fingerprint", fp, "--ssh", "--ssh-key", k.path("stranger"), "--name", "other"),
		"key not authorized")
}
