package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// Phase j (expose): publishing a local port through the gateway, fwd
// expose beside frp's frps and frpc. The path is public client -> gateway
// or frps -> tunnel -> fwd expose or frpc -> local server.
const (
	// phaseExpose runs only when --phases names it.
	phaseExpose = "expose"

	mExposeHTTP = "expose HTTP req/s"
	mExposeTCP  = "expose TCP download, 1 stream"

	// peerFrp is frp's http and tcp proxies, under the name of the
	// forward phases' frp peer (extras.go).
	peerFrp = "frp"
	// peerFrpTLS is frp's https proxy with the https2http plugin: TLS, as
	// at fwd's edge, but ended by frpc on the exposing machine, not by
	// frps.
	peerFrpTLS = "frp https2http"

	// exposeDomain is the gateway's expose.domain; frpDomain and
	// frpTLSDomain are frp's custom domains. None is ever resolved: the
	// load generator dials the public listener and names the host in SNI
	// and Host.
	exposeDomain = "bench.test"
	frpDomain    = "http.frp.bench.test"
	frpTLSDomain = "https.frp.bench.test"
	// exposeTCPPorts is expose.tcp_ports: above the ports
	// fwdtest.FreePort picks for sshd, chisel and frp (20000-31999) and
	// below the ephemeral ones (from 32768) that every port 0 listener
	// and outgoing connection of the run takes.
	exposeTCPPorts = "32000-32099"
	// exposeBody is what the local HTTP server answers.
	exposeBody = "fwdbench expose\n"
	// exposeReadyWait bounds waiting for an exposure to answer.
	exposeReadyWait = 15 * time.Second
)

// exposePlan is how hard phase j measures.
type exposePlan struct {
	HTTPClients int           `json:"http_clients"` // keep-alive HTTP/1.1 connections, one request at a time each
	HTTPTime    time.Duration `json:"http_ns"`      // per round and peer
	TCPBytes    int64         `json:"tcp_bytes"`    // one stream's download
	TCPPorts    string        `json:"tcp_ports"`    // the gateway's expose.tcp_ports
}

func planExpose(quick bool) exposePlan {
	p := exposePlan{HTTPClients: 16, HTTPTime: 3 * time.Second, TCPBytes: 1 << 30, TCPPorts: exposeTCPPorts}
	if quick {
		p.HTTPTime, p.TCPBytes = time.Second, 256<<20
	}
	return p
}

// exposePeer is one peer's public side: an HTTP load for each HTTP
// variant, and where the TCP exposure listens.
type exposePeer struct {
	name string
	http []exposeHTTP
	tcp  string // loopback host:port, "" if none
	// procs are the peer's processes, whose CPU the progress lines show.
	procs []component
}

type exposeHTTP struct {
	peer string // the name its figures go under
	load bench.HTTPLoad
}

// exposePhase runs j: fwd expose of a local HTTP server and of a local
// sized TCP source, and frp's http, https2http and tcp proxies of the same
// two when frps and frpc are on PATH; then, round after round, the
// request rate and one stream's download through each.
func (b *benchRun) exposePhase(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	defer b.closeNow()()
	if err := b.fwd.hasExpose(ctx); err != nil {
		b.skip("expose phase", err.Error())
		return
	}
	p := b.plan.Expose
	httpAddr, appConns, err := b.startExposeApp()
	if err != nil {
		b.res.fail(mExposeHTTP, peerFwd, 0, err)
		b.progress("expose: %v", err)
		return
	}
	src, err := bench.StartSizedSource("127.0.0.1:0", p.TCPBytes)
	if err != nil {
		b.res.fail(mExposeTCP, peerFwd, 0, err)
		b.progress("expose: %v", err)
		return
	}
	b.onClose(func() { src.Close() })

	var peers []exposePeer
	if pr, err := b.exposeFwd(ctx, httpAddr, src.Addr()); err != nil {
		b.res.fail(mExposeHTTP, peerFwd, 0, err)
		b.progress("expose: fwd: %v", err)
	} else {
		peers = append(peers, pr)
	}
	if bins, err := lookPaths([]string{"frps", "frpc"}); err != nil {
		b.skip("frp (expose)", err.Error())
	} else if pr, err := b.exposeFrp(ctx, bins, httpAddr, src.Addr()); err != nil {
		b.res.fail(mExposeHTTP, peerFrp, 0, err)
		b.progress("expose: frp: %v", err)
	} else {
		peers = append(peers, pr)
	}

	for round := 1; round <= b.plan.Rounds && ctx.Err() == nil; round++ {
		for _, pr := range peers {
			b.progress("round %d/%d: expose, %s", round, b.plan.Rounds, pr.name)
			for _, h := range pr.http {
				conns := appConns.Load()
				b.withCPU(pr.procs, func() { b.httpRate(ctx, h, round) })
				b.progress("  (%d new connections to the local HTTP server)", appConns.Load()-conns)
			}
			if pr.tcp != "" {
				b.withCPU(pr.procs, func() {
					b.rate(mExposeTCP, pr.name, round, func() (float64, error) {
						return bench.DownloadSized(ctx, bench.Dial, pr.tcp, p.TCPBytes, 2*time.Minute)
					})
				})
			}
		}
	}
}

