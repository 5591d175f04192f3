package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// sessionsPlan is how hard phase g (sessions) loads one gateway: many
// developers, each a session of its own with a few connections in use.
type sessionsPlan struct {
	Sessions int `json:"sessions"`            // at once, each a tunnel.Dial
	Streams  int `json:"streams_per_session"` // active streams on each
	// RoundTrips is the one-byte round trips per second across all the
	// streams: each stream does one every Sessions*Streams/RoundTrips, the
	// streams' turns spread evenly, so that the machine is loaded but not
	// saturated and the latency is the gateway's, not a queue's.
	RoundTrips int           `json:"round_trips_per_s"`
	Window     time.Duration `json:"window_ns"` // measured, per round
	// Dialers is how many sessions are dialled at once: under the
	// gateway's default max_handshakes_per_source (32), as every session
	// comes from 127.0.0.1.
	Dialers int `json:"dialers"`
	// Cycles of Sessions sessions, CycleStreams streams each, opened, used
	// and closed, after which the gateway's fds must be back within FDSlack
	// of where they were before any session.
	Cycles       int           `json:"leak_cycles"`
	CycleStreams int           `json:"leak_cycle_streams"`
	FDSlack      int           `json:"leak_fd_slack"`
	SettleWait   time.Duration `json:"leak_settle_wait_ns"` // bound on waiting for fds to return
}

func planSessions(quick bool) sessionsPlan {
	p := sessionsPlan{
		Sessions: 1000, Streams: 10, RoundTrips: 5000, Window: 6 * time.Second,
		Dialers: 16, Cycles: 10, CycleStreams: 3, FDSlack: 5, SettleWait: 10 * time.Second,
	}
	if quick {
		p.Window = 4 * time.Second
	}
	return p
}

// every is how often each stream does a round trip.
func (p sessionsPlan) every() time.Duration {
	return time.Duration(p.Sessions*p.Streams) * time.Second / time.Duration(p.RoundTrips)
}

// Phase g's measurement names; every figure is of the one gateway
// (peerGateway), even those timed at the clients.
const (
	msRSSIdle     = "RSS, no sessions"
	msRSSLoad     = "RSS under load"
	msRSSPer      = "RSS per session"
	msCPU         = "CPU under load"
	msClientCPU   = "clients' CPU (fwdbench)"
	msMachineCPU  = "machine CPU busy"
	msP50         = "round trip p50"
	msP90         = "round trip p90"
	msP99         = "round trip p99"
	msRoundTrips  = "round trips done"
	msLate        = "round trips skipped, stream busy"
	msOpenSess    = "time to open sessions"
	msOpenStreams = "time to open streams"
	msThrottled   = "logins told to wait"
	msThreads     = "OS threads under load"
	msFDsIdle     = "open fds, no sessions"
	msFDsLoad     = "open fds under load"
	msFDsAfter    = "open fds after the cycles"
	msCycle       = "time per cycle, settled"
)

// sessionsMeasurements are phase g's rows, in table order.
var sessionsMeasurements = []string{
	msRSSIdle, msRSSLoad, msRSSPer, msCPU, msClientCPU, msMachineCPU, msP50, msP90, msP99, msRoundTrips, msLate,
	msOpenSess, msOpenStreams, msThrottled, msThreads, msFDsIdle, msFDsLoad, msFDsAfter, msCycle,
}

// pingTimeout bounds one round trip, so that a stuck stream fails the
// measurement rather than hanging it.
const pingTimeout = 10 * time.Second

// maxThrottledRetries bounds the retries of one session's login that the
// gateway's login limiter told to wait.
const maxThrottledRetries = 5

// sessionsPhase runs g: a fwd gateway process of its own, default limits
// but max_streams_per_session, and in this process Sessions sessions
// through the exported API (tunnel.Dial), Streams echo streams on each,
// all doing round trips while the gateway's RSS, CPU and fds are read;
// then the leak cycles.
func (b *benchRun) sessionsPhase(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	defer b.closeNow()()
	if err := b.sessionsRun(ctx); err != nil {
		b.res.fail(msRSSLoad, peerGateway, 0, err)
		b.progress("sessions: %v", err)
	}
}

