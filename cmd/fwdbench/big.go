package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// Phase i: a big project, as fwd all sees it: a catalog of bigServices
// services of bigPorts ports each, all pointing at the target.
const (
	phaseBig = "big"

	bigProject  = "big"
	bigServices = 500
	bigPorts    = 3
	// hugeServices is the 30,000-port catalog: more listeners than a
	// process here may hold files, to see how fwd says so.
	hugeServices = 10000

	mBigReady     = "ready: start to JSON line, no hostnames"
	mBigReadyHost = "ready: start to JSON line, with hostnames"
	mBigHosts     = "hosts block written (fwd's debug log)"
	mBigRSS       = "client RSS, 1,500 listeners"
	mBigNames     = "hostnames in the hosts block"
	mBigBack      = "serves again after gateway restart (from new gateway ready)"
	mBigBackKill  = "serves again after gateway restart (from old gateway stopped)"
	mBigKept      = "listeners still serving after restart (of those probed)"
	mHugeReady    = "30,000 ports: start to JSON line"
	mHugeBound    = "30,000 ports: forwarded"
	mHugeFailed   = "30,000 ports: failed"
)

var bigPortNames = [bigPorts]struct {
	name string
	port int
}{{"http", 8080}, {"grpc", 9090}, {"metrics", 9100}}

// bigCatalog is the gateway config's projects section for services
// services of bigPorts ports each.
func bigCatalog(services int, target string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "projects:\n  - name: %s\n    services:\n", bigProject)
	for i := range services {
		fmt.Fprintf(&b, "      - name: svc-%05d\n        ports:\n", i)
		for _, p := range bigPortNames {
			// Names and protocol only where the gateway's limit on a
			// config's values leaves room: 30,000 ports in full are
			// beyond it.
			if services > bigServices {
				fmt.Fprintf(&b, "          - {port: %d, targets: [%s]}\n", p.port, target)
				continue
			}
			fmt.Fprintf(&b, "          - {name: %s, port: %d, protocol: TCP, targets: [%s]}\n", p.name, p.port, target)
		}
	}
	return b.String()
}

// bigGatewayConfig is a gateway serving the big project at listen.
func (t *fwdTool) bigGatewayConfig(listen string, services int, target string) string {
	return fmt.Sprintf(`listen: %s
tokens:
  - name: bench
    sha256: %s
    projects: ["*"]
limits:
  shutdown_grace: 1s
`, listen, t.sha256) + bigCatalog(services, target)
}

// startBigGateway writes the config into dir and starts the gateway; listen
// "127.0.0.1:0" picks a port, a restart passes the one it had.
func (t *fwdTool) startBigGateway(dir, listen string, services int, target string) (*gateway, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(t.bigGatewayConfig(listen, services, target)), 0o600); err != nil {
		return nil, err
	}
	p, line, err := startReady(filepath.Base(dir), filepath.Join(dir, "gateway.log"), nil, t.bin, "gateway", "--config", cfg, "--output", "json")
	if err != nil {
		return nil, err
	}
	ann, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		p.Stop()
		return nil, err
	}
	return &gateway{Process: p, listen: ann.Listen, fingerprint: ann.Fingerprint}, nil
}

