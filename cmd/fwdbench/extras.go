package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// errNotInstalled marks an optional peer whose binaries are not on PATH.
var errNotInstalled = errors.New("not installed")

// extraPeer is an optional forwarder measured only when it is installed.
// These have not been run on the development machine (neither is packaged
// for Debian); a failure to start skips the peer with the reason.
type extraPeer struct {
	name  string
	bins  []string
	start func(ctx context.Context, dir string, bins []string, target string) (addr string, procs []*fwdtest.Process, err error)
}

var extraPeers = []extraPeer{
	{name: "chisel", bins: []string{"chisel"}, start: startChisel},
	{name: "frp", bins: []string{"frps", "frpc"}, start: startFrp},
}

// lookPaths finds every binary or returns errNotInstalled.
func lookPaths(names []string) ([]string, error) {
	var paths []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			return nil, fmt.Errorf("%w (%s not on PATH)", errNotInstalled, n)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// startChisel runs a chisel server and a client forwarding a local port to
// target through it (chisel client SERVER LOCAL:REMOTE).
func startChisel(ctx context.Context, dir string, bins []string, target string) (string, []*fwdtest.Process, error) {
	srvPort, err := fwdtest.FreePort("tcp")
	if err != nil {
		return "", nil, err
	}
	srv, err := startProc("chisel server", filepath.Join(dir, "chisel-server.log"), nil, false,
		bins[0], "server", "--host", "127.0.0.1", "--port", strconv.Itoa(srvPort))
	if err != nil {
		return "", nil, err
	}
	procs := []*fwdtest.Process{srv}
	if err := waitAccepting(ctx, srv, net.JoinHostPort("127.0.0.1", strconv.Itoa(srvPort))); err != nil {
		return "", procs, err
	}
	localPort, err := fwdtest.FreePort("tcp")
	if err != nil {
		return "", procs, err
	}
	local := net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort))
	cli, err := startProc("chisel client", filepath.Join(dir, "chisel-client.log"), nil, false,
		bins[0], "client", "http://127.0.0.1:"+strconv.Itoa(srvPort), local+":"+target)
	if err != nil {
		return "", procs, err
	}
	procs = append(procs, cli)
	return local, procs, waitAccepting(ctx, cli, local)
}

// startFrp runs frps and an frpc that exposes target as a TCP proxy on a
// loopback port of frps: the path is client -> frps -> frpc -> target.
func startFrp(ctx context.Context, dir string, bins []string, target string) (string, []*fwdtest.Process, error) {
	host, tport, err := net.SplitHostPort(target)
	if err != nil {
		return "", nil, err
	}
	bindPort, err := fwdtest.FreePort("tcp")
	if err != nil {
		return "", nil, err
	}
	remotePort, err := fwdtest.FreePort("tcp")
	if err != nil {
		return "", nil, err
	}
	frps := filepath.Join(dir, "frps.toml")
	frpc := filepath.Join(dir, "frpc.toml")
	if err := os.WriteFile(frps, fmt.Appendf(nil, "bindAddr = \"127.0.0.1\"\nbindPort = %d\nproxyBindAddr = \"127.0.0.1\"\n", bindPort), 0o600); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(frpc, fmt.Appendf(nil, "serverAddr = \"127.0.0.1\"\nserverPort = %d\n\n[[proxies]]\nname = \"bench\"\ntype = \"tcp\"\nlocalIP = %q\nlocalPort = %s\nremotePort = %d\n",
		bindPort, host, tport, remotePort), 0o600); err != nil {
		return "", nil, err
	}
	srv, err := startProc("frps", filepath.Join(dir, "frps.log"), nil, false, bins[0], "-c", frps)
	if err != nil {
		return "", nil, err
	}
	procs := []*fwdtest.Process{srv}
	if err := waitAccepting(ctx, srv, net.JoinHostPort("127.0.0.1", strconv.Itoa(bindPort))); err != nil {
		return "", procs, err
	}
	cli, err := startProc("frpc", filepath.Join(dir, "frpc.log"), nil, false, bins[1], "-c", frpc)
	if err != nil {
		return "", procs, err
	}
	procs = append(procs, cli)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(remotePort))
	return addr, procs, waitAccepting(ctx, cli, addr)
}