func (b *benchRun) sessionsRun(ctx context.Context) error {
	p := b.plan.Sessions
	target, err := b.startTargetProcess()
	if err != nil {
		return err
	}
	gw, err := b.fwd.startGateway("gateway-sessions", target, b.plan.MaxStreamsConf, nil)
	if err != nil {
		return fmt.Errorf("fwd gateway: %w", err)
	}
	b.stopAtClose(gw.Process)
	pid := gw.Pid()
	sleepCtx(ctx.Done(), 500*time.Millisecond)
	idle, err := readProcFigures(pid)
	if err != nil {
		return err
	}
	b.res.add(msRSSIdle, peerGateway, 0, mib(idle.rss), "MiB")
	b.res.add(msFDsIdle, peerGateway, 0, float64(idle.fds), "count")

	cfg := &tunnel.ClientConfig{Token: b.fwd.token, Trust: tunnel.Trust{Fingerprint: gw.fingerprint}}
	b.progress("sessions: opening %d sessions with %d streams each on %s", p.Sessions, p.Streams, gw.listen)
	load, err := b.openLoad(ctx, gw.listen, cfg)
	if err != nil {
		return err
	}
	for round := 1; round <= b.plan.Rounds && ctx.Err() == nil; round++ {
		b.progress("round %d/%d: %d streams, each a round trip every %s", round, b.plan.Rounds, len(load.streams), p.every())
		if err := b.sessionsRound(ctx, round, pid, idle, load.streams); err != nil {
			b.res.fail(msP50, peerGateway, round, err)
			b.progress("  error: %v", err)
		}
	}
	load.close()
	b.leakCycles(ctx, gw.listen, cfg, pid, idle.fds)
	return nil
}

// sessionLoad is what the clients hold open: sessions and their streams.
type sessionLoad struct {
	sessions []*tunnel.Session
	streams  []*tunnel.Stream
}

func (l *sessionLoad) close() {
	for _, s := range l.sessions {
		s.Close()
	}
}

// openLoad opens the sessions, then the streams, timing each.
func (b *benchRun) openLoad(ctx context.Context, addr string, cfg *tunnel.ClientConfig) (*sessionLoad, error) {
	p := b.plan.Sessions
	start := time.Now()
	sessions, throttled, err := dialSessions(ctx, addr, cfg, p.Sessions, p.Dialers)
	if err != nil {
		return nil, err
	}
	load := &sessionLoad{sessions: sessions}
	took := time.Since(start)
	b.res.add(msOpenSess, peerGateway, 0, took.Seconds(), "s")
	b.res.add(msThrottled, peerGateway, 0, float64(throttled), "count")
	b.progress("  %d sessions in %s (%d logins told to wait)", len(sessions), took.Round(time.Millisecond), throttled)
	start = time.Now()
	if load.streams, err = openEchoStreams(ctx, sessions, p.Streams, p.Dialers); err != nil {
		load.close()
		return nil, err
	}
	took = time.Since(start)
	b.res.add(msOpenStreams, peerGateway, 0, took.Seconds(), "s")
	b.progress("  %d streams in %s", len(load.streams), took.Round(time.Millisecond))
	return load, nil
}

// sessionsRound runs one measured window of round trips on every stream
// and reads the gateway's figures over it.
func (b *benchRun) sessionsRound(ctx context.Context, round, pid int, idle procFigures, streams []*tunnel.Stream) error {
	p := b.plan.Sessions
	gw0, err := procCPUSeconds(pid)
	if err != nil {
		return err
	}
	self0, _ := procCPUSeconds(os.Getpid())
	mach0, _ := readCPUTimes()
	start := time.Now()
	rtts, late, err := pingAll(ctx, streams, p.every(), p.Window)
	wall := time.Since(start).Seconds()
	gw1, err1 := procCPUSeconds(pid)
	self1, _ := procCPUSeconds(os.Getpid())
	mach1, _ := readCPUTimes()
	if err != nil {
		return err
	}
	if err1 != nil {
		return err1
	}
	load, err := readProcFigures(pid)
	if err != nil {
		return err
	}
	add := func(m string, v float64, unit string) { b.res.add(m, peerGateway, round, v, unit) }
	add(msRSSLoad, mib(load.rss), "MiB")
	add(msRSSPer, float64(load.rss-idle.rss)/float64(p.Sessions)/1024, "KiB")
	add(msCPU, (gw1-gw0)/wall*100, "% of a core")
	add(msClientCPU, (self1-self0)/wall*100, "% of a core")
	if mach1.total > mach0.total {
		add(msMachineCPU, (mach1.busy-mach0.busy)/(mach1.total-mach0.total)*100, "% of all")
	}
	for _, q := range []struct {
		m string
		p float64
	}{{msP50, 50}, {msP90, 90}, {msP99, 99}} {
		add(q.m, micros(bench.Percentile(rtts, q.p)), "µs")
	}
	add(msRoundTrips, float64(len(rtts))/wall, "per s")
	add(msLate, float64(late), "count")
	add(msThreads, float64(load.threads), "count")
	add(msFDsLoad, float64(load.fds), "count")
	b.progress("  gateway: RSS %.1f MiB, CPU %.0f%% of a core, %d fds; round trips p50 %.0f µs, p99 %.0f µs, %.0f/s (%d skipped)",
		mib(load.rss), (gw1-gw0)/wall*100, load.fds, micros(bench.Percentile(rtts, 50)), micros(bench.Percentile(rtts, 99)),
		float64(len(rtts))/wall, late)
	return nil
}

