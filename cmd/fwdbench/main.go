// Command fwdbench measures fwd against direct TCP and ssh -L (and chisel and
// frp when they are installed) on loopback, with fwd --via ssh through the
// same sshd as ssh -L beside them, in one run: bulk throughput over
// one and 64 streams, small-message latency (idle, and beside bulk streams
// through the same forward), new connections per second, the memory fwd
// needs for 10,000 idle connections, and throughput over a link with 50 ms
// round-trip time; on request (--phases sessions), what one
// gateway needs for 1,000 developers' sessions, and (--phases expose) fwd
// expose's public HTTPS and TCP sides beside frp's. As root, that link is an IP
// link between two network namespaces through TUN devices, delayed by a
// forwarder in this process, with TCP running end to end over it
// (bench.Link); otherwise a terminating TCP relay stands in
// (bench.DelayRelay), which the report says.
//
// Run it from the module root:
//
//	go run ./cmd/fwdbench [--rounds 3] [--quick] [--json FILE]
//
// It builds ./cmd/fwd, starts a gateway and a client as separate processes
// (so their memory can be read separately) and, if /usr/sbin/sshd exists, an
// sshd of its own. Nothing it sends leaves 127.0.0.0/8 or the link's two
// namespaces, which it deletes on exit (and, if it was killed, on the next
// run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
)

// serveTargetArg makes the binary a bare target server, printing its address
// as its first line. The memory test runs its target that way, in a process
// of its own, so that no process holds more than one end of each of the
// 10,000 idle connections: the open files limit is per process, and a
// container may not let even root raise it.
const serveTargetArg = "internal-serve-target"

