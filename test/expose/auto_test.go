package expose

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
)

var fwdBin string

func TestMain(m *testing.M) { os.Exit(fwdtest.RunWithFwd(m, &fwdBin)) }

// startExpose runs the real fwd expose with args against gw, JSON output.
func startExpose(t *testing.T, gw *fwdtest.Gateway, args ...string) *fwdtest.Process {
	t.Helper()
	home := t.TempDir()
	argv := append([]string{fwdBin, "expose", "-g", gw.Addr, "--fingerprint", gw.Fingerprint}, args...)
	p := fwdtest.StartProcessT(t, "fwd expose", fwdtest.ProcessOptions{
		LogPath: filepath.Join(t.TempDir(), "fwd.log"),
		Env:     append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_RUNTIME_DIR="+home, "FWD_TOKEN="+gw.Token),
	}, argv...)
	return p
}

// lastExposed is the last JSON results line fwd expose printed.
func lastExposed(out string) ([]forward.ExposeResult, bool) {
	var last []forward.ExposeResult
	found := false
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "[") {
			continue
		}
		var rs []forward.ExposeResult
		if json.Unmarshal([]byte(line), &rs) == nil {
			last, found = rs, true
		}
	}
	return last, found
}

func findPort(rs []forward.ExposeResult, port uint16) *forward.ExposeResult {
	for i := range rs {
		if rs[i].LocalPort == port {
			return &rs[i]
		}
	}
	return nil
}

// waitFor polls p's output until cond holds, for at most d, and returns
// how long it took.
func waitFor(t *testing.T, p *fwdtest.Process, d time.Duration, what string, cond func(out string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond(p.Output()) {
			return time.Since(start)
		}
		if p.Exited() {
			t.Fatalf("fwd expose exited waiting for %s:\n%s", what, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; fwd's output:\n%s", what, d, p.Output())
	return 0
}

// TestAutoExpose runs fwd expose --auto: a server started after it is
// exposed within 2 s and withdrawn within 2 s of closing; a server on
// 127.0.0.1 only is skipped, with a line that says so, and exposed with
// --expose-localhost.
func TestAutoExpose(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{MaxPerLogin: 1000})
	p := startExpose(t, gw, "--auto", "-o", "json")
	waitFor(t, p, 10*time.Second, "watching", func(out string) bool { return strings.Contains(out, "watching for ports to expose") })

	ln, err := net.Listen("tcp", "0.0.0.0:0") // every interface: not localhost-only
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "auto") }), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	var url string
	took := waitFor(t, p, 2*time.Second, fmt.Sprintf("port %d exposed", port), func(out string) bool {
		rs, _ := lastExposed(out)
		if r := findPort(rs, port); r != nil && r.URL != "" {
			url = r.URL
			return true
		}
		return false
	})
	t.Logf("a server on 0.0.0.0:%d was exposed %s after it started listening", port, took.Round(time.Millisecond))
	hc, _ := gw.HTTPClient(true)
	if resp, body := get(t, hc, url, nil); resp.StatusCode != 200 || body != "auto" {
		t.Fatalf("through %s: %s %q", url, resp.Status, body)
	}
	srv.Close()
	took = waitFor(t, p, 2*time.Second, fmt.Sprintf("port %d withdrawn", port), func(out string) bool {
		rs, ok := lastExposed(out)
		return ok && findPort(rs, port) == nil
	})
	t.Logf("withdrawn %s after the server closed", took.Round(time.Millisecond))
	hc.CloseIdleConnections()
	if resp, _ := get(t, hc, url, nil); resp.StatusCode != 404 {
		t.Errorf("after withdrawal: %s, want 404", resp.Status)
	}

	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	lport := uint16(local.Addr().(*net.TCPAddr).Port)
	skipped := fmt.Sprintf("not exposing port %d", lport)
	waitFor(t, p, 2*time.Second, "the localhost-only port skipped", func(out string) bool { return strings.Contains(out, skipped) })
	time.Sleep(500 * time.Millisecond) // two more listings: still said once, still not exposed
	if n := strings.Count(p.Output(), skipped); n != 1 {
		t.Errorf("the skip was said %d times, want once", n)
	}
	if rs, _ := lastExposed(p.Output()); findPort(rs, lport) != nil {
		t.Errorf("localhost-only port %d exposed without --expose-localhost", lport)
	}

	p2 := startExpose(t, gw, "--auto", "--expose-localhost", "-o", "json")
	waitFor(t, p2, 10*time.Second, fmt.Sprintf("localhost-only port %d exposed with --expose-localhost", lport), func(out string) bool {
		rs, _ := lastExposed(out)
		r := findPort(rs, lport)
		return r != nil && r.URL != ""
	})
}