// benchTarget is the catalog port of the bench target, as a stream header
// names it.
var benchTarget = tunnel.Target{
	ID:      catalog.ID{Project: benchProject, Kind: catalog.Addon, Name: "target"},
	Network: "tcp", Port: catalogPort,
}

// dialSessions dials n sessions, workers at a time. It returns them with
// the number of logins the gateway told to wait (which were retried); on
// error it closes what it opened.
func dialSessions(ctx context.Context, addr string, cfg *tunnel.ClientConfig, n, workers int) ([]*tunnel.Session, int, error) {
	sessions := make([]*tunnel.Session, n)
	var throttled atomic.Int64
	err := forEach(ctx, n, workers, func(i int) error {
		s, waits, err := dialSession(ctx, addr, cfg)
		throttled.Add(int64(waits))
		if err != nil {
			return fmt.Errorf("session %d of %d: %w", i+1, n, err)
		}
		sessions[i] = s
		return nil
	})
	if err != nil {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
		return nil, 0, err
	}
	return sessions, int(throttled.Load()), nil
}

// dialSession dials one session. Every session comes from 127.0.0.1, and
// the gateway charges each login to its source as a failure until the
// token checks out, so logins at once can be told to wait: those are
// retried after the wait the gateway names, and counted.
func dialSession(ctx context.Context, addr string, cfg *tunnel.ClientConfig) (*tunnel.Session, int, error) {
	for waits := 0; ; waits++ {
		s, err := tunnel.Dial(ctx, addr, cfg)
		var le *tunnel.LoginError
		if err == nil || waits == maxThrottledRetries || !errors.Is(err, tunnel.ErrThrottled) || !errors.As(err, &le) {
			return s, waits, err
		}
		sleepCtx(ctx.Done(), max(le.RetryAfter, 100*time.Millisecond))
	}
}

