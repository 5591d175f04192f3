package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// result is what one in-process run of fwd printed and returned.
type result struct {
	code     int
	out, err string
}

// runFwd runs a command line to completion.
func runFwd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	setEnv(t, env)
	var out, errb bytes.Buffer
	code := run(context.Background(), args, streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{code, out.String(), errb.String()}
}

// running is a long-running fwd command started in-process.
type running struct {
	cancel context.CancelFunc
	lines  *bufio.Scanner
	done   chan int
	stderr *fwdtest.SyncBuffer
	drain  sync.Once
}

// startFwd runs a long-running command until stop is called and returns
// once it printed its first stdout line (or ended).
func startFwd(t *testing.T, args ...string) (*running, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// An OS pipe buffers what the command prints after the lines a test
	// reads, so the command never blocks on its output.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &running{cancel: cancel, lines: bufio.NewScanner(pr), done: make(chan int, 1), stderr: &fwdtest.SyncBuffer{}}
	go func() {
		code := run(ctx, args, streams{In: strings.NewReader(""), Out: pw, Err: r.stderr})
		pw.Close()
		r.done <- code
	}()
	t.Cleanup(func() { r.stop() })
	first := ""
	if r.lines.Scan() {
		first = r.lines.Text()
	}
	return r, first
}

// stop sends the equivalent of SIGINT and returns the exit code.
func (r *running) stop() int {
	r.cancel()
	r.drain.Do(func() {
		go func() {
			for r.lines.Scan() {
			}
		}()
	})
	select {
	case code := <-r.done:
		r.done <- code
		return code
	case <-time.After(30 * time.Second):
		return -1
	}
}

// testGateway runs an in-process gateway for project shop (service api with
// HTTP and TCP ports, service web, addon db) and returns the environment a
// client needs.
func testGateway(t *testing.T) (*fwdtest.Gateway, []string) {
	t.Helper()
	httpAddr := serveHTTP(t)
	echoAddr := serveEcho(t)
	cat := catalog.Catalog{Projects: []catalog.Project{{
		Name: "shop",
		Services: []catalog.Resource{
			{Kind: catalog.Service, Project: "shop", Name: "api", Ports: []catalog.Port{
				{Name: "http", Port: 28080, Protocol: catalog.HTTP, Targets: []string{httpAddr}},
				{Name: "admin", Port: 29090, Protocol: catalog.TCP, Targets: []string{echoAddr}},
			}},
			{Kind: catalog.Service, Project: "shop", Name: "web", Ports: []catalog.Port{
				{Name: "http", Port: 28081, Protocol: catalog.HTTP, Targets: []string{httpAddr}},
			}},
		},
		Addons: []catalog.Resource{{Kind: catalog.Addon, Project: "shop", Name: "db", Ports: []catalog.Port{
			{Name: "postgres", Port: 25432, Protocol: catalog.TCP, Targets: []string{echoAddr}},
		}}},
	}}}
	env := fwdtest.NewGateway(t, cat)
	return env, []string{"FWD_GATEWAY=" + env.Addr, "FWD_TOKEN=" + env.Token, "FWD_FINGERPRINT=" + env.Fingerprint}
}

func serveHTTP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func serveEcho(t *testing.T) string {
	srv, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

func setEnv(t *testing.T, env []string) {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// TestMain keeps the tests away from the developer's own saved gateways,
// keyring and running clients.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fwd-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", dir+"/config")
	os.Setenv("FWD_RUNTIME_DIR", dir+"/run")
	os.Setenv("FWD_NO_KEYRING", "1")
	os.Unsetenv("FWD_CONTEXT")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
