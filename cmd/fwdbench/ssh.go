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
	"time"
)

const (
	sshdPath = "/usr/sbin/sshd"
	// sshCipher is the cipher both ends use: AES-GCM, as fast as OpenSSH
	// gets on CPUs with AES instructions, and the closest match to the
	// AES-GCM suite fwd's TLS 1.3 negotiates.
	sshCipher = "aes128-gcm@openssh.com"
	// portTries bounds retries when a port picked for sshd or ssh -L was
	// taken in the meantime.
	portTries = 3
)

// sshTool is a running sshd and the key that logs in to it.
type sshTool struct {
	ssh  string
	dir  string
	key  string
	sshd *proc
	addr string // sshd's host:port
}

// findSSH reports why the ssh peer cannot run, or "" if it can.
func findSSH() (string, string) {
	if _, err := os.Stat(sshdPath); err != nil {
		return "", sshdPath + " not found (apt-get install openssh-server)"
	}
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		return "", "ssh client not found on PATH"
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		return "", "ssh-keygen not found on PATH"
	}
	return ssh, ""
}

// startSSHD generates keys and starts sshd on loopback, allowing
// port forwarding to target only.
func startSSHD(ctx context.Context, ssh, tmp, target string) (*sshTool, error) {
	dir := filepath.Join(tmp, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshd: %w", err)
	}
	t := &sshTool{ssh: ssh, dir: dir, key: filepath.Join(dir, "client_key")}
	for _, k := range []string{filepath.Join(dir, "host_key"), t.key} {
		out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("ssh-keygen: %w: %s", err, out)
		}
	}
	p, addr, err := t.serve(ctx, hostPlace, "sshd", target)
	if err != nil {
		return nil, err
	}
	t.sshd, t.addr = p, addr
	return t, nil
}

// serve starts another sshd with t's keys, listening at pl, allowing port
// forwarding to target only. It returns the process and its address.
func (t *sshTool) serve(ctx context.Context, pl place, name, target string) (*proc, string, error) {
	var lastErr error
	for try := range portTries {
		port, err := freePortAt(pl)
		if err != nil {
			return nil, "", err
		}
		cfg := filepath.Join(t.dir, name+"_config")
		if err := os.WriteFile(cfg, []byte(t.sshdConfig(pl.host, port, name, target)), 0o600); err != nil {
			return nil, "", err
		}
		bin, args := pl.command(sshdPath, "-D", "-e", "-f", cfg)
		p, _, err := startProc(name, filepath.Join(t.dir, name+strconv.Itoa(try)+".log"), nil, false, 0, bin, args...)
		if err != nil {
			return nil, "", err
		}
		addr := net.JoinHostPort(pl.host, strconv.Itoa(port))
		if lastErr = waitAcceptingAt(ctx, pl, p, addr); lastErr == nil {
			return p, addr, nil
		}
		p.stop()
	}
	return nil, "", lastErr
}

func (t *sshTool) sshdConfig(listen string, port int, name, target string) string {
	return fmt.Sprintf(`ListenAddress %s
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin yes
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding local
PermitOpen %s
UseDNS no
Ciphers %s
`, listen, port, filepath.Join(t.dir, "host_key"), filepath.Join(t.dir, name+".pid"),
		t.key+".pub", target, sshCipher)
}

// forward starts ssh -N -L to target through the sshd at sshdAddr (sshd
// itself, or a delay relay in front of it) and returns the local address
// and the ssh process, which the caller stops.
func (t *sshTool) forward(ctx context.Context, name, sshdAddr, target string) (string, *proc, error) {
	return t.forwardAt(ctx, hostPlace, name, sshdAddr, target)
}

// forwardAt is forward with ssh running at pl, forwarding from pl's loopback.
func (t *sshTool) forwardAt(ctx context.Context, pl place, name, sshdAddr, target string) (string, *proc, error) {
	sshdHost, sshdPort, err := net.SplitHostPort(sshdAddr)
	if err != nil {
		return "", nil, err
	}
	var lastErr error
	for try := range portTries {
		port, err := freePortAt(pl)
		if err != nil {
			return "", nil, err
		}
		local := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		bin, args := pl.command(t.ssh,
			"-F", "/dev/null", "-N", "-L", local+":"+target,
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
			"-o", "Ciphers="+sshCipher, "-i", t.key, "-p", sshdPort, "root@"+sshdHost)
		p, _, err := startProc(name, filepath.Join(t.dir, name+strconv.Itoa(try)+".log"), nil, false, 0, bin, args...)
		if err != nil {
			return "", nil, err
		}
		if lastErr = waitAcceptingAt(ctx, pl, p, local); lastErr == nil {
			return local, p, nil
		}
		p.stop()
	}
	return "", nil, lastErr
}

// freePort asks the OS for a free loopback port. sshd and ssh -L need a
// number up front, so this is the listen-then-close race the design warns
// about; callers retry with a new port when the child cannot bind.
func freePort() (int, error) { return freePortAt(hostPlace) }

// freePortAt is freePort on pl's loopback.
func freePortAt(pl place) (int, error) {
	ln, err := pl.listen("127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitAccepting waits until addr accepts connections, failing early if p
// exits first (its port was taken, its config refused).
func waitAccepting(ctx context.Context, p *proc, addr string) error {
	return waitAcceptingAt(ctx, hostPlace, p, addr)
}

// waitAcceptingAt is waitAccepting, connecting from pl.
func waitAcceptingAt(ctx context.Context, pl place, p *proc, addr string) error {
	deadline := time.Now().Add(readyWait)
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited before accepting on %s (%v)%s", p.name, addr, p.waitErr, p.logTail())
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := pl.dial(dctx, addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New(p.name + ": not accepting on " + addr + " after " + readyWait.String() + p.logTail())
}
