package forward_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// events collects a client's events for a test to wait on.
func events(o *forward.Options) chan forward.Event {
	ch := make(chan forward.Event, 256)
	o.OnEvent = func(e forward.Event) {
		select {
		case ch <- e:
		default:
		}
	}
	return ch
}

// clientWithHosts is a client that writes hostnames to a hosts file of
// its own, with its events on ch.
func clientWithHosts(t *testing.T, env *fwdtest.Gateway) (client *forward.Client, ch chan forward.Event, hostsPath string) {
	t.Helper()
	hostsPath = filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hostsPath, []byte("127.0.0.1 localhost\n"), 0o644)
	client = newClient(t, env, func(o *forward.Options) {
		ch = events(o)
		o.SkipHostnames = false
		o.HostsFile = hostsPath
	})
	return client, ch, hostsPath
}

// waitFor returns the first event that satisfies ok, or fails after 10 s.
func waitFor(t *testing.T, ch chan forward.Event, what string, ok func(forward.Event) bool) forward.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if ok(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("no event: %s", what)
		}
	}
}

// After a reconnect the client reads the catalog again: what was removed is
// dropped and what was added is forwarded, hostnames included.
func TestReconnectReadsCatalogAgain(t *testing.T) {
	v1 := shopCatalog(t)
	env := startGateway(t, v1)
	client, ch, hostsPath := clientWithHosts(t, env)
	before, err := client.ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	var webAddr, dbAddr string
	for _, r := range before {
		switch r.Data.ID {
		case "web":
			webAddr = addrOf(r)
		case "db":
			dbAddr = addrOf(r)
		}
	}

	// v2: web is gone, addon cache is new.
	p := v1.Projects[0]
	p.Services = []catalog.Resource{p.Services[0]}
	p.Addons = append(append([]catalog.Resource(nil), p.Addons...), addon("shop", "cache", tcpPort("redis", 16379, catalog.TCP, startEcho(t))))
	v2 := catalog.Catalog{Projects: []catalog.Project{p}}
	env.Stop()
	waitFor(t, ch, "reconnecting", func(e forward.Event) bool { return e.State == forward.StateReconnecting })
	if err := env.Restart(v2); err != nil {
		t.Fatal(err)
	}
	// The first Connected event already lists the forwards as they now are:
	// the CLI prints its table from it.
	after := waitFor(t, ch, "connected", func(e forward.Event) bool { return e.State == forward.StateConnected })
	if !hasID(after.Results, "cache") {
		t.Fatalf("the Connected event after the reconnect lacks the new addon: %+v", after.Results)
	}
	if hasID(after.Results, "web") {
		t.Fatalf("web still forwarded after it left the catalog: %+v", after.Results)
	}
	for _, r := range after.Results {
		if r.Data.ID == "cache" {
			echoRoundTrip(t, addrOf(r), "new addon")
		}
	}
	echoRoundTrip(t, dbAddr, "db kept its address")
	if c, err := net.DialTimeout("tcp", webAddr, time.Second); err == nil {
		c.Close()
		t.Fatal("web's listener is still open")
	}
	hostsNow, _ := os.ReadFile(hostsPath)
	if !strings.Contains(string(hostsNow), "cache.shop") || strings.Contains(string(hostsNow), "web.shop") {
		t.Fatalf("hosts file not updated after reconnect:\n%s", hostsNow)
	}
}

// A connection made while the tunnel is down waits for it and then works.
func TestConnectionWaitsForTunnel(t *testing.T) {
	cat := shopCatalog(t)
	env := startGateway(t, cat)
	var ch chan forward.Event
	client := newClient(t, env, func(o *forward.Options) { ch = events(o) })
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	env.Stop()
	waitFor(t, ch, "reconnecting", func(e forward.Event) bool { return e.State == forward.StateReconnecting })
	done := make(chan struct{})
	go func() {
		defer close(done)
		echoRoundTrip(t, addrOf(db[0]), "waited for the tunnel")
	}()
	if err := env.Restart(cat); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("connection made during the outage never completed")
	}
}

// A connection that waits longer than ConnectWait is closed.
func TestConnectionGivesUpAfterConnectWait(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	var ch chan forward.Event
	client := newClient(t, env, func(o *forward.Options) {
		ch = events(o)
		o.ConnectWait = 300 * time.Millisecond
	})
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	env.Stop()
	waitFor(t, ch, "reconnecting", func(e forward.Event) bool { return e.State == forward.StateReconnecting })
	c, err := net.Dial("tcp", addrOf(db[0]))
	if err != nil {
		t.Fatalf("listener dropped while the tunnel is down: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read succeeded with no tunnel")
	}
	if waited := time.Since(start); waited > 4*time.Second { // far below the 5 s read deadline
		t.Fatalf("closed after %v, want about ConnectWait (300ms)", waited)
	}
}

func hasID(rs []forward.Result, id string) bool {
	for _, r := range rs {
		if r.Data != nil && r.Data.ID == id {
			return true
		}
	}
	return false
}

// A gateway restarted with a drain (GoAway) does not cut open connections:
// they finish on the old session while new ones go through the new gateway.
func TestGatewayDrainKeepsOpenConnections(t *testing.T) {
	cat := shopCatalog(t)
	env := startGateway(t, cat)
	var ch chan forward.Event
	client := newClient(t, env, func(o *forward.Options) { ch = events(o) })
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	open, err := net.Dial("tcp", addrOf(db[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	open.SetDeadline(time.Now().Add(20 * time.Second))
	echoLine := func(msg string) {
		t.Helper()
		if _, err := open.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(open, buf); err != nil || string(buf) != msg {
			t.Fatalf("open connection: %q, %v", buf, err)
		}
	}
	echoLine("before")

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		drained <- env.Drain(ctx)
	}()
	e := waitFor(t, ch, "reconnecting after GoAway", func(e forward.Event) bool { return e.State == forward.StateReconnecting })
	if e.Err == nil {
		t.Fatal("no cause given for the drop")
	}
	if err := env.Restart(cat); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "connected to the new gateway", func(e forward.Event) bool { return e.State == forward.StateConnected })
	echoRoundTrip(t, addrOf(db[0]), "through the new gateway")
	echoLine("still on the old session")
	open.Close()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("old gateway did not finish draining after its last stream closed")
	}
}