// httpRate records one request rate, and the failed requests, if any,
// as a failure beside it.
func (b *benchRun) httpRate(ctx context.Context, h exposeHTTP, round int) {
	rate, failed, err := bench.HTTPRate(ctx, h.load)
	if err != nil && failed == 0 {
		b.res.fail(mExposeHTTP, h.peer, round, err)
		b.progress("  %s, %s: error: %v", mExposeHTTP, h.peer, err)
		return
	}
	b.res.add(mExposeHTTP, h.peer, round, rate, "req/s")
	if failed > 0 {
		b.res.fail(mExposeHTTP, h.peer, round, fmt.Errorf("%d requests failed, first: %w", failed, err))
	}
	b.progress("  %s, %s: %.0f/s (%d failed)", mExposeHTTP, h.peer, rate, failed)
}

// withCPU runs f and says how much of a core each of procs, and fwdbench
// (load generator and local servers), used meanwhile.
func (b *benchRun) withCPU(procs []component, f func()) {
	cs := append([]component{{name: "fwdbench", pid: os.Getpid()}}, procs...)
	before := usageOf(cs)
	start := time.Now()
	f()
	wall := time.Since(start).Seconds()
	after := usageOf(cs)
	var parts []string
	for _, c := range cs {
		u0, ok0 := before[c.name]
		u1, ok1 := after[c.name]
		if ok0 && ok1 && wall > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", c.name, (u1.cpu-u0.cpu)/wall*100))
		}
	}
	b.progress("  CPU, %% of a core: %s", strings.Join(parts, ", "))
}

// startExposeApp serves the tiny local HTTP app on a loopback port; conns
// counts the connections it accepts, to show whether the proxy in front
// keeps them alive.
func (b *benchRun) startExposeApp() (addr string, conns *atomic.Int64, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("expose: local HTTP server: %w", err)
	}
	conns = new(atomic.Int64)
	srv := &http.Server{
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, exposeBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	b.onClose(func() { srv.Close() })
	return ln.Addr().String(), conns, nil
}

// hasExpose tells a fwd binary from before fwd expose, whose help has no
// such command.
func (t *fwdTool) hasExpose(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, t.bin, "expose", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fwd expose") {
		return fmt.Errorf("%s has no expose command: it predates fwd expose", t.bin)
	}
	return nil
}

// exposeGatewayConfig is a gateway that lets the bench token expose, on
// an HTTPS edge for *.exposeDomain and TCP ports of exposeTCPPorts, all on
// loopback.
func (t *fwdTool) exposeGatewayConfig() string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
tokens:
  - name: bench
    sha256: %s
    projects: ["*"]
    expose: true
expose:
  domain: %s
  https_listen: 127.0.0.1:0
  tcp_ports: %s
  tcp_host: 127.0.0.1
limits:
  shutdown_grace: 1s
