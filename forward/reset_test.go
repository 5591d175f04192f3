package forward_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// startResetter runs a TCP server that reads one byte and then resets the
// connection (SO_LINGER 0), as a crashing or refusing server does.
func startResetter(t *testing.T) string {
	t.Helper()
	srv, err := fwdtest.Serve(func(c *net.TCPConn) {
		c.Read(make([]byte, 1))
		c.SetLinger(0)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

// A reset from the target reaches the local client as a reset, not as a
// clean end of stream that a client would take for a complete reply.
func TestTargetResetReachesClientAsReset(t *testing.T) {
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Services: []catalog.Resource{
		service("shop", "flaky", tcpPort("tcp", 17001, catalog.TCP, startResetter(t))),
	}}}}
	env := startGateway(t, cat)
	client := newClient(t, env, nil)
	rs, err := client.ForwardService(context.Background(), "shop", "flaky")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addrOf(rs[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("x"))
	_, err = io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the target reset: %v, want connection reset", err)
	}
}