// bigResult is one entry of fwd's JSON line, as much as the phase reads.
type bigResult struct {
	Data *struct {
		Address   string   `json:"address"`
		Port      int      `json:"port"`
		Hostnames []string `json:"hostnames"`
	} `json:"data"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startBigClient runs fwd all for the big project, with hostnames in
// hostsFile unless it is empty, and returns the process, its results and
// how long until its JSON line.
func (t *fwdTool) startBigClient(name string, gw *gateway, hostsFile string) (*fwdtest.Process, []bigResult, time.Duration, error) {
	env := []string{"FWD_GATEWAY=" + gw.listen, "FWD_TOKEN=" + t.token, "FWD_FINGERPRINT=" + gw.fingerprint}
	argv := []string{t.bin, "all", "--project", bigProject, "--output", "json"}
	if hostsFile == "" {
		argv = append(argv, "--skipHostnames")
	} else {
		// -v: the debug log says how long the hosts block took.
		argv = append(argv, "--hosts-file", hostsFile, "-v")
	}
	start := time.Now()
	p, line, err := startReady(name, filepath.Join(t.tmp, name+".log"), env, argv...)
	ready := time.Since(start)
	if err != nil {
		return nil, nil, 0, err
	}
	var res []bigResult
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		p.Stop()
		return nil, nil, 0, fmt.Errorf("%s: results line: %w", name, err)
	}
	return p, res, ready, nil
}

func (b *benchRun) bigPhase(ctx context.Context) {
	for round := 1; round <= b.plan.Rounds && ctx.Err() == nil; round++ {
		b.progress("round %d/%d: fwd all, %d services x %d ports", round, b.plan.Rounds, bigServices, bigPorts)
		if err := b.bigRound(ctx, round); err != nil {
			b.res.fail(mBigReady, peerFwd, round, err)
			b.progress("  error: %v", err)
		}
	}
	if ctx.Err() == nil {
		b.progress("fwd all, %d ports", hugeServices*bigPorts)
		if err := b.hugeRound(ctx); err != nil {
			b.res.fail(mHugeReady, peerFwd, 1, err)
			b.progress("  error: %v", err)
		}
	}
}

func (b *benchRun) bigRound(ctx context.Context, round int) error {
	defer b.closeNow()()
	dir := filepath.Join(b.tmp, "big-gateway")
	gw, err := b.fwd.startBigGateway(dir, "127.0.0.1:0", bigServices, b.target.Addr())
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	b.stopAtClose(gw.Process)

	// Without hostnames first: the listeners and the tunnel alone.
	p, res, ready, err := b.fwd.startBigClient("big-client", gw, "")
	if err != nil {
		return err
	}
	rss, rerr := rssBytes(p.Pid())
	p.Stop()
	if n := forwarded(res); n != bigServices*bigPorts {
		return fmt.Errorf("%d of %d ports forwarded", n, bigServices*bigPorts)
	}
	b.res.add(mBigReady, peerFwd, round, ready.Seconds(), "s")
	if rerr == nil {
		b.res.add(mBigRSS, peerFwd, round, mib(rss), "MiB")
	}

	hostsFile := filepath.Join(b.tmp, "hosts")
	if err := os.WriteFile(hostsFile, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		return err
	}
	p, res, readyHosts, err := b.fwd.startBigClient("big-client-hosts", gw, hostsFile)
	if err != nil {
		return err
	}
	b.stopAtClose(p)
	names := 0
	for _, r := range res {
		if r.Data != nil {
			names += len(r.Data.Hostnames)
		}
	}
	b.res.add(mBigReadyHost, peerFwd, round, readyHosts.Seconds(), "s")
	took, err := hostsBlockSeconds(p.LogPath())
	if err != nil {
		return err
	}
	b.res.add(mBigHosts, peerFwd, round, took*1000, "ms")
	b.res.add(mBigNames, peerFwd, round, float64(names), "count")
	b.progress("  ready %.3f s (with %d hostnames %.3f s, the hosts block %.1f ms), RSS %.1f MiB", ready.Seconds(), names, readyHosts.Seconds(), took*1000, mib(rss))

	// The gateway restarts on the same port (its certificate is kept
	// beside its config); the client keeps its listeners meanwhile.
	probe := probes(res)
	if len(probe) == 0 {
		return fmt.Errorf("no forward to probe")
	}
	stopped := time.Now()
	gw.Stop()
	gw2, err := b.fwd.startBigGateway(dir, gw.listen, bigServices, b.target.Addr())
	if err != nil {
		return fmt.Errorf("gateway restart: %w", err)
	}
	b.stopAtClose(gw2.Process)
	back := time.Now()
	if err := untilEcho(ctx, probe[len(probe)-1], 30*time.Second); err != nil {
		return fmt.Errorf("after the gateway restart: %w", err)
	}
	served := time.Now()
	kept := 0
	for _, addr := range probe {
		if untilEcho(ctx, addr, time.Second) == nil {
			kept++
		}
	}
	b.res.add(mBigBack, peerFwd, round, served.Sub(back).Seconds(), "s")
	b.res.add(mBigBackKill, peerFwd, round, served.Sub(stopped).Seconds(), "s")
	b.res.add(mBigKept, peerFwd, round, float64(kept)/float64(len(probe))*100, "%")
	b.progress("  serves again %.3f s after the new gateway was ready (%.3f s after the old one stopped); %d of %d probed listeners serve",
		served.Sub(back).Seconds(), served.Sub(stopped).Seconds(), kept, len(probe))
	return nil
}

// hugeRound starts fwd all on hugeServices*bigPorts ports, more than the
// open files limit lets one process listen on, and records what it says.
// It goes through sshd with a catalog file (--via ssh), as it did when a
// gateway's welcome had to fit 1 MiB (30,000 ports take 1.57 MB; gateway
// frames may now be tunnel.MaxCatalogFrame, which tunnel's
// TestBigCatalogWelcome checks), so that its figures stay comparable.
func (b *benchRun) hugeRound(ctx context.Context) error {
	defer b.closeNow()()
	if b.ssh == nil {
		return fmt.Errorf("needs the sshd of ssh -L, which did not start")
	}
	env, argv, logPath, err := b.viaClient("huge", bigProject, bigCatalog(hugeServices, b.target.Addr()))
	if err != nil {
		return err
	}
	start := time.Now()
	p, line, err := startReady("huge-client", logPath, env, argv...)
	ready := time.Since(start)
	if err != nil {
		return err
	}
	b.stopAtClose(p)
	var res []bigResult
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return fmt.Errorf("huge-client: results line: %w", err)
	}
	ok := forwarded(res)
	b.res.add(mHugeReady, peerFwd, 1, ready.Seconds(), "s")
	b.res.add(mHugeBound, peerFwd, 1, float64(ok), "count")
	b.res.add(mHugeFailed, peerFwd, 1, float64(len(res)-ok), "count")
	if lim, err := openFilesLimit(p.Pid()); err == nil {
		b.res.Env["huge_client_open_files_limit"] = lim
	}
	first := ""
	for _, r := range res {
		if r.Error != nil {
			first = r.Error.Message
			break
		}
	}
	b.res.HugeFirstError = first
	b.progress("  ready %.3f s: %d forwarded, %d failed; first error: %s", ready.Seconds(), ok, len(res)-ok, first)
	return nil
}

// hostsBlockSeconds finds how long fwd took to write its hosts block in its
// JSON debug log.
func hostsBlockSeconds(logPath string) (float64, error) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var rec struct {
			Msg     string  `json:"msg"`
			Seconds float64 `json:"seconds"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "hosts block written" {
			return rec.Seconds, nil
		}
	}
	return 0, fmt.Errorf("no \"hosts block written\" line in %s", logPath)
}

