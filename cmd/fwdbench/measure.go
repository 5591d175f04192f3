package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
)

// Measurement names: rows of the table and keys of the JSON.
const (
	mUp1      = "upload, 1 stream"
	mDown1    = "download, 1 stream"
	mUpN      = "upload, 64 streams"
	mDownN    = "download, 64 streams"
	mP50      = "latency p50"
	mP90      = "latency p90"
	mP99      = "latency p99"
	mP999     = "latency p99.9"
	mConns    = "new connections"
	mConnFail = "new connections failed"
	// The 50 ms RTT download, over the TUN link or, failing that, the relay.
	mDelay      = "download, 1 stream, 50 ms RTT link (TUN, TCP end to end)"
	mDelayRelay = "download, 1 stream, 50 ms RTT (terminating relay)"
	mDelayRTT   = "delayed path RTT"
)

func gbits(bytesPerSec float64) float64 { return bytesPerSec * 8 / 1e9 }
func micros(d time.Duration) float64    { return float64(d) / float64(time.Microsecond) }

// loopbackPhase runs a to d for every peer, round after round. Peers take
// turns within a round so that a slow spell of the machine hits them all.
func (b *benchRun) loopbackPhase(ctx context.Context) {
	p := b.plan
	for round := 1; round <= p.Rounds && ctx.Err() == nil; round++ {
		for _, pr := range b.peers {
			b.progress("round %d/%d: %s", round, p.Rounds, pr.name)
			b.rate(mUp1, pr.name, round, func() (float64, error) { return bench.Upload(ctx, pr.addr, 1, p.Bulk) })
			b.rate(mDown1, pr.name, round, func() (float64, error) { return bench.Download(ctx, pr.addr, 1, p.Bulk, 0) })
			b.rate(mUpN, pr.name, round, func() (float64, error) { return bench.Upload(ctx, pr.addr, p.Streams, p.Bulk) })
			b.rate(mDownN, pr.name, round, func() (float64, error) { return bench.Download(ctx, pr.addr, p.Streams, p.Bulk, 0) })
			b.latency(ctx, pr, round)
			b.connRate(ctx, pr, round)
		}
	}
}

// rate records one throughput measurement in Gbit/s.
func (b *benchRun) rate(m, peer string, round int, f func() (float64, error)) {
	v, err := f()
	if err != nil {
		b.res.fail(m, peer, round, err)
		b.progress("  %s: error: %v", m, err)
		return
	}
	b.res.add(m, peer, round, gbits(v), "Gbit/s")
	b.progress("  %s: %.2f Gbit/s", m, gbits(v))
}

func (b *benchRun) latency(ctx context.Context, pr peer, round int) {
	p := b.plan
	rtts, err := bench.PingPong(ctx, pr.addr, p.PingWarm, p.Pings, p.PingLimit)
	if err != nil {
		b.res.fail(mP50, pr.name, round, err)
		b.progress("  latency: error: %v", err)
		return
	}
	for _, q := range []struct {
		m string
		p float64
	}{{mP50, 50}, {mP90, 90}, {mP99, 99}, {mP999, 99.9}} {
		b.res.add(q.m, pr.name, round, micros(bench.Percentile(rtts, q.p)), "µs")
	}
	b.res.add("latency round trips", pr.name, round, float64(len(rtts)), "count")
	b.progress("  latency: p50 %.1f µs, p99 %.1f µs over %d round trips",
		micros(bench.Percentile(rtts, 50)), micros(bench.Percentile(rtts, 99)), len(rtts))
}

func (b *benchRun) connRate(ctx context.Context, pr peer, round int) {
	p := b.plan
	cs := append([]component{{name: "fwdbench (clients and target)", pid: os.Getpid()}}, b.components[pr.name]...)
	before := usageOf(cs)
	started := time.Now()
	rate, failed, err := bench.ConnRate(ctx, pr.addr, p.ConnWorkers, p.ConnTime)
	b.recordConnCost(pr.name, round, rate*time.Since(started).Seconds(), before, usageOf(cs))
	b.res.add(mConns, pr.name, round, rate, "conn/s")
	b.res.add(mConnFail, pr.name, round, float64(failed), "count")
	if failed > 0 {
		b.res.fail(mConns, pr.name, round, fmt.Errorf("%d connections failed, first: %w", failed, err))
	}
	b.progress("  new connections: %.0f/s (%d failed)", rate, failed)
}

