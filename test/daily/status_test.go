package daily_test

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/control"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// shop is a project with a service api and an addon db, both echo servers.
func shop(t *testing.T) *fwdtest.Gateway {
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	port := func(name string, n uint16) []catalog.Port {
		return []catalog.Port{{Name: name, Port: n, Protocol: catalog.TCP, Targets: []string{echo.Addr}}}
	}
	return fwdtest.NewGateway(t, catalog.Catalog{Projects: []catalog.Project{{Name: "shop",
		Services: []catalog.Resource{{Kind: catalog.Service, Project: "shop", Name: "api", Ports: port("http", 28301)}},
		Addons:   []catalog.Resource{{Kind: catalog.Addon, Project: "shop", Name: "db", Ports: port("postgres", 28302)}},
	}}})
}

func gatewayEnv(gw *fwdtest.Gateway) []string {
	return []string{"FWD_GATEWAY=" + gw.Addr, "FWD_TOKEN=" + gw.Token, "FWD_FINGERPRINT=" + gw.Fingerprint}
}

// status runs fwd status -o json and returns this client's entry.
func (sh *shell) status(pid int) control.Status {
	sh.t.Helper()
	r := sh.run("", "status", "-o", "json")
	if r.code != 0 {
		sh.t.Fatalf("fwd status: exit %d: %s", r.code, r.stderr)
	}
	var all []control.Status
	if err := json.Unmarshal([]byte(r.out), &all); err != nil {
		sh.t.Fatalf("fwd status -o json printed %q: %v", r.out, err)
	}
	for _, st := range all {
		if st.PID == pid {
			return st
		}
	}
	sh.t.Fatalf("fwd status does not list pid %d: %s", pid, r.out)
	return control.Status{}
}

func forwardOf(st control.Status, id string) (control.Forward, bool) {
	for _, f := range st.Forwards {
		if f.ID == id {
			return f, true
		}
	}
	return control.Forward{}, false
}

// echo sends msg on c and reads it back.
func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
}

// TestStatusAndStopFromAnotherProcess: a second process sees the forwards
// of a running client with their traffic moving, stops one addon (its
// hostnames go, the rest stays), then stops the whole client.
func TestStatusAndStopFromAnotherProcess(t *testing.T) {
	gw := shop(t)
	sh := newShell(t).with(gatewayEnv(gw)...)
	hosts := sh.hostsFile()
	client := sh.start("all", "shop", "--hosts-file", hosts, "-o", "json")
	line, err := client.FirstLine(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var results []forward.Result
	if err := json.Unmarshal([]byte(line), &results); err != nil {
		t.Fatalf("first line %q: %v", line, err)
	}
	addr := map[string]string{}
	for _, r := range results {
		addr[r.Data.ID] = net.JoinHostPort(r.Data.Address, strconv.Itoa(r.Data.Port))
	}
	db, err := net.Dial("tcp", addr["db"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	echo(t, db, strings.Repeat("a", 10000))

	first, ok := forwardOf(sh.status(client.Pid()), "db")
	if !ok || first.Connections != 1 || first.BytesSent != 10000 || first.BytesReceived != 10000 {
		t.Fatalf("db in fwd status: %+v, want 1 connection and 10000 bytes each way", first)
	}
	echo(t, db, strings.Repeat("b", 5000))
	if again, _ := forwardOf(sh.status(client.Pid()), "db"); again.BytesSent != 15000 || again.BytesReceived != 15000 {
		t.Fatalf("db's bytes did not move: %+v", again)
	}

	if r := sh.run("", "stop", "--addon", "db", "-p", "shop"); r.code != 0 {
		t.Fatalf("fwd stop --addon db: exit %d: %s", r.code, r.stderr)
	}
	text, _ := os.ReadFile(hosts)
	if strings.Contains(string(text), " db db.shop") || !strings.Contains(string(text), " api api.shop") {
		t.Fatalf("hosts file after stopping db:\n%s", text)
	}
	if _, ok := forwardOf(sh.status(client.Pid()), "db"); ok {
		t.Fatal("db still in fwd status after fwd stop")
	}
	api, err := net.Dial("tcp", addr["api"])
	if err != nil {
		t.Fatalf("api after stopping db: %v", err)
	}
	echo(t, api, "still here")
	api.Close()

	if r := sh.run("", "stop", "--pid", strconv.Itoa(client.Pid())); r.code != 0 {
		t.Fatalf("fwd stop --pid: exit %d: %s", r.code, r.stderr)
	}
	if !client.Wait(15 * time.Second) {
		t.Fatal("client still running after fwd stop --pid")
	}
	if code := client.ExitCode(); code != 0 {
		t.Fatalf("client exit %d after fwd stop, want 0", code)
	}
	if text, _ := os.ReadFile(hosts); string(text) != "127.0.0.1 localhost\n" {
		t.Fatalf("hosts file after the client stopped:\n%s", text)
	}
	if r := sh.run("", "status", "-o", "json"); strings.TrimSpace(r.out) != "[]" {
		t.Fatalf("fwd status after the last client stopped: %q", r.out)
	}
}