`, t.sha256, exposeDomain, exposeTCPPorts)
}

// exposeFwd starts a gateway with an expose: section and two fwd expose
// processes, one publishing the HTTP app as an HTTPS URL, one the sized
// source as a TCP port.
func (b *benchRun) exposeFwd(ctx context.Context, httpAddr, tcpAddr string) (exposePeer, error) {
	t := b.fwd
	dir := filepath.Join(b.tmp, "gateway-expose")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return exposePeer{}, err
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(t.exposeGatewayConfig()), 0o600); err != nil {
		return exposePeer{}, err
	}
	var procs []component
	gwp, line, err := startReady("gateway-expose", filepath.Join(dir, "gateway.log"), nil, t.bin, "gateway", "--config", cfg, "--output", "json")
	if err != nil {
		return exposePeer{}, fmt.Errorf("fwd gateway: %w", err)
	}
	b.stopAtClose(gwp)
	procs = append(procs, component{name: "gateway", pid: gwp.Pid()})
	ann, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		return exposePeer{}, err
	}
	if ann.ExposeHTTPS == "" {
		return exposePeer{}, fmt.Errorf("fwd gateway announced no expose_https: %s", line)
	}
	expose := func(name, local string, tcp bool) (exposeResult, error) {
		_, port, err := net.SplitHostPort(local)
		if err != nil {
			return exposeResult{}, err
		}
		argv := []string{t.bin, "expose", port, "--name", name, "-g", ann.Listen, "--fingerprint", ann.Fingerprint, "-o", "json"}
		if tcp {
			argv = append(argv, "--tcp")
		}
		p, line, err := startReady("fwd-"+name, filepath.Join(b.tmp, "fwd-"+name+".log"), []string{"FWD_TOKEN=" + t.token}, argv...)
		if err != nil {
			return exposeResult{}, fmt.Errorf("fwd expose %s: %w", port, err)
		}
		b.stopAtClose(p)
		procs = append(procs, component{name: "fwd expose " + name, pid: p.Pid()})
		r, err := parseExposeLine(line)
		if err != nil {
			return exposeResult{}, fmt.Errorf("fwd expose %s: %w; its log:\n%s", port, err, p.LogTail())
		}
		return r, nil
	}
	web, err := expose("bench", httpAddr, false)
	if err != nil {
		return exposePeer{}, err
	}
	u, err := url.Parse(web.URL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return exposePeer{}, fmt.Errorf("fwd expose: URL %q is not https://HOST", web.URL)
	}
	dl, err := expose("bench-tcp", tcpAddr, true)
	if err != nil {
		return exposePeer{}, err
	}
	if dl.RemotePort == 0 {
		return exposePeer{}, fmt.Errorf("fwd expose --tcp: no remote port in its result (tcpAddr %q)", dl.TCPAddr)
	}
	p := b.plan.Expose
	pr := exposePeer{
		name: peerFwd,
		http: []exposeHTTP{{peer: peerFwd, load: bench.HTTPLoad{URL: web.URL + "/", Addr: ann.ExposeHTTPS,
			Clients: p.HTTPClients, Duration: p.HTTPTime, Body: exposeBody}}},
		tcp:   net.JoinHostPort("127.0.0.1", strconv.Itoa(int(dl.RemotePort))),
		procs: procs,
	}
	b.progress("expose: fwd gateway %s, edge %s: %s, tcp %s -> 127.0.0.1:%d", ann.Listen, ann.ExposeHTTPS, web.URL, dl.TCPAddr, dl.RemotePort)
	return pr, untilHTTP(ctx, pr.http[0].load)
}

// exposeResult is one entry of fwd expose's JSON line.
type exposeResult struct {
	LocalPort  int    `json:"localPort"`
	Name       string `json:"name"`
	URL        string `json:"url"`
	TCPAddr    string `json:"tcpAddr"`
	RemotePort int    `json:"remotePort"`
	Error      *struct {
		Message string `json:"message"`
	} `json:"error"`
	Code string `json:"code"`
}

// parseExposeLine reads the one exposure of fwd expose -o json's line.
func parseExposeLine(line string) (exposeResult, error) {
	var rs []exposeResult
	if err := json.Unmarshal([]byte(line), &rs); err != nil {
		return exposeResult{}, fmt.Errorf("results line %q: %w", line, err)
	}
	if len(rs) != 1 {
		return exposeResult{}, fmt.Errorf("results line %q: %d exposures, want 1", line, len(rs))
	}
	r := rs[0]
	switch {
	case r.Error != nil:
		return r, fmt.Errorf("refused (%s): %s", r.Code, r.Error.Message)
	case r.URL == "" && r.RemotePort == 0:
		return r, fmt.Errorf("results line %q has neither a url nor a remotePort", line)
	}
	return r, nil
}

// exposeFrp runs frps with HTTP and HTTPS virtual hosts and an frpc with
// three proxies: http (plain HTTP at frps's vhostHTTPPort), https with the
// https2http plugin (frps routes by SNI without ending TLS; frpc ends it
// with a certificate it makes itself) and tcp (remotePort).
func (b *benchRun) exposeFrp(ctx context.Context, bins []string, httpAddr, tcpAddr string) (exposePeer, error) {
	dir := filepath.Join(b.tmp, "frp-expose")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return exposePeer{}, err
	}
	var ports [4]int // bindPort, vhostHTTPPort, vhostHTTPSPort, remotePort
	for i := range ports {
		p, err := fwdtest.FreePort("tcp")
		if err != nil {
			return exposePeer{}, err
		}
		ports[i] = p
	}
	bindPort, vhostHTTP, vhostHTTPS, remotePort := ports[0], ports[1], ports[2], ports[3]
	httpHost, httpPort, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return exposePeer{}, err
	}
	tcpHost, tcpPort, err := net.SplitHostPort(tcpAddr)
	if err != nil {
		return exposePeer{}, err
	}
	frps := filepath.Join(dir, "frps.toml")
	frpc := filepath.Join(dir, "frpc.toml")
	if err := os.WriteFile(frps, fmt.Appendf(nil, `bindAddr = "127.0.0.1"
bindPort = %d
proxyBindAddr = "127.0.0.1"
vhostHTTPPort = %d
vhostHTTPSPort = %d
`, bindPort, vhostHTTP, vhostHTTPS), 0o600); err != nil {
		return exposePeer{}, err
	}
	if err := os.WriteFile(frpc, fmt.Appendf(nil, `serverAddr = "127.0.0.1"
