package via_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestProxyJump reaches the server through a second sshd named in
// ~/.ssh/config's ProxyJump, each host resolved through the config: the
// jump host's log shows the direct-tcpip channel to the server, and the
// server's the one to the target.
func TestProxyJump(t *testing.T) {
	t.Parallel()
	jump := startSSHD(t, fwdtest.SSHDOptions{LogLevel: "DEBUG1"})
	inner := startSSHD(t, fwdtest.SSHDOptions{ClientKey: jump.ClientKey, LogLevel: "DEBUG1"})
	config := fmt.Sprintf(`Host inner
    HostName 127.0.0.1
    Port %d
    User %s
    ProxyJump jumper

Host jumper
    HostName 127.0.0.1
    Port %d
    User %s
`, inner.Port, inner.User, jump.Port, jump.User)
	u := newUser(t, jump.ClientKey, config, knownHost(jump), knownHost(inner))
	target := startEcho(t)
	cat := u.writeCatalog(oneService("jump", "echo", 17105, target))
	_, results := u.forward("all", "--via", "ssh://inner", "--catalog", cat)
	must(t, echo(addrOf(t, results, "main"), "through two servers", 5*time.Second))

	_, targetPort, _ := strings.Cut(target, ":")
	for _, c := range []struct {
		sshd *fwdtest.SSHD
		to   string
	}{{jump, fmt.Sprint(inner.Port)}, {inner, targetPort}} {
		log, err := os.ReadFile(filepath.Join(c.sshd.Dir, "sshd.log"))
		must(t, err)
		if want := "target 127.0.0.1 port " + c.to; !strings.Contains(string(log), want) {
			t.Errorf("sshd %s never opened a channel to port %s; its log:\n%s", c.sshd.Addr, c.to, log)
		}
	}
}

// TestReconnectAfterSSHDRestart stops sshd under a running fwd and starts
// it again on the same port: the local port stays bound, a connection made
// meanwhile waits and goes through, and a new one is served soon after
// sshd listens again.
func TestReconnectAfterSSHDRestart(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	u := newUser(t, s.ClientKey, "", knownHost(s))
	cat := u.writeCatalog(oneService("restart", "echo", 17106, startEcho(t)))
	p, results := u.forward("all", "--via", via(s), "--catalog", cat, "--connect-wait", "20s")
	addr := addrOf(t, results, "main")
	must(t, echo(addr, "before", 5*time.Second))

	must(t, s.Close())
	waitFor(t, 10*time.Second, "fwd to see the connection drop", func() bool { return p.LogContains("tunnel down") })
	waiting := make(chan error, 1)
	go func() { waiting <- echo(addr, "meanwhile", 20*time.Second) }()
	time.Sleep(1500 * time.Millisecond) // long enough for the redials to back off to their longest wait

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must(t, s.Start(ctx))
	listening := time.Now()
	must(t, echo(addr, "after", 10*time.Second))
	took := time.Since(listening)
	t.Logf("the same local port served again %s after sshd listened again", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("serving again took %s after sshd was back, want well under 5s (2s by design)", took)
	}
	if err := <-waiting; err != nil {
		t.Errorf("the connection made while sshd was down: %v", err)
	}
	if !p.LogContains("tunnel up again") {
		t.Errorf("no word of the tunnel coming back; log:\n%s", p.Output())
	}
}

// TestPsqlExec runs psql under fwd exec through --via to a real
// PostgreSQL, with the connection URL from the catalog's env template and
// its password from a secret in fwd's environment.
func TestPsqlExec(t *testing.T) {
	t.Parallel()
	fwdtest.NeedBinaries(t, "postgres", "psql")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pg, err := fwdtest.StartPostgres(ctx, t.TempDir())
	must(t, err)
	t.Cleanup(func() { pg.Close() })
	s := startSSHD(t, fwdtest.SSHDOptions{})
	u := newUser(t, s.ClientKey, "", knownHost(s))
	u.env = append(u.env, "FWD_TEST_DB_PASSWORD=not-checked-by-trust-auth")
	cat := u.writeCatalog(fmt.Sprintf(`secrets:
  pw: {env: FWD_TEST_DB_PASSWORD}
projects:
  - name: pgvia
    addons:
      - name: db
        env:
          DATABASE_URL: "postgres://postgres:{{secret \"pw\"}}@{{.Address}}:{{.Port \"postgres\"}}/postgres?sslmode=disable&connect_timeout=10"
        ports:
          - {name: postgres, port: 5432, targets: [%s]}
`, pg.Addr))
	sql := `select current_setting('port');
create table items (id int primary key, v text not null);
insert into items select g, md5(g::text) from generate_series(1, 20000) g;
select count(*), md5(string_agg(v, ',' order by id)) from items;`
	r := u.run("", "exec", "addon", "db", "--project", "pgvia", "--via", via(s), "--catalog", cat, "--skipHostnames", "--",
		"sh", "-c", `exec psql -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$0"`, sql)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	var all []string
	for i := 1; i <= 20000; i++ {
		sum := md5.Sum([]byte(fmt.Sprint(i)))
		all = append(all, hex.EncodeToString(sum[:]))
	}
	sum := md5.Sum([]byte(strings.Join(all, ",")))
	if want := fmt.Sprintf("%d\n20000|%x", pg.Port, sum); strings.TrimSpace(r.out) != want {
		t.Errorf("psql printed %q, want %q", strings.TrimSpace(r.out), want)
	}
}

