// Package resilience_test drives the real fwd binary as separate processes
// (gateways, clients) through failures: a gateway killed with SIGKILL again
// and again, a link that silently drops every packet (inside a network
// namespace), and the real /etc/hosts through SIGINT and SIGKILL. The client
// runs in-process, through package forward, where the test counts its
// goroutines and file descriptors or records its state changes.
//
// The namespace and /etc/hosts tests need root and skip without it.
package resilience_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
)

// fwdBin is the fwd binary TestMain builds.
var fwdBin string

// echoHelperEnv makes the test binary an echo server instead of running
// tests: it listens on 127.0.0.1 (a free port), prints the address as its
// first stdout line and echoes until killed. The namespace test starts it
// inside the namespace.
const echoHelperEnv = "FWD_RESILIENCE_ECHO_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(echoHelperEnv) == "1" {
		os.Exit(runEchoHelper())
	}
	os.Exit(fwdtest.RunWithFwd(m, &fwdBin))
}

// runEchoHelper is the echo server mode of the test binary. It exits by
// itself after 5 minutes in case nobody kills it.
func runEchoHelper() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo helper:", err)
		return 1
	}
	fmt.Println(ln.Addr().String())
	time.AfterFunc(5*time.Minute, func() { os.Exit(2) })
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo helper: accept:", err)
			return 1
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// startProc starts argv with extra environment variables, its stdout read
// line by line. Its output is kept and shown if the test fails; it is
// killed (SIGKILL) when the test ends.
func startProc(t testing.TB, name string, env []string, argv ...string) *fwdtest.Process {
	t.Helper()
	return fwdtest.StartProcessT(t, name, fwdtest.ProcessOptions{
		Env: append(os.Environ(), env...), StopSignal: syscall.SIGKILL, StdoutLines: true,
	}, argv...)
}

// firstLine waits for the process's first stdout line.
func firstLine(t testing.TB, p *fwdtest.Process, timeout time.Duration) string {
	t.Helper()
	line, err := p.FirstLine(timeout)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// kill ends the process with SIGKILL, its stop signal, and waits for it.
func kill(t testing.TB, p *fwdtest.Process) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Error(err)
	}
}

// run runs the fwd binary to completion and returns its stdout.
func runFwd(t testing.TB, timeout time.Duration, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fwdBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fwd %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// token is what `fwd gateway token -o json` prints.
type token struct {
	Name     string   `json:"name"`
	Token    string   `json:"token"`
	SHA256   string   `json:"sha256"`
	Projects []string `json:"projects"`
}

func newToken(t testing.TB, project string) token {
	t.Helper()
	out := runFwd(t, 30*time.Second, nil, "gateway", "token", "--name", "resilience", "--projects", project, "-o", "json")
	var tok token
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &tok); err != nil || tok.Token == "" || tok.SHA256 == "" {
		t.Fatalf("fwd gateway token printed %q: %v", out, err)
	}
	return tok
}

// service is one TCP service of the gateway's catalog, one port.
type service struct {
	name   string
	port   int    // the catalog's port number
	target string // host:port as the gateway sees it
}

// writeConfig writes a gateway config into dir and returns its path. The
// self-signed certificate is made beside it on the gateway's first start.
func writeConfig(t testing.TB, dir, listen, project string, tok token, services ...service) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\n", listen)
	fmt.Fprintf(&b, "tokens:\n  - {name: %s, sha256: %s, projects: [%s]}\n", tok.Name, tok.SHA256, project)
	fmt.Fprintf(&b, "projects:\n  - name: %s\n    services:\n", project)
	for _, s := range services {
		fmt.Fprintf(&b, "      - name: %s\n        ports:\n          - {name: echo, port: %d, protocol: TCP, targets: [%q]}\n", s.name, s.port, s.target)
	}
	fmt.Fprintf(&b, "limits:\n  shutdown_grace: 1s\n")
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gateway is a running `fwd gateway` process and what it announced.
type gateway struct {
	*fwdtest.Process
	tunnel.Announcement
	ReadyAt time.Time // when its JSON line arrived
}

// startGateway runs `fwd gateway --config cfg --output json`, with --listen
// if listen is set, inside the network namespace netns if set, and waits for
// its JSON line.
func startGateway(t testing.TB, cfg, listen, netns string) *gateway {
	t.Helper()
	argv := []string{fwdBin, "gateway", "--config", cfg, "--output", "json"}
	if listen != "" {
		argv = append(argv, "--listen", listen)
	}
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	p := startProc(t, "fwd gateway", nil, argv...)
	ann, err := fwdtest.ParseAnnouncement(firstLine(t, p, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{Process: p, Announcement: ann, ReadyAt: time.Now()}
}

// newClient returns an in-process forward.Client for gw (no hostnames,
// pinned by fingerprint) that is stopped when the test ends. Its logs are
// shown if the test fails.
func newClient(t testing.TB, gatewayAddr, fingerprint string, tok token, onEvent func(forward.Event)) *forward.Client {
	t.Helper()
	logs := &fwdtest.SyncBuffer{}
	c, err := forward.New(forward.Options{
		Gateway:       gatewayAddr,
		Token:         tok.Token,
		Trust:         tunnel.Trust{Fingerprint: fingerprint},
		SkipHostnames: true,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent:       onEvent,
	})
	if err != nil {
		t.Fatalf("forward.New: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fwd client logs:\n%s", logs.String())
		}
	})
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("client Stop: %v", err)
		}
	})
	return c
}

