package forward_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// demoClient starts a gateway in-process (with fwdtest, fwd's test
// support) in front of two private services of a project "demo", and
// returns a client for it. Real programs pass their gateway's address, a
// token and how to trust it.
func demoClient() (*forward.Client, func()) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the fwd demo web service: you asked for %s over %s\n", r.URL.Path, r.Proto)
	}))
	echo, err := fwdtest.StartEcho()
	if err != nil {
		fmt.Println(err)
		return nil, func() {}
	}
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "demo",
		Services: []catalog.Resource{{Kind: catalog.Service, Project: "demo", Name: "web",
			Ports: []catalog.Port{{Name: "http", Port: 8080, Protocol: catalog.HTTP, Targets: []string{web.Listener.Addr().String()}}}}},
		Addons: []catalog.Resource{{Kind: catalog.Addon, Project: "demo", Name: "echo",
			Ports: []catalog.Port{{Name: "echo", Port: 7007, Protocol: catalog.TCP, Targets: []string{echo.Addr}}}}},
	}}}
	gw, err := fwdtest.StartGateway(cat, nil)
	if err != nil {
		fmt.Println(err)
		return nil, func() {}
	}
	closeAll := func() { gw.Close(); echo.Close(); web.Close() }
	client, err := forward.New(forward.Options{
		Gateway:       gw.Addr,
		Token:         gw.Token,
		Trust:         tunnel.Trust{Fingerprint: gw.Fingerprint},
		SkipHostnames: true, // no root needed; set false to write hostnames
	})
	if err != nil {
		fmt.Println(err)
		closeAll()
		return nil, func() {}
	}
	return client, func() { client.Stop(); closeAll() }
}

func get(addr string, port int, path string) string {
	resp, err := http.Get("http://" + net.JoinHostPort(addr, strconv.Itoa(port)) + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func ExampleClient_ForwardService() {
	client, done := demoClient()
	defer done()

	results, err := client.ForwardService(context.Background(), "demo", "web")
	if err != nil {
		fmt.Println(err)
		return
	}
	web := results[0].Data
	// Port is the local port: RemotePort unless that one was taken here.
	fmt.Println(web.Type, web.ProjectID, web.ID, web.PortName, web.Protocol, web.RemotePort)
	fmt.Print(get(web.Address, web.Port, "/hello"))
	// Output:
	// service demo web http HTTP 8080
	// hello from the fwd demo web service: you asked for /hello over HTTP/1.1
}

func ExampleClient_ForwardAddon() {
	client, done := demoClient()
	defer done()

	results, err := client.ForwardAddon(context.Background(), "demo", "echo")
	if err != nil {
		fmt.Println(err)
		return
	}
	echo := results[0].Data
	conn, err := net.Dial("tcp", net.JoinHostPort(echo.Address, strconv.Itoa(echo.Port)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	fmt.Fprintln(conn, "ping")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(line)
	// Output: ping
}

func ExampleClient_ForwardProject() {
	client, done := demoClient()
	defer done()

	results, err := client.ForwardProject(context.Background(), "demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		if r.Error != nil {
			fmt.Println("error:", r.Error.Message)
			continue
		}
		fmt.Println(r.Data.Type, r.Data.ID, r.Data.RemotePort)
	}
	// Output:
	// service web 8080
	// addon echo 7007
}

func ExampleClient_WithServiceForwarding() {
	client, done := demoClient()
	defer done()

	err := client.WithServiceForwarding(context.Background(), "demo", "web", func(ctx context.Context, results []forward.Result) error {
		web := results[0].Data
		fmt.Print(get(web.Address, web.Port, "/inside"))
		return nil
	})
	// Forwarding has stopped here.
	fmt.Println("done:", err, len(client.Results()))
	// Output:
	// hello from the fwd demo web service: you asked for /inside over HTTP/1.1
	// done: <nil> 0
}

func ExampleClient_StopServiceForwarding() {
	client, done := demoClient()
	defer done()

	ctx := context.Background()
	client.ForwardProject(ctx, "demo")
	client.ForwardService(ctx, "demo", "web")
	// web stays forwarded: the project forward still includes it.
	client.StopServiceForwarding("demo", "web")
	fmt.Println(len(client.Results()))
	client.StopProjectForwarding("demo")
	fmt.Println(len(client.Results()))
	// Output:
	// 2
	// 0
}