// TestUDPPortIsAnError checks that a UDP port, which direct-tcpip cannot
// carry, gets an error result of its own while the TCP ports forward.
func TestUDPPortIsAnError(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	u := newUser(t, s.ClientKey, "", knownHost(s))
	cat := u.writeCatalog(fmt.Sprintf(`projects:
  - name: udpvia
    services:
      - name: mixed
        ports:
          - {name: main, port: 17107, targets: [%s]}
          - {name: dns, port: 17108, protocol: UDP, targets: [127.0.0.1:53]}
    addons:
      - name: dnsonly
        ports:
          - {port: 17109, protocol: UDP, targets: [127.0.0.1:53]}
`, startEcho(t)))
	_, results := u.forward("all", "--via", via(s), "--catalog", cat)
	var errs []string
	for _, r := range results {
		if r.Error != nil {
			errs = append(errs, r.Error.Message)
		}
	}
	want := []string{
		"udpvia/mixed dns: udp/17108: UDP cannot be forwarded through SSH (direct-tcpip carries TCP only)",
		"udpvia/addon:dnsonly 17109: udp/17109: UDP cannot be forwarded through SSH (direct-tcpip carries TCP only)",
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") || len(results) != 3 {
		t.Errorf("results %+v\nerrors %q\nwant   %q", results, errs, want)
	}
	must(t, echo(addrOf(t, results, "main"), "tcp still works", 5*time.Second))
}

// TestNewUser is someone with only ~/.ssh set up (a Host in config, a key,
// known_hosts) who runs the command line of the README with no other flag,
// then looks at it with fwd status.
func TestNewUser(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	config := fmt.Sprintf("Host bastion\n    HostName 127.0.0.1\n    Port %d\n    User %s\n", s.Port, s.User)
	u := newUser(t, s.ClientKey, config, knownHost(s))
	must(t, os.WriteFile(filepath.Join(u.dir, "shop.yaml"), []byte(oneService("shop", "api", 17110, startEcho(t))), 0o600))
	entries, err := os.ReadDir(filepath.Join(u.home, ".ssh"))
	must(t, err)
	if len(entries) != 3 {
		t.Fatalf("~/.ssh holds %d files, want config, id_ed25519 and known_hosts only", len(entries))
	}

	p := u.start(u.dir, "all", "--via", "ssh://bastion", "--catalog", "shop.yaml", "--skipHostnames")
	addrRE := regexp.MustCompile(`127\.[0-9]+\.[0-9]+\.[0-9]+:17110`)
	var addr string
	waitFor(t, 20*time.Second, "the forwards table", func() bool {
		addr = addrRE.FindString(p.Output())
		return addr != "" && p.LogContains("forwarding; press Ctrl-C")
	})
	must(t, echo(addr, "hello", 5*time.Second))
	if r := u.run(u.dir, "status"); r.code != 0 || !strings.Contains(r.out, "ssh://bastion") {
		t.Errorf("fwd status: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
}

// TestGoAPI forwards through sshd with forward.Options.SSH, the caller
// dialling with x/crypto/ssh and its own known_hosts check.
func TestGoAPI(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	pem, err := os.ReadFile(s.ClientKey)
	must(t, err)
	signer, err := ssh.ParsePrivateKey(pem)
	must(t, err)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(kh, []byte(knownHost(s)+"\n"), 0o600))
	check, err := knownhosts.New(kh)
	must(t, err)
	cfg := &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: check, Timeout: 5 * time.Second}
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "api", Services: []catalog.Resource{{
		Kind: catalog.Service, Project: "api", Name: "echo",
		Ports: []catalog.Port{{Name: "main", Port: 17111, Protocol: catalog.TCP, Targets: []string{startEcho(t)}}}}}}}}
	c, err := forward.New(forward.Options{
		SSH: &forward.SSHVia{
			Dial: func(context.Context) (*ssh.Client, error) {
				return ssh.Dial("tcp", "127.0.0.1:"+fmt.Sprint(s.Port), cfg)
			},
			Catalog: cat,
			Name:    "ssh://test",
		},
		SkipHostnames: true,
		Logger:        fwdtest.Logger(t),
	})
	must(t, err)
	defer c.Stop()
	results, err := c.ForwardAll(context.Background())
	must(t, err)
	must(t, echo(addrOf(t, results, "main"), "from the API", 5*time.Second))
	if c.Gateway() != "ssh://test" {
		t.Errorf("Gateway() = %q", c.Gateway())
	}
	st := c.Stats()
	if len(st) != 1 || st[0].BytesSent != int64(len("from the API")) {
		t.Errorf("stats %+v", st)
	}
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
