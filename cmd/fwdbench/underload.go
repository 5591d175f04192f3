package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
)

// loadArg makes the binary a load generator: internal-load ADDR UP DOWN FILE
// keeps UP upload and DOWN download connections to ADDR busy until SIGTERM,
// then writes their rate (bytes/s) to FILE. It runs in a process of its own
// so that its busy goroutines do not delay the pings' in the Go scheduler,
// as separate iperf3 processes would not.
const loadArg = "internal-load"

func runLoad(args []string) error {
	up, err1 := strconv.Atoi(args[1])
	down, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("usage: %s ADDR UP DOWN FILE", loadArg)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := bench.StartLoad(context.Background(), args[0], up, down)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	// The first second fills the buffers on the way; it is not counted.
	t := time.NewTimer(time.Second)
	select {
	case <-t.C:
		l.Count()
	case <-ctx.Done():
	}
	<-ctx.Done()
	rate, err := l.Stop()
	if err != nil {
		return err
	}
	return os.WriteFile(args[3], []byte(strconv.FormatFloat(rate, 'f', 0, 64)+"\n"), 0o600)
}

// startLoad runs the load generator against addr and waits for its buffers
// to fill; stop ends it and returns its rate.
func (b *benchRun) startLoad(ctx context.Context, name, addr string) (stop func() (float64, error), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("load process: %w", err)
	}
	out := filepath.Join(b.tmp, name+".rate")
	os.Remove(out)
	p, _, err := startReady(name, filepath.Join(b.tmp, name+".log"), nil, exe, loadArg, addr, strconv.Itoa(loadUp), strconv.Itoa(loadDown), out)
	if err != nil {
		return nil, err
	}
	sleepCtx(ctx.Done(), time.Second)
	return func() (float64, error) {
		p.Stop()
		b, err := os.ReadFile(out)
		if err != nil {
			return 0, fmt.Errorf("load process: no rate written: %w; its log: %s", err, oneLine(p.LogTail()))
		}
		return strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	}, nil
}

// Phase h: small-message latency while bulk streams saturate the same path.
const (
	phaseLoad = "load"

	// loadUp and loadDown are the bulk streams beside the pings: through a
	// forwarder they share its one tunnel with the echo connection, in both
	// directions.
	loadUp   = 4
	loadDown = 4
	// loadWarm is the untimed round trips under load: few, since each may
	// take tens of milliseconds.
	loadWarm = 20

	mLoadIdleP50 = "latency p50, idle (load phase)"
	mLoadIdleP99 = "latency p99, idle (load phase)"
	mLoadP50     = "latency p50 under load"
	mLoadP90     = "latency p90 under load"
	mLoadP99     = "latency p99 under load"
	mLoadP999    = "latency p99.9 under load"
	mLoadBulk    = "bulk beside the pings"
	mLoadVsIdle  = "p99 under load / idle p99"
)

// loadPhase measures, for each peer, round trips first idle and then beside
// loadUp+loadDown bulk streams through the same forward. Direct TCP is the
// floor: the kernel keeps its connections apart, so what it shows is what
// the busy machine alone costs.
func (b *benchRun) loadPhase(ctx context.Context) {
	p := b.plan
	pings := max(p.Pings/4, 1000)
	for round := 1; round <= p.Rounds && ctx.Err() == nil; round++ {
		for _, pr := range b.peers {
			// The question is fwd's tunnel against ssh's, with the
			// machine's floor: the other peers would only lengthen it.
			if pr.name != peerDirect && pr.name != peerSSH && pr.name != peerFwd {
				continue
			}
			b.progress("round %d/%d: %s, latency beside %d+%d bulk streams", round, p.Rounds, pr.name, loadUp, loadDown)
			idle, err := bench.PingPong(ctx, pr.addr, p.PingWarm, pings, p.PingLimit)
			if err != nil {
				b.res.fail(mLoadIdleP99, pr.name, round, err)
				b.progress("  idle latency: error: %v", err)
				continue
			}
			b.res.add(mLoadIdleP50, pr.name, round, micros(bench.Percentile(idle, 50)), "µs")
			b.res.add(mLoadIdleP99, pr.name, round, micros(bench.Percentile(idle, 99)), "µs")
			stopLoad, err := b.startLoad(ctx, "load", pr.addr)
			if err != nil {
				b.res.fail(mLoadP99, pr.name, round, err)
				b.progress("  load: error: %v", err)
				continue
			}
			rtts, err := bench.PingPong(ctx, pr.addr, loadWarm, pings, p.PingLimit)
			rate, lerr := stopLoad()
			if err == nil {
				err = lerr
			}
			if err != nil {
				b.res.fail(mLoadP99, pr.name, round, err)
				b.progress("  latency under load: error: %v", err)
				continue
			}
			for _, q := range []struct {
				m string
				p float64
			}{{mLoadP50, 50}, {mLoadP90, 90}, {mLoadP99, 99}, {mLoadP999, 99.9}} {
				b.res.add(q.m, pr.name, round, micros(bench.Percentile(rtts, q.p)), "µs")
			}
			b.res.add(mLoadBulk, pr.name, round, gbits(rate), "Gbit/s")
			idle99, load99 := bench.Percentile(idle, 99), bench.Percentile(rtts, 99)
			b.res.add(mLoadVsIdle, pr.name, round, float64(load99)/float64(max(idle99, 1)), "x")
			b.progress("  idle p99 %.1f µs; under load p50 %.1f µs, p99 %.1f µs over %d round trips; bulk %.2f Gbit/s",
				micros(idle99), micros(bench.Percentile(rtts, 50)), micros(load99), len(rtts), gbits(rate))
		}
	}
}

// printLoad writes phase h's table.
func (r *results) printLoad(w io.Writer, peers []string) {
	ms := []string{mLoadIdleP50, mLoadIdleP99, mLoadP50, mLoadP90, mLoadP99, mLoadP999, mLoadVsIdle, mLoadBulk}
	if !r.has(ms...) {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "latency beside %d upload + %d download bulk streams through the same forward (lower is better; bulk is their rate meanwhile)\n", loadUp, loadDown)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tpeer\tmedian\tunit\t[min-max]\tx direct\tx ssh\t")
	for _, m := range ms {
		r.rows(tw, m, peers)
	}
	tw.Flush()
}