serverPort = %d

[[proxies]]
name = "bench-http"
type = "http"
localIP = %q
localPort = %s
customDomains = [%q]

[[proxies]]
name = "bench-https"
type = "https"
customDomains = [%q]
[proxies.plugin]
type = "https2http"
localAddr = %q

[[proxies]]
name = "bench-tcp"
type = "tcp"
localIP = %q
localPort = %s
remotePort = %d
`, bindPort, httpHost, httpPort, frpDomain, frpTLSDomain, httpAddr, tcpHost, tcpPort, remotePort), 0o600); err != nil {
		return exposePeer{}, err
	}
	srv, err := startProc("frps-expose", filepath.Join(dir, "frps.log"), nil, false, bins[0], "-c", frps)
	if err != nil {
		return exposePeer{}, err
	}
	b.stopAtClose(srv)
	if err := waitAccepting(ctx, srv, net.JoinHostPort("127.0.0.1", strconv.Itoa(bindPort))); err != nil {
		return exposePeer{}, err
	}
	cli, err := startProc("frpc-expose", filepath.Join(dir, "frpc.log"), nil, false, bins[1], "-c", frpc)
	if err != nil {
		return exposePeer{}, err
	}
	b.stopAtClose(cli)
	tcp := net.JoinHostPort("127.0.0.1", strconv.Itoa(remotePort))
	if err := waitAccepting(ctx, cli, tcp); err != nil {
		return exposePeer{}, err
	}
	p := b.plan.Expose
	load := func(scheme, host string, port int) bench.HTTPLoad {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return bench.HTTPLoad{URL: scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/", Addr: addr,
			Clients: p.HTTPClients, Duration: p.HTTPTime, Body: exposeBody}
	}
	pr := exposePeer{name: peerFrp, tcp: tcp, procs: []component{{"frps", srv.Pid()}, {"frpc", cli.Pid()}}, http: []exposeHTTP{
		{peer: peerFrp, load: load("http", frpDomain, vhostHTTP)},
		{peer: peerFrpTLS, load: load("https", frpTLSDomain, vhostHTTPS)},
	}}
	for _, h := range pr.http {
		if err := untilHTTP(ctx, h.load); err != nil {
			return exposePeer{}, fmt.Errorf("%s: %w; frpc's log:\n%s", h.peer, err, cli.LogTail())
		}
	}
	b.progress("expose: frps %d, http %s, https %s, tcp %s", bindPort, pr.http[0].load.URL, pr.http[1].load.URL, tcp)
	return pr, nil
}

// untilHTTP waits until l's URL answers as it should, once: a proxy that
// frps or the gateway has not registered yet answers 404.
func untilHTTP(ctx context.Context, l bench.HTTPLoad) error {
	l.Clients, l.Duration = 1, 0
	deadline := time.Now().Add(exposeReadyWait)
	for {
		_, failed, err := bench.HTTPRate(ctx, l)
		if err == nil && failed == 0 {
			return nil
		}
		if err == nil {
			err = errors.New("a request failed")
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not answer within %s: %w", l.URL, exposeReadyWait, err)
		}
		sleepCtx(ctx.Done(), 100*time.Millisecond)
	}
}

// printExpose writes phase j's table, if it ran.
func (r *results) printExpose(w io.Writer) {
	if !r.has(mExposeHTTP, mExposeTCP) {
		return
	}
	p := r.Settings.Expose
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "exposing a local port (public side -> gateway/frps -> tunnel -> fwd expose/frpc -> local server)\tpeer\tmedian\tunit\t[min-max]\t")
	peers := []string{peerFwd, peerFrp, peerFrpTLS}
	r.rows(tw, mExposeHTTP, peers)
	r.rows(tw, mExposeTCP, peers)
	tw.Flush()
	fmt.Fprintf(w, "(HTTP: %d clients, each one keep-alive HTTP/1.1 connection, a %d-byte body, for %s a round. fwd: HTTPS to the gateway's\n",
		p.HTTPClients, len(exposeBody), p.HTTPTime)
	fmt.Fprintln(w, " edge (self-signed wildcard certificate), TLS ended at the gateway. frp: its http proxy, plain HTTP to frps's vhostHTTPPort,")
	fmt.Fprintln(w, " no TLS anywhere. frp https2http: its https proxy, frps routing by SNI and frpc's https2http plugin ending TLS on the")
	fmt.Fprintf(w, " exposing machine. TCP: %d MiB from a local server that then closes, every byte counted; fwd --tcp on a port of\n", p.TCPBytes>>20)
	fmt.Fprintf(w, " expose.tcp_ports %s, frp a tcp proxy's remotePort. Load generator and local servers run in fwdbench.)\n", p.TCPPorts)
}
