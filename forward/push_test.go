package forward_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// A catalog the gateway pushes applies without a reconnect: a resource
// added is forwarded, one removed is dropped, a resource whose ports
// changed listens on its new ports, hostnames follow, and the one event
// carries the forwards as they now are.
func TestPushedCatalogAppliesLive(t *testing.T) {
	v1 := shopCatalog(t)
	env := startGateway(t, v1)
	client, ch, hostsPath := clientWithHosts(t, env)
	before, err := client.ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	webAddr := ""
	for _, r := range before {
		if r.Data.ID == "web" {
			webAddr = addrOf(r)
		}
	}

	// v2: web is gone, addon cache is new, db gains a port.
	echo := startEcho(t)
	p := v1.Projects[0]
	p.Services = []catalog.Resource{p.Services[0]}
	db := addon("shop", "db", append(append([]catalog.Port(nil), p.Addons[0].Ports...), tcpPort("metrics", 19187, catalog.TCP, echo))...)
	p.Addons = []catalog.Resource{db, addon("shop", "cache", tcpPort("redis", 16379, catalog.TCP, echo))}
	env.Reload(catalog.Catalog{Projects: []catalog.Project{p}})

	e := waitFor(t, ch, "a CatalogChanged event", func(e forward.Event) bool {
		if e.State == forward.StateReconnecting {
			t.Fatal("the client reconnected to apply a pushed catalog")
		}
		return e.CatalogChanged
	})
	if hasID(e.Results, "web") || !hasID(e.Results, "cache") {
		t.Fatalf("forwards after the push: %+v", e.Results)
	}
	var metrics string
	for _, r := range e.Results {
		if r.Data.ID == "db" && r.Data.Port == 19187 {
			metrics = addrOf(r)
		}
		if r.Data.ID == "cache" {
			echoRoundTrip(t, addrOf(r), "new addon")
		}
	}
	if metrics == "" {
		t.Fatalf("db's new port is not forwarded: %+v", e.Results)
	}
	echoRoundTrip(t, metrics, "new port")
	if c, err := net.DialTimeout("tcp", webAddr, time.Second); err == nil {
		c.Close()
		t.Fatal("web's listener is still open after it left the catalog")
	}
	hostsNow, _ := os.ReadFile(hostsPath)
	if !strings.Contains(string(hostsNow), "cache.shop") || strings.Contains(string(hostsNow), "web.shop") {
		t.Fatalf("hosts file does not follow the pushed catalog:\n%s", hostsNow)
	}
}
