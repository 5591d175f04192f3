package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/fwd-dev/fwd/internal/bench"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// Peer names, in table order. direct is the reference every ratio is to;
// peerVia is in via.go, peerSSHGateway in sshgw.go.
const (
	peerDirect = "direct"
	peerSSH    = "ssh -L"
	peerFwd    = "fwd"
)

// peer is one way from the load generator to the target.
type peer struct {
	name string
	addr string         // where the load generator connects
	dial bench.DialFunc // how; nil is bench.Dial (loopback)
}

func (p peer) dialer() bench.DialFunc {
	if p.dial == nil {
		return bench.Dial
	}
	return p.dial
}

// benchRun is one run of the benchmark: what it started, and what it found.
type benchRun struct {
	plan plan
	log  io.Writer
	tmp  string
	res  *results

	target *bench.Target
	fwd    *fwdTool
	gw     *gateway
	ssh    *sshTool
	peers  []peer
	stops  []func() // run in reverse order by close
	// components are each peer's processes, for the cost of a connection.
	components map[string][]component
}

func (b *benchRun) addComponent(peer, name string, pid int) {
	if b.components == nil {
		b.components = map[string][]component{}
	}
	b.components[peer] = append(b.components[peer], component{name: name, pid: pid})
}

func (b *benchRun) onClose(f func()) { b.stops = append(b.stops, f) }

// stopAtClose stops p when the run, or the phase, closes. That it had to be
// killed is of no consequence by then.
func (b *benchRun) stopAtClose(p *fwdtest.Process) { b.onClose(func() { p.Stop() }) }

// close stops every process and server the run started, newest first.
func (b *benchRun) close() {
	for i := len(b.stops) - 1; i >= 0; i-- {
		b.stops[i]()
	}
	b.stops = nil
}

// closeNow marks the stops registered so far; the returned func runs, newest
// first, only the stops registered after the mark. A phase uses it to end
// the processes it started before the next phase begins.
func (b *benchRun) closeNow() func() {
	mark := len(b.stops)
	return func() {
		for i := len(b.stops) - 1; i >= mark; i-- {
			b.stops[i]()
		}
		b.stops = b.stops[:mark]
	}
}

func (b *benchRun) peerNames() []string {
	var names []string
	for _, p := range b.peers {
		names = append(names, p.name)
	}
	return names
}

func (b *benchRun) progress(format string, args ...any) {
	fmt.Fprintf(b.log, format+"\n", args...)
}

func (b *benchRun) skip(name, reason string) {
	b.progress("%s: skipped: %s", name, reason)
	b.res.Skipped = append(b.res.Skipped, skipped{Peer: name, Reason: reason})
}

// setup starts the target and every peer. Only fwd failing is fatal: it is
// what the benchmark is for.
func (b *benchRun) setup(ctx context.Context, o options) error {
	t, err := bench.StartTarget("127.0.0.1:0")
	if err != nil {
		return err
	}
	b.target = t
	b.onClose(func() { t.Close() })
	b.peers = append(b.peers, peer{name: peerDirect, addr: t.Addr()})

	if err := b.setupSSH(ctx); err != nil {
		b.skip(peerSSH, err.Error())
	}
	if err := b.setupFwd(ctx, o); err != nil {
		return err
	}
	if err := b.setupVia(); err != nil {
		b.skip(peerVia, err.Error())
	}
	if err := b.setupSSHGateway(ctx); err != nil {
		b.skip(peerSSHGateway, err.Error())
	}
	for _, x := range extraPeers {
		if err := b.setupExtra(ctx, x); err != nil {
			b.skip(x.name, err.Error())
		}
	}
	return nil
}

func (b *benchRun) setupFwd(ctx context.Context, o options) error {
	bin := o.fwdBin
	if bin == "" {
		src := o.src
		if src == "" {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			if src, err = moduleRoot(wd); err != nil {
				return err
			}
		}
		b.res.Env["fwd_commit"] = gitDescribe(src)
		b.progress("building fwd in %s", src)
		var err error
		if bin, err = buildFwd(ctx, src, b.tmp); err != nil {
			return err
		}
	}
	tool, err := newFwdTool(ctx, bin, b.tmp)
	if err != nil {
		return err
	}
	b.fwd = tool
	if b.ssh != nil {
		tool.sshUserKey = b.ssh.sshd.ClientKey + ".pub"
	}
	gw, err := tool.startGateway("gateway", b.target.Addr(), b.plan.MaxStreamsConf, nil)
	if err != nil {
		return fmt.Errorf("fwd gateway: %w", err)
	}
	b.gw = gw
	b.stopAtClose(gw.Process)
	cli, err := tool.startClient("fwd-client", gw.listen, gw.fingerprint, nil)
	if err != nil {
		return fmt.Errorf("fwd client: %w", err)
	}
	b.stopAtClose(cli.Process)
	if lim, err := openFilesLimit(cli.Pid()); err == nil {
		b.res.Env["fwd_open_files_limit"] = lim
	}
	b.addComponent(peerFwd, "fwd client", cli.Pid())
	b.addComponent(peerFwd, "fwd gateway", gw.Pid())
	b.progress("fwd: gateway %s, forward %s", gw.listen, cli.addr)
	b.peers = append(b.peers, peer{name: peerFwd, addr: cli.addr})
	return nil
}

func (b *benchRun) setupSSH(ctx context.Context) error {
	ssh, err := findSSH()
	if err != nil {
		return err
	}
	t, err := startSSHD(ctx, ssh, b.tmp, b.target.Addr())
	if err != nil {
		return err
	}
	b.ssh = t
	b.onClose(func() { t.sshd.Close() })
	local, p, err := t.forward(ctx, "ssh", t.sshd, t.sshd.Addr, b.target.Addr())
	if err != nil {
		return err
	}
	b.stopAtClose(p)
	b.addComponent(peerSSH, "ssh client", p.Pid())
	for i, pid := range sshdSessions(t.sshd.Dir) {
		b.addComponent(peerSSH, "sshd session process "+strconv.Itoa(i+1), pid)
	}
	b.progress("ssh -L: sshd %s, forward %s", t.sshd.Addr, local)
	b.peers = append(b.peers, peer{name: peerSSH, addr: local})
	return nil
}

func (b *benchRun) setupExtra(ctx context.Context, x extraPeer) error {
	bins, err := lookPaths(x.bins)
	if err != nil {
		return err
	}
	dir := filepath.Join(b.tmp, x.name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	addr, procs, err := x.start(ctx, dir, bins, b.target.Addr())
	b.onClose(func() {
		for _, p := range procs {
			p.Stop()
		}
	})
	if err != nil {
		return err
	}
	b.peers = append(b.peers, peer{name: x.name, addr: addr})
	return nil
}