func forwarded(res []bigResult) int {
	n := 0
	for _, r := range res {
		if r.Data != nil {
			n++
		}
	}
	return n
}

// probes picks every 50th forward's address, and the last one.
func probes(res []bigResult) []string {
	var out []string
	for i, r := range res {
		if r.Data != nil && (i%50 == 0 || i == len(res)-1) {
			out = append(out, net.JoinHostPort(r.Data.Address, strconv.Itoa(r.Data.Port)))
		}
	}
	return out
}

// untilEcho retries a one-byte round trip through addr every 5 ms until one
// works or limit passes.
func untilEcho(ctx context.Context, addr string, limit time.Duration) error {
	end := time.Now().Add(limit)
	var err error
	for time.Now().Before(end) && ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		var c net.Conn
		if c, err = bench.Dial(dctx, addr); err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			b := []byte{bench.ModeEcho}
			if _, err = c.Write(b); err == nil {
				_, err = io.ReadFull(c, b)
			}
			c.Close()
		}
		cancel()
		if err == nil {
			return nil
		}
		sleepCtx(ctx.Done(), 5*time.Millisecond)
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// printBig writes phase i's table.
func (r *results) printBig(w io.Writer) {
	ms := []string{mBigReady, mBigRSS, mBigReadyHost, mBigHosts, mBigNames, mBigBack, mBigBackKill, mBigKept, mHugeReady, mHugeBound, mHugeFailed}
	if !r.has(ms...) {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "fwd all, %d services x %d ports\tprocess\tmedian\tunit\t[min-max]\t\n", bigServices, bigPorts)
	for _, m := range ms {
		r.rows(tw, m, []string{peerFwd})
	}
	tw.Flush()
	if r.HugeFirstError != "" {
		fmt.Fprintf(w, "30,000 ports: first failure: %s\n", oneLine(r.HugeFirstError))
	}
}
