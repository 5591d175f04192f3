package forward_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestHostileCatalogNamesRefused: a gateway offers names that are not its
// to give. Only "<name>", "<name>.<project>" and catalog names under its
// declared suffix are written; reserved names never, names the user's own
// lines map never, invalid ones are skipped alone, and a name listed twice
// is written once.
func TestHostileCatalogNamesRefused(t *testing.T) {
	api := service("shop", "api", tcpPort("http", 28201, catalog.HTTP, startEcho(t)))
	api.Hostnames = []string{"localhost", "google.com", "bank.example.com", "ip6-localhost", "localhost.localdomain",
		"broadcasthost", "api.shop.internal", "API.shop.internal", "bad_name!", "mine.shop.internal"}
	localhost := service("shop", "localhost", tcpPort("http", 28202, catalog.HTTP, startEcho(t)))
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Services: []catalog.Resource{api, localhost}}}}
	// A hostile gateway does not validate its own config: built in code.
	env := startGateway(t, cat, fwdtest.WithHostnameSuffixes("shop.internal"))
	hostsFile := tempHosts(t)
	appendLine(t, hostsFile, "10.1.2.3 mine.shop.internal\n")
	before := readFile(t, hostsFile)
	client := newClient(t, env, func(o *forward.Options) { o.SkipHostnames, o.HostsFile = false, hostsFile })
	rs, err := client.ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatalf("one bad catalog name must not fail the forward: %v", err)
	}
	var apiNames, localhostNames []string
	for _, r := range rs {
		switch r.Data.ID {
		case "api":
			apiNames = r.Data.Hostnames
		case "localhost":
			localhostNames = r.Data.Hostnames
		}
	}
	if want := []string{"api", "api.shop", "api.shop.internal"}; !slices.Equal(apiNames, want) {
		t.Errorf("api's hostnames %v, want %v", apiNames, want)
	}
	// localhost and localhost.* are both reserved.
	if len(localhostNames) != 0 {
		t.Errorf("service localhost's hostnames %v, want none", localhostNames)
	}
	after := readFile(t, hostsFile)
	if !strings.HasPrefix(after, before) {
		t.Fatalf("the user's lines changed:\n%s", after)
	}
	block := strings.TrimPrefix(after, before)
	for _, bad := range []string{" localhost\n", "google.com", "bank.example.com", "ip6-localhost", "localdomain", "broadcasthost", "bad_name", "mine.shop.internal"} {
		if strings.Contains(block, bad) {
			t.Errorf("fwd's block has %q:\n%s", bad, block)
		}
	}
	if n := strings.Count(block, "api.shop.internal"); n != 1 {
		t.Errorf("api.shop.internal written %d times:\n%s", n, block)
	}
}

// TestUserNarrowsSuffixes: Options.HostnameSuffixes can narrow what the
// gateway declares, never widen it.
func TestUserNarrowsSuffixes(t *testing.T) {
	api := service("shop", "api", tcpPort("http", 28203, catalog.HTTP, startEcho(t)))
	api.Hostnames = []string{"api.shop.internal", "api.svc.cluster.local", "api.example.com"}
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Services: []catalog.Resource{api}}}}
	env := startGateway(t, cat, fwdtest.WithHostnameSuffixes("shop.internal", "svc.cluster.local"))
	client := newClient(t, env, func(o *forward.Options) {
		o.SkipHostnames, o.HostsFile = false, tempHosts(t)
		o.HostnameSuffixes = []string{"svc.cluster.local", "example.com"}
	})
	rs, err := client.ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"api", "api.shop", "api.svc.cluster.local"}; !slices.Equal(rs[0].Data.Hostnames, want) {
		t.Fatalf("hostnames %v, want %v", rs[0].Data.Hostnames, want)
	}
}
