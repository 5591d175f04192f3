package forward_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// shopCatalog is a project with two services (one with two ports) and an
// addon, all backed by real servers on loopback.
func shopCatalog(t testing.TB) catalog.Catalog {
	echo := startEcho(t)
	return catalog.Catalog{Projects: []catalog.Project{{
		Name: "shop",
		Services: []catalog.Resource{
			service("shop", "api",
				tcpPort("http", 18080, catalog.HTTP, startHTTP(t, "api")),
				tcpPort("admin", 19090, catalog.TCP, echo)),
			service("shop", "web", tcpPort("http", 18081, catalog.HTTP, startHTTP(t, "web"))),
		},
		Addons: []catalog.Resource{addon("shop", "db", tcpPort("postgres", 15432, catalog.TCP, echo))},
	}}}
}

func TestForwardProjectEndToEnd(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	results, err := client.ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("got %d results, want 4 (two api ports, web, db): %+v", len(results), results)
	}
	byName := map[string]forward.Result{}
	addrs := map[string]string{}
	for _, r := range results {
		if r.Error != nil {
			t.Fatalf("result error: %s", r.Error.Message)
		}
		d := r.Data
		if d.Port != d.RemotePort || d.Note != "" {
			t.Errorf("%s/%s: port %d, remote %d, note %q: want the real port number", d.ID, d.PortName, d.Port, d.RemotePort, d.Note)
		}
		if !strings.HasPrefix(d.Address, "127.") || d.Address == "127.0.0.1" {
			t.Errorf("%s: address %s, want its own 127.x.y.z", d.ID, d.Address)
		}
		if prev, ok := addrs[d.ID]; ok && prev != d.Address {
			t.Errorf("%s has two addresses %s and %s", d.ID, prev, d.Address)
		}
		addrs[d.ID] = d.Address
		byName[d.ID+"/"+d.PortName] = r
	}
	if len(map[string]bool{addrs["api"]: true, addrs["web"]: true, addrs["db"]: true}) != 3 {
		t.Errorf("resources share addresses: %v", addrs)
	}
	if got := httpGet(t, "http://"+addrOf(byName["api/http"])+"/x"); got != "api /x" {
		t.Errorf("api: got %q", got)
	}
	if got := httpGet(t, "http://"+addrOf(byName["web/http"])+"/y"); got != "web /y" {
		t.Errorf("web: got %q", got)
	}
	echoRoundTrip(t, addrOf(byName["api/admin"]), "admin hello")
	echoRoundTrip(t, addrOf(byName["db/postgres"]), "db hello")

	// A second run gets the same addresses and ports.
	client.Stop()
	again, err := newClient(t, env, nil).ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	for i := range results {
		if addrOf(again[i]) != addrOf(results[i]) {
			t.Errorf("second run: %s, first run: %s", addrOf(again[i]), addrOf(results[i]))
		}
	}
}

func TestForwardServiceAndAddonOnly(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	svc, err := client.ForwardService(context.Background(), "shop", "web")
	if err != nil || len(svc) != 1 || svc[0].Data.ID != "web" || svc[0].Data.Type != "service" {
		t.Fatalf("ForwardService: %+v, %v", svc, err)
	}
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil || len(db) != 1 || db[0].Data.Type != "addon" || db[0].Data.Protocol != "TCP" {
		t.Fatalf("ForwardAddon: %+v, %v", db, err)
	}
	echoRoundTrip(t, addrOf(db[0]), "ping")
	if n := len(client.Results()); n != 2 {
		t.Fatalf("Results has %d entries, want 2", n)
	}
}

func TestUnknownNamesListWhatExists(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	cases := []struct {
		call func() error
		want []string
	}{
		{func() error { _, err := client.ForwardService(context.Background(), "shop", "nope"); return err }, []string{`"nope"`, "api, web"}},
		{func() error { _, err := client.ForwardAddon(context.Background(), "shop", "cache"); return err }, []string{`"cache"`, "db"}},
		{func() error { _, err := client.ForwardProject(context.Background(), "shoe"); return err }, []string{`"shoe"`, "shop"}},
	}
	for _, c := range cases {
		err := c.call()
		if !errors.Is(err, forward.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %s", err, w)
			}
		}
	}
}

func TestTokenScopedToAnotherProject(t *testing.T) {
	cat := shopCatalog(t)
	cat.Projects = append(cat.Projects, catalog.Project{Name: "billing", Services: []catalog.Resource{
		service("billing", "api", tcpPort("http", 18082, catalog.HTTP, startHTTP(t, "billing")))}})
	env := startGateway(t, cat)
	const token = "fwd_billing_only"
	env.Config.Tokens = append(env.Config.Tokens, tunnel.Token{Name: "billing", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"billing"}})
	client := newClient(t, env, func(o *forward.Options) { o.Token = token })
	_, err := client.ForwardService(context.Background(), "shop", "api")
	if !errors.Is(err, forward.ErrNotFound) || !strings.Contains(err.Error(), "billing") || strings.Contains(err.Error(), "shop,") {
		t.Fatalf("got %v, want not found listing only billing", err)
	}
	if _, err := client.ForwardService(context.Background(), "billing", "api"); err != nil {
		t.Fatalf("own project: %v", err)
	}
}