// openEchoStreams opens k echo streams on each session, workers sessions
// at a time, each checked end to end by the target's echo of the mode byte.
func openEchoStreams(ctx context.Context, sessions []*tunnel.Session, k, workers int) ([]*tunnel.Stream, error) {
	streams := make([]*tunnel.Stream, len(sessions)*k)
	err := forEach(ctx, len(sessions), workers, func(i int) error {
		for j := range k {
			st, err := openEchoStream(sessions[i])
			if err != nil {
				return fmt.Errorf("session %d, stream %d: %w", i+1, j+1, err)
			}
			streams[i*k+j] = st
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return streams, nil
}

func openEchoStream(s *tunnel.Session) (*tunnel.Stream, error) {
	st, err := s.Open(benchTarget)
	if err != nil {
		return nil, err
	}
	st.SetDeadline(time.Now().Add(pingTimeout))
	b := []byte{bench.ModeEcho}
	if _, err := st.Write(b); err != nil {
		st.Close()
		return nil, err
	}
	if _, err := io.ReadFull(st, b); err != nil {
		st.Close()
		return nil, fmt.Errorf("echo of the mode byte: %w", err)
	}
	st.SetDeadline(time.Time{})
	return st, nil
}

// forEach runs f for 0..n-1, workers at a time, and stops at the first
// error or when ctx ends.
func forEach(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// pingAll has every stream do a one-byte round trip every `every` for
// window, the streams' turns spread evenly over the period. It returns the
// round-trip times, sorted, and how many turns were skipped because their
// stream was still waiting for an earlier reply.
func pingAll(ctx context.Context, streams []*tunnel.Stream, every, window time.Duration) ([]time.Duration, int64, error) {
	start := time.Now()
	end := start.Add(window)
	per := make([][]time.Duration, len(streams))
	errs := make(chan error, len(streams))
	var late atomic.Int64
	for i, st := range streams {
		first := start.Add(every * time.Duration(i) / time.Duration(len(streams)))
		go func() {
			var err error
			per[i], err = pingEvery(ctx, st, first, every, end, &late)
			errs <- err
		}()
	}
	var first error
	for range streams {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, 0, first
	}
	var rtts []time.Duration
	for _, r := range per {
		rtts = append(rtts, r...)
	}
	if len(rtts) == 0 {
		return nil, 0, errors.New("no round trip finished in the window")
	}
	slices.Sort(rtts)
	return rtts, late.Load(), nil
}

// pingEvery does a round trip on st at next, next+every, ... until end.
// The time is from the write to the reply, not from the planned turn: a
// turn that comes while the stream still waits is skipped and counted in
// late, so that one slow reply does not queue up the turns behind it.
func pingEvery(ctx context.Context, st *tunnel.Stream, next time.Time, every time.Duration, end time.Time, late *atomic.Int64) ([]time.Duration, error) {
	rtts := make([]time.Duration, 0, int(end.Sub(next)/every)+1)
	b := []byte{'p'}
	for next.Before(end) && ctx.Err() == nil {
		sleepCtx(ctx.Done(), time.Until(next))
		st.SetDeadline(time.Now().Add(pingTimeout))
		t0 := time.Now()
		if _, err := st.Write(b); err != nil {
			return nil, fmt.Errorf("ping: %w", err)
		}
		if _, err := io.ReadFull(st, b); err != nil {
			return nil, fmt.Errorf("pong: %w", err)
		}
		now := time.Now()
		rtts = append(rtts, now.Sub(t0))
		for next = next.Add(every); next.Before(now); next = next.Add(every) {
			late.Add(1)
		}
	}
	return rtts, nil
}

// leakCycles opens Sessions sessions with CycleStreams streams each, does
// a round trip on every stream, closes one stream of each session itself
// and the rest by closing the session, and waits for the gateway's fds to
// settle; Cycles times. The gateway's fds must then be back within FDSlack
// of fds0, its count before any session. Its goroutines are not visible
// from another process, so the in-process test
// (tunnel/sessions_leak_test.go) counts those.
func (b *benchRun) leakCycles(ctx context.Context, addr string, cfg *tunnel.ClientConfig, pid, fds0 int) {
	p := b.plan.Sessions
	b.progress("sessions: %d cycles of %d sessions with %d streams each, for leaked fds", p.Cycles, p.Sessions, p.CycleStreams)
	var peak int
	for c := 1; c <= p.Cycles && ctx.Err() == nil; c++ {
		start := time.Now()
		n, opened, err := b.cycle(ctx, addr, cfg, pid)
		if err != nil {
			b.res.fail(msFDsAfter, peerGateway, c, err)
			b.progress("  cycle %d: %v", c, err)
			return
		}
		peak = max(peak, n)
		fds, settled := waitFDs(ctx, pid, fds0+p.FDSlack, p.SettleWait)
		b.res.add(msCycle, peerGateway, c, time.Since(start).Seconds(), "s")
		b.progress("  cycle %d: gateway held %d fds, %d once the sessions were gone (%s open, %s in all)",
			c, n, fds, opened.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if !settled {
			b.progress("  cycle %d: fds still above %d+%d after %s", c, fds0, p.FDSlack, p.SettleWait)
		}
	}
	fds, settled := waitFDs(ctx, pid, fds0+p.FDSlack, p.SettleWait)
	b.res.add(msFDsAfter, peerGateway, 0, float64(fds), "count")
	verdict := "ok"
	if !settled || fds < fds0-p.FDSlack {
		verdict = "NOT BACK: a leak?"
		b.res.fail(msFDsAfter, peerGateway, 0, fmt.Errorf("gateway has %d fds after the cycles, %d before any session (slack %d)", fds, fds0, p.FDSlack))
	}
	b.res.SessionsLeak = fmt.Sprintf("gateway fds %d before any session, %d after %d cycles of %d sessions x %d streams (peak %d, slack ±%d): %s; "+
		"its goroutines are not visible from another process: go test -run Leak ./tunnel/ counts them in-process",
		fds0, fds, p.Cycles, p.Sessions, p.CycleStreams, peak, p.FDSlack, verdict)
	b.progress("sessions: %s", b.res.SessionsLeak)
}

// cycle is one leak cycle; it returns the gateway's fds while it held
// every session, and how long opening them and their streams took.
func (b *benchRun) cycle(ctx context.Context, addr string, cfg *tunnel.ClientConfig, pid int) (int, time.Duration, error) {
	p := b.plan.Sessions
	start := time.Now()
	sessions, _, err := dialSessions(ctx, addr, cfg, p.Sessions, p.Dialers)
	if err != nil {
		return 0, 0, err
	}
	load := &sessionLoad{sessions: sessions}
	defer load.close()
	streams, err := openEchoStreams(ctx, sessions, p.CycleStreams, p.Dialers)
	if err != nil {
		return 0, 0, err
	}
	opened := time.Since(start)
	fds, err := countFDs(pid)
	// The first stream of each session is closed by the client, the rest
	// go with their session: the gateway must let go of both.
	for i := 0; i < len(streams); i += p.CycleStreams {
		streams[i].Close()
	}
	return fds, opened, err
}

// procFigures are what /proc tells of a process under load.
type procFigures struct {
	rss          int64
	fds, threads int
}

func readProcFigures(pid int) (procFigures, error) {
	var f procFigures
	var err error
	if f.rss, err = rssBytes(pid); err != nil {
		return f, err
	}
	if f.fds, err = countFDs(pid); err != nil {
		return f, err
	}
	f.threads, err = procThreads(pid)
	return f, err
}

// countFDs counts a process's open files in /proc/PID/fd.
func countFDs(pid int) (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("counting fds of pid %d: %w", pid, err)
	}
	return len(ents), nil
}

// waitFDs waits, up to limit, for pid to hold at most atMost fds: a closed
// session takes the gateway a moment to notice and let go of. It returns
// the last count and whether it got there.
func waitFDs(ctx context.Context, pid, atMost int, limit time.Duration) (int, bool) {
	deadline := time.Now().Add(limit)
	for {
		n, err := countFDs(pid)
		if err == nil && n <= atMost {
			return n, true
		}
		if err != nil || ctx.Err() != nil || time.Now().After(deadline) {
			return n, false
		}
		sleepCtx(ctx.Done(), 50*time.Millisecond)
	}
}

// procThreads reads the Threads field of /proc/PID/status.
func procThreads(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading threads of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Threads:"); ok {
			return strconv.Atoi(strings.TrimSpace(rest))
		}
	}
	return 0, fmt.Errorf("pid %d: no Threads in /proc status", pid)
}

// procCPUSeconds is the CPU time, user and system, that pid has used: the
// utime and stime fields of /proc/PID/stat, in USER_HZ (100 a second on
// every Linux that matters here).
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading CPU time of pid %d: %w", pid, err)
	}
	return parseProcStatCPU(string(b))
}