// delayPhase runs f: one stream downloading across a link with 50 ms
// round-trip time, for direct TCP, ssh -L and fwd. The link is an IP link
// between two network namespaces through TUN devices, with TCP end to end
// (see bench.Link); where that cannot be built (not root, no TUN), a
// terminating relay stands in, which measures far less faithfully.
func (b *benchRun) delayPhase(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	defer b.closeNow()()
	rmem, wmem := tcpBufMax("tcp_rmem"), tcpBufMax("tcp_wmem")
	// The namespaces start with the host's TCP buffer limits. A sender's
	// buffer (tcp_wmem) below the receiver's (tcp_rmem) would cap every
	// peer's window alike, hiding what fwd's own flow control does; so the
	// link's namespaces get the receive maximum as send maximum too.
	link, err := bench.NewLink(b.plan.OneWayDelay, max(rmem, wmem))
	if err != nil {
		b.res.DelayModel = "terminating TCP relay on loopback (fallback: no TUN link: " + oneLine(err.Error()) + "); " +
			"each side's TCP sees a fast local link and only windows above TCP meet the delay"
		b.progress("delay: %s", b.res.DelayModel)
		b.delayRelayPhase(ctx)
		return
	}
	b.onClose(func() {
		if err := link.Close(); err != nil {
			b.progress("delay link: cleanup: %v", err)
		}
	})
	b.res.DelayModel = fmt.Sprintf("IP link between two network namespaces through TUN devices, %s each way, TCP end to end; "+
		"namespaces' tcp_rmem max %s, tcp_wmem max %s (host: %s)",
		b.plan.OneWayDelay, mibs(rmem), mibs(max(rmem, wmem)), mibs(wmem))
	b.progress("delay: %s", b.res.DelayModel)
	b.delayLinkPhase(ctx, link)
}