// TestProjectFile runs fwd expose with no arguments in a directory with a
// fwd.yaml.
func TestProjectFile(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fwd.yaml"), []byte(fmt.Sprintf("ports:\n  - local_port: %d\n    name: site\n    auth: demo:pw\n", a.port)), 0o644)
	home := t.TempDir()
	p := fwdtest.StartProcessT(t, "fwd expose", fwdtest.ProcessOptions{
		LogPath: filepath.Join(t.TempDir(), "fwd.log"),
		Env:     append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_RUNTIME_DIR="+home, "FWD_TOKEN="+gw.Token),
		Dir:     dir,
	}, fwdBin, "expose", "-o", "json", "-g", gw.Addr, "--fingerprint", gw.Fingerprint)
	var r *forward.ExposeResult
	waitFor(t, p, 10*time.Second, "the project file's port exposed", func(out string) bool {
		rs, _ := lastExposed(out)
		r = findPort(rs, a.port)
		return r != nil && r.URL != ""
	})
	if !strings.HasPrefix(r.URL, "https://http--site--") || r.Open {
		t.Errorf("result %+v: want the file's name and auth", r)
	}
	hc, _ := gw.HTTPClient(false)
	if resp, _ := get(t, hc, r.URL, nil); resp.StatusCode != 401 {
		t.Errorf("without the file's password: %s", resp.Status)
	}
}

// TestForwardOnlyTokenCLI: the real binary with a token that may only
// forward says so in one line and exits 3, as for other refused logins.
func TestForwardOnlyTokenCLI(t *testing.T) {
	plain, _ := tunnel.NewToken()
	gw := exposeGateway(t, tunnel.ExposeConfig{}, func(c *tunnel.GatewayConfig) {
		c.Tokens = append(c.Tokens, tunnel.Token{Name: "ci", SHA256: sha256.Sum256([]byte(plain)), Projects: []string{"*"}})
	})
	home := t.TempDir()
	cmd := exec.Command(fwdBin, "expose", "3000", "-g", gw.Addr, "--fingerprint", gw.Fingerprint)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_RUNTIME_DIR="+home, "FWD_TOKEN="+plain)
	out, err := cmd.CombinedOutput()
	want := `fwd: gateway refused to expose port 3000: token "ci" may forward but not expose ports: ask the gateway's admin to add expose: true to it`
	if cmd.ProcessState.ExitCode() != 3 || strings.TrimSpace(string(out)) != want {
		t.Fatalf("exit %d (%v), output %q; want exit 3 and %q", cmd.ProcessState.ExitCode(), err, out, want)
	}
}

// TestCLIOutput: the table line and the open-to-everyone warning, and
// -o env's FWD_TCP_PORT_<local>=<public> for a TCP exposure.
func TestCLIOutput(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{TCPPorts: [2]uint16{26140, 26149}, TCPHost: tcpHost})
	a := startApp(t)
	port := strconv.Itoa(int(a.port))
	web := startExpose(t, gw, port)
	waitFor(t, web, 10*time.Second, "the URL and the warning", func(out string) bool {
		return strings.Contains(out, " -> localhost:"+port) && strings.Contains(out, "is open to everyone who has the address: add --auth user:password or --allow-ip CIDR")
	})
	js := startExpose(t, gw, port, "--name", "js", "-o", "json")
	waitFor(t, js, 10*time.Second, "the JSON results line", func(out string) bool {
		rs, _ := lastExposed(out)
		return len(rs) == 1 && strings.HasPrefix(rs[0].URL, "https://http--js--") && rs[0].Open
	})
	argv := []string{fwdBin, "expose", port, "--tcp", "-o", "env", "-g", gw.Addr, "--fingerprint", gw.Fingerprint}
	home := t.TempDir()
	p := fwdtest.StartProcessT(t, "fwd expose --tcp", fwdtest.ProcessOptions{StdoutLines: true,
		Env: append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_RUNTIME_DIR="+home, "FWD_TOKEN="+gw.Token)}, argv...)
	line, err := p.FirstLine(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^FWD_TCP_PORT_` + port + `=2614[0-9]$`).MatchString(line) {
		t.Fatalf("-o env: %q, want FWD_TCP_PORT_%s=<a port of 26140-26149>", line, port)
	}
}