// parseProcStatCPU reads utime and stime from a /proc/PID/stat line. The
// command name, in parentheses, may hold spaces and parentheses: the
// fields are counted from the last ")".
func parseProcStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat %q: no command name", oneLine(stat))
	}
	// After the name: state (field 3), ..., utime (14), stime (15).
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat %q: %d fields after the name", oneLine(stat), len(f))
	}
	var sum float64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: CPU time %q: %w", s, err)
		}
		sum += float64(v) / 100
	}
	return sum, nil
}

// printSessions writes phase g's table, if it ran.
func (r *results) printSessions(w io.Writer) {
	if !r.has(sessionsMeasurements...) {
		return
	}
	p := r.Settings.Sessions
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "one fwd gateway, %d sessions x %d streams\tprocess\tmedian\tunit\t[min-max]\t\n", p.Sessions, p.Streams)
	for _, m := range sessionsMeasurements {
		r.rows(tw, m, []string{peerGateway})
	}
	tw.Flush()
	fmt.Fprintf(w, "(sessions dialled by tunnel.Dial in fwdbench, %d at a time, all from 127.0.0.1; gateway limits at their defaults but\n", p.Dialers)
	fmt.Fprintf(w, " max_streams_per_session and shutdown_grace; each stream a one-byte round trip every %s, turns spread evenly: %d/s\n", p.every(), p.RoundTrips)
	fmt.Fprintf(w, " planned, over %s windows; CPU from /proc/PID/stat utime+stime over the window, RSS from VmRSS.)\n", p.Window)
	if r.SessionsLeak != "" {
		fmt.Fprintf(w, "leak check: %s\n", r.SessionsLeak)
	}
}
