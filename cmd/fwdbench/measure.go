package main

import (
	"context"
	"fmt"
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
	mDelay    = "download, 1 stream, 50 ms RTT"
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
	rate, failed, err := bench.ConnRate(ctx, pr.addr, p.ConnWorkers, p.ConnTime)
	b.res.add(mConns, pr.name, round, rate, "conn/s")
	b.res.add(mConnFail, pr.name, round, float64(failed), "count")
	if failed > 0 {
		b.res.fail(mConns, pr.name, round, fmt.Errorf("%d connections failed, first: %w", failed, err))
	}
	b.progress("  new connections: %.0f/s (%d failed)", rate, failed)
}

// delayPhase runs f: one stream downloading across a relay that adds the
// link delay, for direct TCP, fwd (relay between fwd client and gateway) and
// ssh -L (relay between ssh and sshd).
func (b *benchRun) delayPhase(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	p := b.plan
	defer b.closeNow()()
	var peers []peer
	add := func(name, upstream string, front func(relayAddr string) (string, error)) {
		r, err := bench.NewDelayRelay("127.0.0.1:0", upstream, p.OneWayDelay)
		if err != nil {
			b.res.fail(mDelay, name, 0, err)
			return
		}
		b.onClose(func() { r.Close() })
		addr, err := front(r.Addr())
		if err != nil {
			b.res.fail(mDelay, name, 0, err)
			b.progress("%s over the delay relay: %v", name, err)
			return
		}
		peers = append(peers, peer{name: name, addr: addr})
	}
	add(peerDirect, b.target.Addr(), func(relay string) (string, error) { return relay, nil })
	if b.ssh != nil {
		add(peerSSH, b.ssh.addr, func(relay string) (string, error) {
			addr, p, err := b.ssh.forward(ctx, "ssh-delayed", relay, b.target.Addr())
			if err != nil {
				return "", err
			}
			b.onClose(p.stop)
			return addr, nil
		})
	}
	add(peerFwd, b.gw.listen, func(relay string) (string, error) {
		cli, err := b.fwd.startClient("fwd-client-delayed", relay, b.gw.fingerprint, nil)
		if err != nil {
			return "", err
		}
		b.onClose(cli.stop)
		return cli.addr, nil
	})
	if len(peers) > 0 && peers[0].name == peerDirect {
		b.checkDelay(ctx, peers[0].addr)
	}
	for round := 1; round <= p.Rounds && ctx.Err() == nil; round++ {
		for _, pr := range peers {
			b.progress("round %d/%d: %s over %s RTT", round, p.Rounds, pr.name, 2*p.OneWayDelay)
			b.rate(mDelay, pr.name, round, func() (float64, error) {
				return bench.Download(ctx, pr.addr, 1, p.DelayRun, p.DelaySkip)
			})
		}
	}
}

// checkDelay records the round-trip time the relay really adds.
func (b *benchRun) checkDelay(ctx context.Context, addr string) {
	rtts, err := bench.PingPong(ctx, addr, 2, 10, 5*time.Second)
	if err != nil {
		b.res.fail("delay relay RTT", peerDirect, 0, err)
		return
	}
	rtt := bench.Percentile(rtts, 50)
	b.res.add("delay relay RTT", peerDirect, 0, float64(rtt)/float64(time.Millisecond), "ms")
	b.res.DelayRTT = rtt.Round(100 * time.Microsecond).String()
	b.progress("delay relay: measured round trip %s", b.res.DelayRTT)
}