func TestWrongTokenAndUntrustedCertificate(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	_, err := newClient(t, env, func(o *forward.Options) { o.Token = "fwd_wrong" }).ForwardAll(context.Background())
	if !errors.Is(err, tunnel.ErrUnauthorized) {
		t.Fatalf("wrong token: got %v, want ErrUnauthorized", err)
	}
	_, err = newClient(t, env, func(o *forward.Options) {
		o.Trust = tunnel.Trust{Fingerprint: "sha256:" + strings.Repeat("00", 32)}
	}).ForwardAll(context.Background())
	var untrusted *tunnel.UntrustedError
	if !errors.As(err, &untrusted) || untrusted.Fingerprint != env.Fingerprint {
		t.Fatalf("pinned wrong fingerprint: got %v, want UntrustedError naming %s", err, env.Fingerprint)
	}
	_, err = newClient(t, env, func(o *forward.Options) { o.Trust = tunnel.Trust{} }).ForwardAll(context.Background())
	if !errors.As(err, &untrusted) {
		t.Fatalf("self-signed without pin: got %v, want UntrustedError", err)
	}
}

func TestGatewayNotListening(t *testing.T) {
	addr := closedAddr(t)
	c, err := forward.New(forward.Options{Gateway: addr, Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if _, err := c.ForwardAll(context.Background()); !errors.Is(err, tunnel.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
}

func TestDialFailureClosesOnlyThatConnection(t *testing.T) {
	cat := shopCatalog(t)
	cat.Projects[0].Services = append(cat.Projects[0].Services,
		service("shop", "down", tcpPort("http", 18083, catalog.HTTP, closedAddr(t))))
	env := startGateway(t, cat)
	logs := &fwdtest.SyncBuffer{}
	client := newClient(t, env, func(o *forward.Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	results, err := client.ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	var down, db forward.Result
	for _, r := range results {
		switch r.Data.ID {
		case "down":
			down = r
		case "db":
			db = r
		}
	}
	c, err := net.Dial("tcp", addrOf(down))
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		// The refusal came back before Dial returned: closed at once indeed.
	case err != nil:
		t.Fatal(err)
	default:
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection to an unreachable target: read %d, %v; want it closed at once", n, err)
		}
		c.Close()
	}
	echoRoundTrip(t, addrOf(db), "still up")
	// The line is logged as the connection is torn down, so allow it a moment.
	want := "shop/down http: gateway could not connect to target: connection refused"
	logged := func() bool { return strings.Contains(logs.String(), want) }
	for deadline := time.Now().Add(5 * time.Second); !logged() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !logged() {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
}

// TestBusyPortFallsBackAndSaysSo: clients that want the same address and
// port get the resource's alternative addresses with the port's own
// number; once all of those are taken, the port moves, and the note says
// so and who holds it.
func TestBusyPortFallsBackAndSaysSo(t *testing.T) {
	cat := shopCatalog(t)
	env := startGateway(t, cat)
	seen := map[string]bool{}
	for i := range 8 {
		rs, err := newClient(t, env, nil).ForwardAddon(context.Background(), "shop", "db")
		if err != nil {
			t.Fatal(err)
		}
		d := rs[0].Data
		if d.Port != 15432 || d.Note != "" || seen[d.Address] {
			t.Fatalf("client %d: %s:%d note %q; want port 15432 on an address of its own", i+1, d.Address, d.Port, d.Note)
		}
		seen[d.Address] = true
	}
	last, err := newClient(t, env, nil).ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	d := last[0].Data
	self := fmt.Sprintf("already in use by pid %d", os.Getpid())
	if d.Port == 15432 || d.RemotePort != 15432 || !strings.Contains(d.Note, self) {
		t.Fatalf("ninth forward: port %d remote %d note %q; want another port and a note naming %q", d.Port, d.RemotePort, d.Note, self)
	}
	if len(d.Hostnames) != 0 {
		t.Errorf("a moved port's resource got hostnames %v", d.Hostnames)
	}
	echoRoundTrip(t, addrOf(last[0]), "via fallback port")
}

func TestStopOneKeepsOthers(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	web, _ := client.ForwardService(context.Background(), "shop", "web")
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.StopServiceForwarding("shop", "web"); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addrOf(web[0]), time.Second); err == nil {
		c.Close()
		t.Fatalf("web still accepts after StopServiceForwarding")
	}
	echoRoundTrip(t, addrOf(db[0]), "db alive")
	if err := client.StopServiceForwarding("shop", "web"); !errors.Is(err, forward.ErrNotFound) {
		t.Fatalf("stopping twice: %v, want ErrNotFound", err)
	}
}

func TestWithForwardingStopsAfterFn(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	var addr string
	err := client.WithAddonForwarding(context.Background(), "shop", "db", func(_ context.Context, rs []forward.Result) error {
		addr = addrOf(rs[0])
		echoRoundTrip(t, addr, "inside")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after WithAddonForwarding returned")
	}
	want := errors.New("fn failed")
	err = client.WithProjectForwarding(context.Background(), "shop", func(context.Context, []forward.Result) error { return want })
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want fn's error", err)
	}
}

// Two hundred connections through one tunnel at once, each moving 1 MiB each
// way, arrive intact. Under -short (the race run, 5-10x slower) each moves
// 256 KiB: enough to interleave every stream. Under the race detector with
// another package beside it a gateway dial has been seen to wait 5 s for the
// scheduler, so the dial timeout here is a minute: this test is about data.
func TestConcurrentConnectionsIntact(t *testing.T) {
	limits := config.DefaultLimits()
	limits.DialTimeout = time.Minute
	env := startGateway(t, shopCatalog(t), fwdtest.WithLimits(limits))
	client := newClient(t, env, nil)
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	const conns = 200
	size := 1 << 20
	if testing.Short() {
		size = 256 << 10
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoPayload(addrOf(db[0]), uint64(i), size)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// echoPayload sends size pseudo-random bytes and checks the echo.
func echoPayload(addr string, seed uint64, size int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	payload := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("conn %d write: %w", seed, err)
	}
	if err != nil {
		return fmt.Errorf("conn %d read: %w", seed, err)
	}
	if sum(got) != sum(payload) {
		return fmt.Errorf("conn %d: %d bytes back, content differs", seed, len(got))
	}
	return nil
}

func TestHostnamesWrittenAndRemoved(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	path := filepath.Join(t.TempDir(), "hosts")
	original := []byte("127.0.0.1\tlocalhost\n# a user comment\n::1 localhost ip6-localhost\n10.9.9.9 keep.me # mine")
	if err := os.WriteFile(path, original, 0o644); err != nil {
		t.Fatal(err)
	}
	client := newClient(t, env, func(o *forward.Options) { o.SkipHostnames = false; o.HostsFile = path })
	results, err := client.ForwardService(context.Background(), "shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	d := results[0].Data
	if strings.Join(d.Hostnames, " ") != "api api.shop" {
		t.Fatalf("hostnames %v, want [api api.shop]", d.Hostnames)
	}
	during, _ := os.ReadFile(path)
	if !strings.Contains(string(during), d.Address) || !strings.Contains(string(during), "api.shop") {
		t.Fatalf("hosts file lacks %s api.shop:\n%s", d.Address, during)
	}
	if !bytes.HasPrefix(during, original) {
		t.Fatalf("user lines changed:\n%s", during)
	}
	if err := client.Stop(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, original) {
		t.Fatalf("after Stop the hosts file differs:\n%q\nwant\n%q", after, original)
	}
}

func TestUnwritableHostsFile(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	// A path under a regular file can be written by nobody, root included.
	client := newClient(t, env, func(o *forward.Options) { o.SkipHostnames = false; o.HostsFile = filepath.Join(file, "hosts") })
	_, err := client.ForwardService(context.Background(), "shop", "api")
	if !errors.Is(err, forward.ErrHostsFile) {
		t.Fatalf("got %v, want ErrHostsFile", err)
	}
	if len(client.Results()) != 0 {
		t.Fatalf("forwards left running after the hosts file failed: %+v", client.Results())
	}
}

func TestShutdownLetsOpenConnectionsFinish(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	path := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(path, []byte("127.0.0.1 localhost\n"), 0o644)
	client := newClient(t, env, func(o *forward.Options) { o.SkipHostnames = false; o.HostsFile = path })
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addrOf(db[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "before ")
	buf := make([]byte, 7)
	io.ReadFull(c, buf) // the connection is established end to end

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- client.Shutdown(ctx)
	}()
	// New connections are refused as soon as the listener closes...
	deadline := time.Now().Add(5 * time.Second)
	for {
		probe, err := net.DialTimeout("tcp", addrOf(db[0]), time.Second)
		if err != nil {
			break
		}
		probe.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, _ := os.ReadFile(path); string(b) != "127.0.0.1 localhost\n" {
		t.Fatalf("hostnames not removed at once: %q", b)
	}
	// ...while the open one still works and can finish cleanly.
	io.WriteString(c, "during")
	c.(*net.TCPConn).CloseWrite()
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "during" {
		t.Fatalf("open connection during shutdown: %q, %v", rest, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last connection ended")
	}
}