func main() {
	if len(os.Args) == 2 && os.Args[1] == serveTargetArg {
		if err := serveTarget(); err != nil {
			fmt.Fprintln(os.Stderr, "fwdbench target: "+err.Error())
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 6 && os.Args[1] == loadArg {
		if err := runLoad(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "fwdbench load: "+err.Error())
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwdbench: "+err.Error())
		os.Exit(1)
	}
}

// options are fwdbench's flags.
type options struct {
	rounds   int
	quick    bool
	jsonPath string
	fwdBin   string
	src      string
	idle     int
	keep     bool
	phases   map[string]bool
	peers    map[string]bool // nil: all
}

// The phases of a run, in the order they run.
const (
	phaseLoopback = "loopback" // a to d
	phaseDelay    = "delay"    // f
	phaseMemory   = "memory"   // e
	// phaseSessions is g, one gateway holding many sessions; it takes about
	// a minute, so it runs only when --phases names it.
	phaseSessions = "sessions"
	// phaseLoad (h, latency under load) is in underload.go, phaseBig (i,
	// fwd all on 1,500 and 30,000 ports) in big.go, phaseExpose (j, fwd
	// expose beside frp; only when named) in expose.go.
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("fwdbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of every measurement; the table shows medians and min-max")
	fs.BoolVar(&o.quick, "quick", false, "one short round of everything (under a minute)")
	fs.StringVar(&o.jsonPath, "json", "", "also write every raw figure to this JSON file")
	fs.StringVar(&o.fwdBin, "fwd", "", "use this fwd binary instead of building ./cmd/fwd")
	fs.StringVar(&o.src, "src", "", "module root to build fwd from (default: found from the working directory)")
	fs.IntVar(&o.idle, "idle-conns", 10000, "idle connections for the memory measurement")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory with configs and process logs")
	phases := fs.String("phases", "loopback,load,big,delay,memory", "phases to run: loopback (throughput, latency, connection rate), load (latency beside bulk streams through the same forward), delay (50 ms RTT link), memory (fwd with idle connections), "+
		"big (fwd all on 500 services x 3 ports: ready, RSS, hosts block, gateway restart; and on 30,000 ports), "+
		"and, only when named, sessions (about a minute: one gateway with 1,000 sessions of 10 active streams: its RSS, CPU and fds, round trips; then 10 cycles of 1,000 sessions for leaked fds) "+
		"and expose (fwd expose beside frp's http and tcp proxies: HTTP requests per second through the public HTTPS side, one stream's download through a public TCP port)")
	peers := fs.String("peers", "", "measure only these peers, comma-separated (direct, \"ssh -L\", fwd, ...); default all found")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	case o.rounds < 1 || o.rounds > 20:
		return o, fmt.Errorf("--rounds %d: use 1-20", o.rounds)
	case o.idle < 1 || o.idle > 50000:
		return o, fmt.Errorf("--idle-conns %d: use 1-50000", o.idle)
	}
	o.phases = map[string]bool{}
	for _, ph := range strings.Split(*phases, ",") {
		switch ph = strings.TrimSpace(ph); ph {
		case phaseLoopback, phaseLoad, phaseBig, phaseDelay, phaseMemory, phaseSessions, phaseExpose:
			o.phases[ph] = true
		default:
			return o, fmt.Errorf("--phases: unknown phase %q: use loopback, load, big, delay, memory, sessions, expose", ph)
		}
	}
	if *peers != "" {
		o.peers = map[string]bool{}
		for _, p := range strings.Split(*peers, ",") {
			o.peers[strings.TrimSpace(p)] = true
		}
	}
	if o.quick {
		o.rounds = 1
	}
	return o, nil
}

// plan is how long and how hard each measurement runs.
type plan struct {
	Rounds         int           `json:"rounds"`
	Bulk           time.Duration `json:"bulk_ns"`             // a, b: each direction, each stream count
	Streams        int           `json:"parallel_streams"`    // b
	Pings          int           `json:"pings"`               // c: timed round trips
	PingWarm       int           `json:"ping_warmup"`         // c: untimed round trips first
	PingLimit      time.Duration `json:"ping_limit_ns"`       // c: stop early after this
	ConnWorkers    int           `json:"conn_workers"`        // d
	ConnTime       time.Duration `json:"conn_ns"`             // d
	IdleConns      int           `json:"idle_conns"`          // e
	OneWayDelay    time.Duration `json:"one_way_delay_ns"`    // f
	DelayRun       time.Duration `json:"delay_run_ns"`        // f: whole download
	DelaySkip      time.Duration `json:"delay_skip_ns"`       // f: ramp-up not counted
	MaxStreamsConf int           `json:"gateway_max_streams"` // gateway limit set in its config
	Sessions       sessionsPlan  `json:"sessions"`            // g
	Expose         exposePlan    `json:"expose"`              // j
}

func planFor(o options) plan {
	p := plan{
		Rounds: o.rounds, Bulk: 2 * time.Second, Streams: 64,
		Pings: 20000, PingWarm: 500, PingLimit: 10 * time.Second,
		ConnWorkers: 8, ConnTime: 2 * time.Second,
		IdleConns: o.idle, OneWayDelay: 25 * time.Millisecond,
		DelayRun: 6 * time.Second, DelaySkip: 3 * time.Second,
	}
	if o.quick {
		p.Bulk, p.Pings, p.ConnTime = time.Second, 5000, time.Second
		p.DelayRun, p.DelaySkip = 4*time.Second, 2*time.Second
	}
	p.MaxStreamsConf = max(2*p.IdleConns, 4096)
	p.Sessions = planSessions(o.quick)
	p.Expose = planExpose(o.quick)
	return p
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	started := time.Now()
	cpu := startCPUWatch()
	b := &benchRun{plan: planFor(o), log: stderr, res: newResults(started)}
	b.res.Settings = b.plan
	b.res.Env = environment()
	b.res.Env["open_files_limit"] = raiseFileLimit(b.plan.IdleConns, stderr)

	tmp, err := os.MkdirTemp("", "fwdbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(stderr, "keeping configs and logs in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	b.tmp = tmp
	defer b.close()

	if err := b.setup(ctx, o); err != nil {
		return err
	}
	if o.peers != nil {
		var kept []peer
		for _, p := range b.peers {
			if o.peers[p.name] {
				kept = append(kept, p)
			}
		}
		b.peers = kept
	}
	if o.phases[phaseLoopback] {
		b.loopbackPhase(ctx)
	}
	if o.phases[phaseLoad] {
		b.loadPhase(ctx)
	}
	if o.phases[phaseBig] {
		b.bigPhase(ctx)
	}
	if o.phases[phaseDelay] {
		b.delayPhase(ctx)
	}
	if o.phases[phaseMemory] {
		b.memoryPhase(ctx)
	}
	if o.phases[phaseSessions] {
		b.sessionsPhase(ctx)
	}
	if o.phases[phaseExpose] {
		b.exposePhase(ctx)
	}
	b.close() // children exit first, so that their CPU time is counted as ours
	b.res.Seconds = time.Since(started).Seconds()
	if share, ok := cpu.othersShare(); ok {
		b.res.OthersCPU = share
		if share > 0.05 {
			fmt.Fprintf(stderr, "warning: other processes used %.0f%% of the CPU during the run: figures are skewed\n", share*100)
		}
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	b.res.print(stdout, b.peerNames())
	if o.jsonPath != "" {
		if err := b.res.writeJSON(o.jsonPath); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "raw figures written to %s\n", o.jsonPath)
	}
	return nil
}

// moduleRoot finds the fwd module's root from dir upwards, so that
// go run ./cmd/fwdbench works from anywhere inside the repository.
func moduleRoot(dir string) (string, error) {
	for range 64 {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if modulePath(b) == "github.com/fwd-dev/fwd" {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("not inside the fwd module: run from its checkout or pass --src or --fwd")
}

// serveTarget runs a target server until SIGTERM or SIGINT (or the parent's
// death, through Pdeathsig).
func serveTarget() error {
	t, err := bench.StartTarget("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer t.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	fmt.Println(t.Addr())
	<-sig
	return nil
}
