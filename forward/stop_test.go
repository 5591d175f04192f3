package forward_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// closeRecorder notes when fwd closes its connection to the gateway.
type closeRecorder struct {
	net.Conn
	closed *atomic.Bool
}

func (c closeRecorder) Close() error { c.closed.Store(true); return c.Conn.Close() }

// Stop while the first Forward is still dialling: the Forward fails and the
// session it was dialling does not outlive the client.
func TestStopDuringFirstDial(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	entered, release := make(chan struct{}), make(chan struct{})
	var closed atomic.Bool
	client := newClient(t, env, func(o *forward.Options) {
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			close(entered)
			<-release
			c, err := (&net.Dialer{}).DialContext(context.Background(), network, addr)
			if err != nil {
				return nil, err
			}
			return closeRecorder{c, &closed}, nil
		}
	})
	errc := make(chan error, 1)
	go func() { _, err := client.ForwardAll(context.Background()); errc <- err }()
	<-entered
	stopped := make(chan struct{})
	go func() { client.Stop(); close(stopped) }()
	// Stop must not finish while the dial it has to wait for is held.
	select {
	case <-stopped:
		t.Fatal("Stop returned while the first dial was still in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop hung while the first dial was in flight")
	}
	if err := <-errc; err == nil {
		t.Fatal("ForwardAll succeeded on a stopped client")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !closed.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !closed.Load() {
		t.Fatal("the tunnel dialled during Stop was left open")
	}
	if _, err := client.ForwardAll(context.Background()); !errors.Is(err, forward.ErrStopped) {
		t.Fatalf("Forward after Stop: %v, want ErrStopped", err)
	}
}

// A With... helper withdraws only its own request.
func TestWithForwardingKeepsEarlierForward(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	err = client.WithAddonForwarding(context.Background(), "shop", "db", func(context.Context, []forward.Result) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, addrOf(db[0]), "still forwarded")
	if err := client.StopAddonForwarding("shop", "db"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Results()); n != 0 {
		t.Fatalf("%d forwards left after StopAddonForwarding", n)
	}
}

// Stop does not wait for a local client that keeps its connection open.
func TestStopCutsOpenConnections(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	db, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addrOf(db[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 1))
	done := make(chan struct{})
	go func() { client.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop waited for an open connection")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Stop")
	}
}

// TestStopForwardingInsideAProject: one addon of a forwarded project is
// stopped; the project's other forwards go on, and forwarding the addon by
// name brings it back.
func TestStopForwardingInsideAProject(t *testing.T) {
	env := startGateway(t, shopCatalog(t))
	client := newClient(t, env, nil)
	ctx := context.Background()
	if _, err := client.ForwardProject(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	before := len(client.Results())
	if err := client.StopForwarding(catalog.Addon, "shop", "db"); err != nil {
		t.Fatal(err)
	}
	for _, r := range client.Results() {
		if r.Data != nil && r.Data.ID == "db" {
			t.Fatalf("db still forwarded after StopForwarding: %+v", r.Data)
		}
	}
	if n := len(client.Results()); n != before-1 {
		t.Fatalf("%d results after stopping db, want %d", n, before-1)
	}
	if err := client.StopForwarding(catalog.Addon, "shop", "db"); !errors.Is(err, forward.ErrNotFound) {
		t.Fatalf("stopping db twice: %v, want ErrNotFound", err)
	}
	rs, err := client.ForwardAddon(ctx, "shop", "db")
	if err != nil || len(rs) != 1 {
		t.Fatalf("forwarding db again: %v, %v", rs, err)
	}
	echoRoundTrip(t, addrOf(rs[0]), "db back")
}
