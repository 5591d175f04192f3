package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/portcheck"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// checkConfig is a gateway.yaml whose catalog is services, each a list of
// flow-style ports.
func checkConfig(t *testing.T, services map[string][]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n  - {name: ci, sha256: " + strings.Repeat("ab", 32) + ", projects: [shop]}\nprojects:\n  - name: shop\n    services:\n")
	for _, name := range []string{"api", "web", "dns", "db"} {
		ports, ok := services[name]
		if !ok {
			continue
		}
		b.WriteString("      - name: " + name + "\n        ports:\n")
		for _, p := range ports {
			b.WriteString("          - " + p + "\n")
		}
	}
	return writeFile(t, "gateway.yaml", b.String())
}

func runCheckJSON(t *testing.T, cfg string, args ...string) (gatewayCheckReport, result) {
	t.Helper()
	r := runFwd(t, nil, append([]string{"gateway", "check", "--config", cfg, "-o", "json"}, args...)...)
	var rep gatewayCheckReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("exit %d, output %q: %v (stderr %s)", r.code, r.out, err, r.err)
	}
	return rep, r
}

func resultFor(t *testing.T, rep gatewayCheckReport, target string) portcheck.Result {
	t.Helper()
	for _, r := range rep.Targets {
		if r.Address == target {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", target, rep.Targets)
	return portcheck.Result{}
}

// closedPortNextTo listens on 127.77.0.9:N and returns that listener's
// address and N-1, where nothing listens: "config says N-1, app says N".
func closedPortNextTo(t *testing.T) (open string, closed string) {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp4", "127.77.0.9:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		below := net.JoinHostPort("127.77.0.9", strconv.Itoa(port-1))
		if c, err := net.Dial("tcp4", below); errors.Is(err, syscall.ECONNREFUSED) {
			t.Cleanup(func() { ln.Close() })
			return ln.Addr().String(), below
		} else if err == nil {
			c.Close()
		}
		ln.Close()
	}
	t.Fatal("no port on 127.77.0.9 with a closed one below it")
	return "", ""
}

// udpEcho answers every datagram with itself.
func udpEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().String()
}

// closedUDP is a UDP address where nothing listens: the kernel answers
// with an ICMP port unreachable.
func closedUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestGatewayCheck(t *testing.T) {
	live := serveEcho(t)
	answering, refusing := closedPortNextTo(t)
	echoUDP, deadUDP := udpEcho(t), closedUDP(t)
	cfg := checkConfig(t, map[string][]string{
		"api": {"{name: http, port: 28080, protocol: HTTP, targets: [" + live + "]}", "{name: metrics, port: 29090, targets: [" + refusing + "]}"},
		"web": {"{name: http, port: 28080, targets: [" + live + "]}", "{name: legacy, port: 80, targets: [" + answering + "]}"},
		"dns": {"{name: dns, port: 53, protocol: UDP, targets: [" + echoUDP + "]}", "{name: old, port: 54, protocol: UDP, targets: [" + deadUDP + "]}"},
	})
	rep, r := runCheckJSON(t, cfg, "--timeout", "2s")
	if r.code != exitError || rep.Unreachable != 2 || !strings.Contains(r.err, "2 of 6 targets cannot be reached from here") {
		t.Errorf("exit %d, %d unreachable, stderr %q; want 1 and 2 (the refusing TCP and UDP ones)", r.code, rep.Unreachable, r.err)
	}
	for _, want := range []struct {
		target string
		status portcheck.Status
	}{{live, portcheck.Reachable}, {refusing, portcheck.Refused}, {answering, portcheck.Reachable}, {echoUDP, portcheck.Answered}, {deadUDP, portcheck.Refused}} {
		if got := resultFor(t, rep, want.target); got.Status != want.status {
			t.Errorf("%s: %s (%s), want %s", want.target, got.Status, got.Error, want.status)
		}
	}
	_, port, _ := net.SplitHostPort(answering)
	if hint := resultFor(t, rep, refusing).Hint; !strings.HasPrefix(hint, "listening on another port? ("+port) {
		t.Errorf("refusing target's hint %q does not name %s, which answers", hint, port)
	}
	kinds := map[string]string{}
	for _, f := range rep.Findings {
		kinds[f.Kind] += f.Message + "; "
	}
	for kind, want := range map[string]string{
		"duplicate-target": "TCP target " + live + " is named by shop/api http, shop/web http",
		"port-twice":       "project shop: TCP port 28080 is claimed by shop/api and shop/web",
		"privileged":       "shop/web legacy is port 80, below 1024",
	} {
		if !strings.Contains(kinds[kind], want) {
			t.Errorf("%s findings %q lack %q", kind, kinds[kind], want)
		}
	}
	table := runFwd(t, nil, "gateway", "check", "--config", cfg, "--timeout", "2s")
	t.Logf("fwd gateway check:\n%s", table.out)
	if table.code != exitError || !strings.Contains(table.out, "4 of 6 targets reachable") {
		t.Errorf("table: exit %d\n%s", table.code, table.out)
	}
}

// TestGatewayCheckBlackholed: a live, a refusing and a blackholed target
// (in a network namespace that drops every packet), each reported as such
// within its timeout.
func TestGatewayCheckBlackholed(t *testing.T) {
	ns := fwdtest.NewNetns(t, 1)
	fw := fwdtest.FindFirewall(t, ns.Name)
	fw.Drop(t)
	t.Cleanup(func() { fw.Restore(nil) })
	blackholed := net.JoinHostPort(ns.IPs[0], "25432")
	fw.CheckDropping(t, blackholed)
	live := serveEcho(t)
	_, refusing := closedPortNextTo(t)
	cfg := checkConfig(t, map[string][]string{
		"api": {"{name: http, port: 28080, targets: [" + live + "]}", "{name: admin, port: 29090, targets: [" + refusing + "]}"},
		"db":  {"{name: postgres, port: 25432, targets: [" + blackholed + "]}"},
	})
	const timeout = time.Second
	start := time.Now()
	rep, r := runCheckJSON(t, cfg, "--timeout", timeout.String())
	t.Logf("checked 3 targets in %s with --timeout %s", time.Since(start).Round(time.Millisecond), timeout)
	if r.code != exitError || rep.Unreachable != 2 {
		t.Errorf("exit %d, %d unreachable; want 1 and 2", r.code, rep.Unreachable)
	}
	for target, want := range map[string]portcheck.Status{live: portcheck.Reachable, refusing: portcheck.Refused, blackholed: portcheck.TimedOut} {
		got := resultFor(t, rep, target)
		if got.Status != want {
			t.Errorf("%s: %s (%s), want %s", target, got.Status, got.Error, want)
		}
		t.Logf("%s: %s after %.2fms %s", target, got.Status, got.Millis, got.Error)
	}
	if e := resultFor(t, rep, blackholed).Error; e != fmt.Sprintf("no answer in %s", timeout) {
		t.Errorf("blackholed target's error %q", e)
	}
}