// forwardOne forwards one service and returns its local host:port.
func forwardOne(t testing.TB, c *forward.Client, project, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := c.ForwardService(ctx, project, name)
	if err != nil {
		t.Fatalf("ForwardService(%s, %s): %v", project, name, err)
	}
	return onlyAddr(t, results)
}

func onlyAddr(t testing.TB, results []forward.Result) string {
	t.Helper()
	if len(results) != 1 || results[0].Data == nil {
		t.Fatalf("want one forwarded port, got %+v", results)
	}
	d := results[0].Data
	return net.JoinHostPort(d.Address, strconv.Itoa(d.Port))
}

// echoOnce connects to addr, sends one line and checks that it comes back.
// A dial error is returned as dialErr, anything after as err.
func echoOnce(addr string, seq int, timeout time.Duration) (dialErr, err error) {
	deadline := time.Now().Add(timeout)
	conn, dialErr := net.DialTimeout("tcp", addr, timeout)
	if dialErr != nil {
		return dialErr, nil
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	msg := "ping " + strconv.Itoa(seq) + "\n"
	if _, err := io.WriteString(conn, msg); err != nil {
		return nil, err
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return nil, err
	}
	if got != msg {
		return nil, fmt.Errorf("echo: sent %q, got %q", msg, got)
	}
	return nil, nil
}

// traffic runs echo requests against a forwarded address, one after the
// other, until stopped. Every connection attempt must be accepted by the
// local listener: a refused or failed dial is counted and reported.
type traffic struct {
	addr string

	mu         sync.Mutex
	mark       time.Time // successes completing after this are of interest
	firstAfter time.Time // the first success after mark, or zero
	kick       chan struct{}
	ok, failed int
	refused    int
	dialErrs   []error // the first few dial errors

	cancel context.CancelFunc
	done   chan struct{}
}

// maxRequests bounds a traffic loop; the pacing keeps it far below anyway.
const maxRequests = 200000

func startTraffic(t testing.TB, addr string, perRequest time.Duration) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{addr: addr, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		// Pacing, not synchronisation: at most one request per 5 ms.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < maxRequests; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			dialErr, err := echoOnce(addr, i, perRequest)
			now := time.Now()
			tr.mu.Lock()
			switch {
			case errors.Is(dialErr, syscall.ECONNRESET):
				// connect() reports a reset only for a connection that was
				// established: fwd accepted it and cut it at once (its
				// stream died with the gateway). Accepted, then closed.
				tr.failed++
			case dialErr != nil:
				if errors.Is(dialErr, syscall.ECONNREFUSED) {
					tr.refused++
				}
				if len(tr.dialErrs) < 5 {
					tr.dialErrs = append(tr.dialErrs, fmt.Errorf("at %s: %w", now.Format("15:04:05.000"), dialErr))
				}
			case err != nil:
				tr.failed++
			default:
				tr.ok++
				if !tr.mark.IsZero() && tr.firstAfter.IsZero() && now.After(tr.mark) {
					tr.firstAfter = now
					select {
					case tr.kick <- struct{}{}:
					default:
					}
				}
			}
			tr.mu.Unlock()
		}
	}()
	t.Cleanup(tr.stop)
	return tr
}

// setMark starts looking for the first success that completes after at.
func (tr *traffic) setMark(at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.mark, tr.firstAfter = at, time.Time{}
	select {
	case <-tr.kick:
	default:
	}
}

// successAfterMark waits up to timeout for a success after the mark and
// returns when it completed.
func (tr *traffic) successAfterMark(timeout time.Duration) (time.Time, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		tr.mu.Lock()
		first := tr.firstAfter
		tr.mu.Unlock()
		if !first.IsZero() {
			return first, true
		}
		select {
		case <-tr.kick:
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

// waitOK waits up to timeout for n more successes than there were when
// called.
func (tr *traffic) waitOK(n int, timeout time.Duration) bool {
	tr.mu.Lock()
	want := tr.ok + n
	tr.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for range 10000 {
		tr.mu.Lock()
		got := tr.ok
		tr.mu.Unlock()
		if got >= want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // bounded poll of a counter
	}
	return false
}

// counts returns the successes, connections cut after they were accepted,
// refused dials, and the first few dial errors (refused ones included).
func (tr *traffic) counts() (ok, failed, refused int, dialErrs []error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ok, tr.failed, tr.refused, append([]error(nil), tr.dialErrs...)
}

// stop ends the loop and waits for the request in flight.
func (tr *traffic) stop() {
	tr.cancel()
	<-tr.done
}

// needRoot skips the test unless it runs as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root (running as uid %d): run the package as root, as CI does", os.Geteuid())
	}
}

// run runs a system command and fails the test if it fails.
func run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := runErr(argv...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// runErr runs a system command with a 30s bound and returns its output.
func runErr(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}
