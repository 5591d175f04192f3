package forward_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel"
)

// With two gateways, a client goes to the next when its gateway dies and
// keeps its listeners; a dead first gateway at start is skipped.
func TestGatewayFailover(t *testing.T) {
	cat := shopCatalog(t)
	a := startGateway(t, cat)
	b := startGateway(t, cat)
	b.Config.Tokens[0].SHA256 = a.Config.Tokens[0].SHA256 // one token for both, as replicas share their config
	client, err := forward.New(forward.Options{Gateway: a.Addr + ", " + b.Addr, Token: a.Token,
		Trust: tunnel.Trust{Fingerprint: a.Fingerprint}, SkipHostnames: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Stop() })
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, addrOf(db[0]), "through a")
	a.Stop()
	start := time.Now()
	for {
		// A connection already on its way when a died may fail; the
		// next ones go through b, on the same listener.
		if err := echoOnce(addrOf(db[0]), "through b"); err == nil {
			break
		} else if time.Since(start) > 10*time.Second {
			t.Fatalf("not served through the second gateway 10s after the first stopped: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("served again through the second gateway %v after the first stopped", time.Since(start))

	// A client whose first gateway is down at start logs in to the next.
	c2, err := forward.New(forward.Options{Gateway: a.Addr + "," + b.Addr, Token: a.Token,
		Trust: tunnel.Trust{Fingerprint: a.Fingerprint}, SkipHostnames: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Stop() })
	if _, err := c2.ForwardAddon(context.Background(), "shop", "db"); err != nil {
		t.Fatalf("first gateway down at start: %v", err)
	}
}

func TestGatewayListRefusesBadAddresses(t *testing.T) {
	for _, g := range []string{"a:1,b", ",", "a:1,,nope"} {
		_, err := forward.New(forward.Options{Gateway: g, Token: "x"})
		if err == nil || !strings.Contains(err.Error(), "gateway address") && !strings.Contains(err.Error(), "no gateway") {
			t.Errorf("Gateway %q: %v, want an error naming the bad address", g, err)
		}
	}
}
