// Package live_test drives the real fwd gateway and client as separate
// processes through config changes while they run: a file edited, broken
// and fixed, SIGHUP, a token removed. The client must follow each good
// change without reconnecting. Everything listens on loopback.
package live_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
)

var fwdBin string

func TestMain(m *testing.M) { os.Exit(fwdtest.RunWithFwd(m, &fwdBin)) }

// world is a gateway config file in a directory of its own, the token it
// accepts and an echo target every service points at.
type world struct {
	dir, config, token string
	echo               string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	tok, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &world{dir: dir, config: filepath.Join(dir, "gateway.yaml"), token: tok, echo: echo.Addr}
}

// yaml is a config with the token (unless revoked) and services named
// name:port, all in project shop.
func (w *world) yaml(tokenKept bool, services ...string) string {
	var b strings.Builder
	b.WriteString("listen: 127.0.0.1:0\ntokens:\n")
	if tokenKept {
		fmt.Fprintf(&b, "  - {name: dev, sha256: %s, projects: [shop]}\n", tunnel.HashToken(w.token))
	} else {
		fmt.Fprintf(&b, "  - {name: other, sha256: %s, projects: [shop]}\n", tunnel.HashToken(w.token+"x"))
	}
	b.WriteString("projects:\n  - name: shop\n    services:\n")
	for _, s := range services {
		name, port, _ := strings.Cut(s, ":")
		fmt.Fprintf(&b, "      - name: %s\n        ports:\n          - {name: main, port: %s, protocol: TCP, targets: [%q]}\n", name, port, w.echo)
	}
	return b.String()
}

// save writes the config as an editor does: a temp file renamed over it.
func (w *world) save(t testing.TB, yaml string) {
	t.Helper()
	tmp := w.config + ".swp"
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, w.config); err != nil {
		t.Fatal(err)
	}
}

func (w *world) startGateway(t testing.TB) (*fwdtest.Process, tunnel.Announcement) {
	t.Helper()
	p := fwdtest.StartProcessT(t, "fwd gateway", fwdtest.ProcessOptions{StdoutLines: true, StopGrace: 5 * time.Second},
		fwdBin, "gateway", "--config", w.config, "-o", "json")
	line, err := p.FirstLine(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ann, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		t.Fatal(err)
	}
	return p, ann
}

func (w *world) startClient(t testing.TB, ann tunnel.Announcement) *fwdtest.Process {
	t.Helper()
	env := append(os.Environ(), "FWD_GATEWAY="+ann.Listen, "FWD_TOKEN="+w.token, "FWD_FINGERPRINT="+ann.Fingerprint,
		"HOME="+w.dir, "XDG_CONFIG_HOME="+w.dir, "XDG_RUNTIME_DIR="+w.dir, "FWD_NO_KEYRING=1")
	p := fwdtest.StartProcessT(t, "fwd all", fwdtest.ProcessOptions{StdoutLines: true, Env: env, StopGrace: 5 * time.Second},
		fwdBin, "all", "--project", "shop", "--skipHostnames", "-o", "json", "-v")
	line, err := p.FirstLine(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fwdtest.ParseForwards(line); err != nil {
		t.Fatal(err)
	}
	return p
}

// byName maps service name to local address.
func byName(fs []fwdtest.Forward) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		out[f.ID] = f.Addr
	}
	return out
}

// lastForwards is the client's latest results, by name; nil if none.
func lastForwards(p *fwdtest.Process) map[string]string {
	if fs := fwdtest.LastForwards(p.Output()); fs != nil {
		return byName(fs)
	}
	return nil
}

