package forward_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// testLogger shows logs only with -v, where they explain a failure.
func testLogger(t testing.TB) *slog.Logger { return fwdtest.Logger(t) }

// startEcho runs a TCP server on loopback that echoes everything and
// half-closes after the client does.
func startEcho(t testing.TB) string {
	t.Helper()
	srv, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

// startHTTP runs an HTTP server on loopback that names itself in replies.
func startHTTP(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedAddr is a loopback address that refuses connections until the test
// ends.
func closedAddr(t testing.TB) string {
	t.Helper()
	addr, release, err := fwdtest.RefusingAddr()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release() })
	return addr
}

func service(project, name string, ports ...catalog.Port) catalog.Resource {
	return catalog.Resource{Kind: catalog.Service, Project: project, Name: name, Ports: ports}
}

func addon(project, name string, ports ...catalog.Port) catalog.Resource {
	return catalog.Resource{Kind: catalog.Addon, Project: project, Name: name, Ports: ports}
}

func tcpPort(name string, port uint16, proto catalog.Protocol, targets ...string) catalog.Port {
	return catalog.Port{Name: name, Port: port, Protocol: proto, Targets: targets}
}

// startGateway runs an in-process gateway serving cat over real TLS.
func startGateway(t testing.TB, cat catalog.Catalog, opts ...fwdtest.Option) *fwdtest.Gateway {
	t.Helper()
	return fwdtest.NewGateway(t, cat, opts...)
}

// newClient makes a client of env that pins its certificate.
func newClient(t testing.TB, env *fwdtest.Gateway, mod func(*forward.Options)) *forward.Client {
	t.Helper()
	return fwdtest.NewClient(t, env, mod)
}

func addrOf(r forward.Result) string {
	return net.JoinHostPort(r.Data.Address, fmt.Sprint(r.Data.Port))
}

// echoRoundTrip sends msg through addr and expects it back.
func echoRoundTrip(t testing.TB, addr, msg string) {
	t.Helper()
	if err := echoOnce(addr, msg); err != nil {
		t.Fatal(err)
	}
}

// echoOnce is echoRoundTrip's one try, for callers that retry.
func echoOnce(addr, msg string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		return fmt.Errorf("echo through %s: got %q, %v; want %q", addr, got, err, msg)
	}
	return nil
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }
