package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// Memory measurement names; peers are the two fwd processes.
const (
	peerClient  = "fwd client"
	peerGateway = "fwd gateway"
)

// memoryPhase runs e: for each round a fresh gateway and client (so that
// earlier phases' buffers do not count), then RSS before and while holding
// the idle connections, and after closing them.
func (b *benchRun) memoryPhase(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	defer b.closeNow()()
	target, err := b.startTargetProcess()
	if err != nil {
		b.res.fail(memRSSWith(b.plan.IdleConns), peerFwd, 0, err)
		b.progress("fwd memory: %v", err)
		return
	}
	for round := 1; round <= b.plan.Rounds && ctx.Err() == nil; round++ {
		b.progress("round %d/%d: fwd memory with %d idle connections", round, b.plan.Rounds, b.plan.IdleConns)
		if err := b.memoryRound(ctx, round, target); err != nil {
			b.res.fail(memRSSWith(b.plan.IdleConns), peerFwd, round, err)
			b.progress("  error: %v", err)
		}
	}
}

func memRSSWith(n int) string { return "RSS holding " + strconv.Itoa(n) + " conns" }

const (
	memRSSBefore = "RSS idle, no conns"
	memPerConn   = "RSS per conn"
	memRSSAfter  = "RSS 1 s after closing them"
	memHeap      = "Go heap live at last GC"
	memHeapConns = "conns open at last GC"
	memHeapPer   = "Go heap per conn"
	memStackPer  = "goroutine stacks per conn"
)

// startTargetProcess starts this binary as a target server of its own and
// returns its address (see serveTargetArg).
func (b *benchRun) startTargetProcess() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("target process: %w", err)
	}
	p, addr, err := startReady("target", filepath.Join(b.tmp, "target.log"), nil, exe, serveTargetArg)
	if err != nil {
		return "", err
	}
	b.stopAtClose(p)
	return addr, nil
}

func (b *benchRun) memoryRound(ctx context.Context, round int, target string) error {
	defer b.closeNow()()
	// gctrace makes the Go runtime log each collection's heap to stderr:
	// fwd exposes no metrics endpoint, so this is the only view of its heap.
	trace := []string{"GODEBUG=gctrace=1"}
	name := "mem" + strconv.Itoa(round)
	gw, err := b.fwd.startGateway("gateway-"+name, target, b.plan.MaxStreamsConf, trace)
	if err != nil {
		return err
	}
	b.stopAtClose(gw.Process)
	cli, err := b.fwd.startClient("fwd-client-"+name, gw.listen, gw.fingerprint, trace)
	if err != nil {
		return err
	}
	b.stopAtClose(cli.Process)
	procs := []struct {
		peer string
		p    *fwdtest.Process
	}{{peerClient, cli.Process}, {peerGateway, gw.Process}}

	// One connection first, so the session and its first stream exist
	// before the baseline, as they would in use.
	if conns, _, err := bench.OpenIdle(ctx, cli.addr, 1, 1); err != nil {
		return err
	} else {
		conns[0].Close()
	}
	sleepCtx(ctx.Done(), 500*time.Millisecond)
	before := make([]int64, len(procs))
	for i, pr := range procs {
		if before[i], err = rssBytes(pr.p.Pid()); err != nil {
			return err
		}
	}
	n := b.plan.IdleConns
	start := time.Now()
	conns, ready, err := bench.OpenIdle(ctx, cli.addr, n, 32)
	if err != nil {
		return fmt.Errorf("opening %d connections through fwd: %w", n, err)
	}
	b.progress("  opened %d connections in %s", n, time.Since(start).Round(time.Millisecond))
	b.res.add("time to open idle conns", peerFwd, round, time.Since(start).Seconds(), "s")
	// Let the processes settle: goroutines parked, buffers allocated.
	sleepCtx(ctx.Done(), time.Second)
	for i, pr := range procs {
		rss, err := rssBytes(pr.p.Pid())
		if err != nil {
			return err
		}
		b.res.add(memRSSBefore, pr.peer, round, mib(before[i]), "MiB")
		b.res.add(memRSSWith(n), pr.peer, round, mib(rss), "MiB")
		b.res.add(memPerConn, pr.peer, round, float64(rss-before[i])/float64(n)/1024, "KiB")
		b.heapPerConn(pr.peer, pr.p, round, ready)
		b.progress("  %s: RSS %.1f MiB -> %.1f MiB, %.1f KiB per connection", pr.peer, mib(before[i]), mib(rss), float64(rss-before[i])/float64(n)/1024)
	}
	for _, c := range conns {
		c.Close()
	}
	sleepCtx(ctx.Done(), time.Second)
	for _, pr := range procs {
		if rss, err := rssBytes(pr.p.Pid()); err == nil {
			b.res.add(memRSSAfter, pr.peer, round, mib(rss), "MiB")
		}
	}
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// heapPerConn records the Go heap per connection from the process's
// gctrace log. fwd exposes no memory metrics and a collection cannot be
// forced from outside, so the last collection logged is taken, with the
// number of connections open when it ran: (live heap then - live heap of
// the last collection before the first connection) / connections then.
func (b *benchRun) heapPerConn(peer string, p *fwdtest.Process, round int, ready []time.Time) {
	gcs := readGCTrace(p.LogPath())
	if len(gcs) == 0 || len(ready) == 0 {
		return
	}
	last := gcs[len(gcs)-1]
	open := sort.Search(len(ready), func(i int) bool { return ready[i].After(p.Started().Add(last.at)) })
	var base gcStats
	for _, gc := range gcs {
		if p.Started().Add(gc.at).Before(ready[0]) {
			base = gc
		}
	}
	b.res.add(memHeap, peer, round, last.live, "MiB")
	b.res.add(memHeapConns, peer, round, float64(open), "count")
	if open < len(ready)/10 {
		return // too few connections at that collection to divide by
	}
	b.res.add(memHeapPer, peer, round, (last.live-base.live)*1024/float64(open), "KiB")
	b.res.add(memStackPer, peer, round, (last.stacks-base.stacks)*1024/float64(open), "KiB")
}

// gcLine matches a gctrace line, as in "gc 12 @1.234s 3%: ...,
// 40->42->21 MB, 44 MB goal, 3 MB stacks, ...": the time since the process
// started, the live heap and the stacks.
var gcLine = regexp.MustCompile(`(?m)^gc \d+ @([0-9.]+)s .*?\d+->\d+->(\d+) MB, \d+ MB goal, (\d+) MB stacks`)

// gcStats are one collection's figures; sizes in MiB (the runtime's "MB"
// are MiB).
type gcStats struct {
	at           time.Duration
	live, stacks float64
}

// readGCTrace returns the collections logged in a gctrace log, in order.
func readGCTrace(logPath string) []gcStats {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return nil
	}
	var out []gcStats
	for _, m := range gcLine.FindAllSubmatch(data, -1) {
		at, err1 := strconv.ParseFloat(string(m[1]), 64)
		live, err2 := strconv.ParseFloat(string(m[2]), 64)
		stacks, err3 := strconv.ParseFloat(string(m[3]), 64)
		if err1 == nil && err2 == nil && err3 == nil {
			out = append(out, gcStats{at: time.Duration(at * float64(time.Second)), live: live, stacks: stacks})
		}
	}
	return out
}