// tcpBufMax reads the maximum of net.ipv4.<name> in our namespace, 0 if
// unknown.
func tcpBufMax(name string) int {
	f := strings.Fields(readFile("/proc/sys/net/ipv4/" + name))
	if len(f) != 3 {
		return 0
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

func mibs(n int) string { return fmt.Sprintf("%g MiB", float64(n)/(1<<20)) }

// delayLinkPhase: the load generator, the fwd client and ssh run in
// namespace A; the target, the fwd gateway and sshd in B. Direct TCP goes
// from A to the target's link address; fwd and ssh -L carry it from A's
// loopback over the link to B's loopback.
func (b *benchRun) delayLinkPhase(ctx context.Context, link *bench.Link) {
	linkB := link.Addr(bench.SideB).String()
	a := linkPlace(link, bench.SideA, "127.0.0.1")
	bp := linkPlace(link, bench.SideB, linkB)
	ln, err := link.Listen(bench.SideB, "0.0.0.0:0")
	if err != nil {
		b.res.fail(mDelay, peerDirect, 0, err)
		return
	}
	t := bench.ServeTarget(ln)
	b.onClose(func() { t.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	local := net.JoinHostPort("127.0.0.1", port) // the target, seen from B

	peers := []peer{{name: peerDirect, addr: net.JoinHostPort(linkB, port), dial: a.dial}}
	if b.ssh != nil {
		if addr, err := b.sshOverLink(ctx, a, bp, local); err != nil {
			b.res.fail(mDelay, peerSSH, 0, err)
			b.progress("ssh -L over the link: %v", err)
		} else {
			peers = append(peers, peer{name: peerSSH, addr: addr, dial: a.dial})
		}
	}
	if addr, err := b.fwdOverLink(bp, a, local); err != nil {
		b.res.fail(mDelay, peerFwd, 0, err)
		b.progress("fwd over the link: %v", err)
	} else {
		peers = append(peers, peer{name: peerFwd, addr: addr, dial: a.dial})
	}
	b.checkDelay(ctx, peers[0])
	b.delayRounds(ctx, mDelay, peers, func() string {
		fw, dropped, refused := link.Stats()
		return fmt.Sprintf("(link so far: %d packets forwarded, %d dropped for a full queue, %d refused by TUN)", fw, dropped, refused)
	})
}

func (b *benchRun) sshOverLink(ctx context.Context, a, bp place, target string) (string, error) {
	sshd, err := b.ssh.serve(ctx, bp, "ssh-link", target)
	if err != nil {
		return "", err
	}
	b.onClose(func() { sshd.Close() })
	addr, cli, err := b.ssh.forwardAt(ctx, a, "ssh-link", sshd, sshd.Addr, target)
	if err != nil {
		return "", err
	}
	b.stopAtClose(cli)
	return addr, nil
}

func (b *benchRun) fwdOverLink(bp, a place, target string) (string, error) {
	gw, err := b.fwd.startGatewayAt(bp, "gateway-link", target, b.plan.MaxStreamsConf, nil)
	if err != nil {
		return "", err
	}
	b.stopAtClose(gw.Process)
	cli, err := b.fwd.startClientAt(a, "fwd-client-link", gw.listen, gw.fingerprint, nil)
	if err != nil {
		return "", err
	}
	b.stopAtClose(cli.Process)
	return cli.addr, nil
}

// delayRounds downloads over each peer, round after round; note, if set,
// adds to each progress line.
func (b *benchRun) delayRounds(ctx context.Context, m string, peers []peer, note func() string) {
	p := b.plan
	for round := 1; round <= p.Rounds && ctx.Err() == nil; round++ {
		for _, pr := range peers {
			b.progress("round %d/%d: %s over %s RTT", round, p.Rounds, pr.name, 2*p.OneWayDelay)
			b.rate(m, pr.name, round, func() (float64, error) {
				return bench.DownloadVia(ctx, pr.dialer(), pr.addr, 1, p.DelayRun, p.DelaySkip)
			})
			if note != nil {
				b.progress("  %s", strings.TrimSpace(note()))
			}
		}
	}
}

// delayRelayPhase is the fallback: a terminating relay on loopback in front
// of the target (direct), sshd (ssh -L) and the gateway (fwd).
func (b *benchRun) delayRelayPhase(ctx context.Context) {
	p := b.plan
	var peers []peer
	add := func(name, upstream string, front func(relayAddr string) (string, error)) {
		r, err := bench.NewDelayRelay("127.0.0.1:0", upstream, p.OneWayDelay)
		if err != nil {
			b.res.fail(mDelayRelay, name, 0, err)
			return
		}
		b.onClose(func() { r.Close() })
		addr, err := front(r.Addr())
		if err != nil {
			b.res.fail(mDelayRelay, name, 0, err)
			b.progress("%s over the delay relay: %v", name, err)
			return
		}
		peers = append(peers, peer{name: name, addr: addr})
	}
	add(peerDirect, b.target.Addr(), func(relay string) (string, error) { return relay, nil })
	if b.ssh != nil {
		add(peerSSH, b.ssh.sshd.Addr, func(relay string) (string, error) {
			addr, p, err := b.ssh.forward(ctx, "ssh-delayed", b.ssh.sshd, relay, b.target.Addr())
			if err != nil {
				return "", err
			}
			b.stopAtClose(p)
			return addr, nil
		})
	}
	add(peerFwd, b.gw.listen, func(relay string) (string, error) {
		cli, err := b.fwd.startClient("fwd-client-delayed", relay, b.gw.fingerprint, nil)
		if err != nil {
			return "", err
		}
		b.stopAtClose(cli.Process)
		return cli.addr, nil
	})
	if len(peers) > 0 && peers[0].name == peerDirect {
		b.checkDelay(ctx, peers[0])
	}
	b.delayRounds(ctx, mDelayRelay, peers, nil)
}

// checkDelay records the round-trip time the delayed path really has, as
// seen by a direct TCP connection.
func (b *benchRun) checkDelay(ctx context.Context, pr peer) {
	rtts, err := bench.PingPongVia(ctx, pr.dialer(), pr.addr, 2, 10, 5*time.Second)
	if err != nil {
		b.res.fail(mDelayRTT, peerDirect, 0, err)
		return
	}
	rtt := bench.Percentile(rtts, 50)
	b.res.add(mDelayRTT, peerDirect, 0, float64(rtt)/float64(time.Millisecond), "ms")
	b.res.DelayRTT = rtt.Round(100 * time.Microsecond).String()
	b.progress("delay: measured TCP round trip %s (min %s)", b.res.DelayRTT, rtts[0].Round(100*time.Microsecond))
}