// waitForwards waits until the client's latest results satisfy ok.
func waitForwards(t testing.TB, p *fwdtest.Process, what string, ok func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if f := lastForwards(p); f != nil && ok(f) {
			return f
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("client never printed forwards with %s; its log:\n%s", what, p.LogTail())
	return nil
}

func waitLog(t *testing.T, p *fwdtest.Process, what string, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p.LogContains(subs...) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: no %q in the log of %s:\n%s", what, subs, p.Name(), p.LogTail())
}

func echo(t *testing.T, addr, msg string) {
	t.Helper()
	if err := echoOnce(addr, msg); err != nil {
		t.Fatal(err)
	}
}

func echoOnce(addr, msg string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		return fmt.Errorf("%s: read %q, %v; want %q", addr, buf, err, msg)
	}
	return nil
}

// TestReloadEditBreakFix: the config is edited (a service added), broken
// (the running catalog stays, and the error names file:line:col), fixed
// (a service removed) and reloaded on SIGHUP; the client follows each
// good change without reconnecting. Then the token is removed: the
// client says the token was refused and exits 3.
func TestReloadEditBreakFix(t *testing.T) {
	w := newWorld(t)
	w.save(t, w.yaml(true, "api:17301"))
	gw, ann := w.startGateway(t)
	client := w.startClient(t, ann)

	w.save(t, w.yaml(true, "api:17301", "web:17302"))
	f := waitForwards(t, client, "web added", func(f map[string]string) bool { return f["web"] != "" })
	echo(t, f["web"], "added")
	echo(t, f["api"], "kept")

	w.save(t, w.yaml(true, "api:17301", "web:17302")+"  - nme: broken\n")
	waitLog(t, gw, "a broken config", "config not reloaded")
	if !strings.Contains(gw.Output(), "gateway.yaml:") {
		t.Errorf("the reload error does not name file:line:col:\n%s", gw.LogTail())
	}
	echo(t, f["web"], "the running catalog stays")

	// Fixed in place this time (no rename), web removed.
	if err := os.WriteFile(w.config, []byte(w.yaml(true, "api:17301")), 0o600); err != nil {
		t.Fatal(err)
	}
	waitForwards(t, client, "web removed", func(f map[string]string) bool { return f["web"] == "" && f["api"] != "" })
	if c, err := net.DialTimeout("tcp", f["web"], time.Second); err == nil {
		c.Close()
		t.Error("web's listener still answers after it left the catalog")
	}

	if err := gw.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, gw, "SIGHUP", "SIGHUP: reloading")
	echo(t, f["api"], "SIGHUP reloads, it does not stop the gateway")
	if client.LogContains("reconnecting", "tunnel down") {
		t.Errorf("the client reconnected to follow a reload:\n%s", client.LogTail())
	}

	w.save(t, w.yaml(false, "api:17301"))
	if !client.Wait(10 * time.Second) {
		t.Fatalf("client still running 10s after its token was removed:\n%s", client.LogTail())
	}
	if code := client.ExitCode(); code != 3 || !client.LogContains("token") {
		t.Fatalf("client exit %d after its token was removed, want 3 and a word about the token:\n%s", code, client.LogTail())
	}
}

// BenchmarkReloadToListener is the time from saving the config file (a
// rename over it, as editors do) with a new service to that service's new
// local listener answering through the tunnel: the gateway's file watch
// and reload, the push, the client's new listener, a round trip. Each
// iteration replaces the previous one's service by a new one.
//
//	go test -run '^$' -bench ReloadToListener -benchtime 20x ./test/live/
func BenchmarkReloadToListener(b *testing.B) {
	w := newWorld(b)
	w.save(b, w.yaml(true, "api:17301"))
	_, ann := w.startGateway(b)
	client := w.startClient(b, ann)
	var total, worst time.Duration
	for i := range b.N {
		name := "s" + strconv.Itoa(i)
		start := time.Now()
		w.save(b, w.yaml(true, "api:17301", name+":"+strconv.Itoa(17310+i%50)))
		f := waitForwards(b, client, name+" added", func(f map[string]string) bool { return f[name] != "" })
		if err := echoOnce(f[name], "hi"); err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/reload")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
}
