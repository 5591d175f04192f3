// Package protocols_test runs real servers (PostgreSQL, Redis, nginx,
// dnsmasq, OpenSSH, small Go servers) behind an in-process fwd gateway and
// drives them with their real clients (psql, pgbench, redis-cli,
// redis-benchmark, curl, dig, ssh, Go's net/http) through a forward.Client,
// as a developer would. .ci/install-deps.sh installs the servers; tests whose
// binaries are missing are skipped with a message that says so.
//
// TestIdleConnectionSurvives idles for 105s while the other tests run: keep it
// the first test of the package (it is in idle_test.go, which sorts first).
package protocols_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// project is the catalog project every test forwards from.
const project = "it"

// bin returns the path of an installed binary (NeedBinaries has checked
// it).
func bin(t testing.TB, name string) string {
	t.Helper()
	p, err := fwdtest.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testCtx returns a context that ends after d or when the test ends.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// port is one port of the resource a test forwards.
type port struct {
	name   string
	number uint16
	proto  catalog.Protocol
	target string // the real server's host:port
}

// forwarded is a port as the forward.Client reports it.
type forwarded struct {
	Addr string // Data.Address:Data.Port, where clients connect
	Data *forward.Forward
}

// fwdTo starts a gateway whose catalog has one addon, named name, of project
// "it" with the given ports, and a forward.Client (no hostnames, gateway
// pinned by fingerprint) that forwards it. It returns the forwards by port
// name. Everything stops when the test ends.
func fwdTo(t testing.TB, name string, ports ...port) map[string]forwarded {
	t.Helper()
	res := catalog.Resource{Kind: catalog.Addon, Project: project, Name: name}
	for _, p := range ports {
		res.Ports = append(res.Ports, catalog.Port{Name: p.name, Port: p.number, Protocol: p.proto, Targets: []string{p.target}})
	}
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: project, Addons: []catalog.Resource{res}}}}

	gw := fwdtest.NewGateway(t, cat)
	client := fwdtest.NewClient(t, gw, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := client.ForwardAddon(ctx, project, name)
	if err != nil {
		t.Fatalf("ForwardAddon(%s, %s): %v", project, name, err)
	}
	if len(results) != len(ports) {
		t.Fatalf("ForwardAddon returned %d results for %d ports: %+v", len(results), len(ports), results)
	}
	out := map[string]forwarded{}
	for i, r := range results {
		if r.Error != nil {
			t.Fatalf("forwarding %s port %s (%s): %s", name, ports[i].name, ports[i].proto, r.Error.Message)
		}
		d := r.Data
		if d.Type != "addon" || d.ProjectID != project || d.ID != name || d.Protocol != string(ports[i].proto) {
			t.Fatalf("result %d is %+v, want addon %s/%s %s", i, *d, project, name, ports[i].proto)
		}
		out[d.PortName] = forwarded{Addr: net.JoinHostPort(d.Address, strconv.Itoa(d.Port)), Data: d}
	}
	for _, p := range ports {
		if _, ok := out[p.name]; !ok {
			t.Fatalf("no result for port %s: %+v", p.name, results)
		}
	}
	return out
}

// run runs a client tool with a deadline and returns its stdout; it fails
// the test with stdout and stderr if the tool fails.
func run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	return runIn(t, timeout, nil, name, args...)
}

// runIn is run with stdin. The tool's environment has no PG* or REDIS*
// variables of the caller's, which could point it elsewhere.
func runIn(t testing.TB, timeout time.Duration, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, name), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = stdin
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "REDIS") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGCONNECT_TIMEOUT=10", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s: %v after %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err,
			time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	}
	return stdout.String()
}

// mustEqual fails the test if got != want.
func mustEqual[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}
