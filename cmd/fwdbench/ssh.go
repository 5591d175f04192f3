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
	var lastErr error
	for try := range portTries {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(cfg, []byte(t.sshdConfig(port, target)), 0o600); err != nil {
			return nil, err
		}
		p, _, err := startProc("sshd", filepath.Join(dir, "sshd"+strconv.Itoa(try)+".log"), nil, false, 0,
			sshdPath, "-D", "-e", "-f", cfg)
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = waitAccepting(ctx, p, addr); lastErr == nil {
			t.sshd, t.addr = p, addr
			return t, nil
		}
		p.stop()
	}
	return nil, lastErr
}

func (t *sshTool) sshdConfig(port int, target string) string {
	return fmt.Sprintf(`ListenAddress 127.0.0.1
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
`, port, filepath.Join(t.dir, "host_key"), filepath.Join(t.dir, "sshd.pid"),
		t.key+".pub", target, sshCipher)
}

// forward starts ssh -N -L to target through the sshd at sshdAddr (sshd
// itself, or a delay relay in front of it) and returns the local address
// and the ssh process, which the caller stops.
func (t *sshTool) forward(ctx context.Context, name, sshdAddr, target string) (string, *proc, error) {
	_, sshdPort, err := net.SplitHostPort(sshdAddr)
	if err != nil {
		return "", nil, err
	}
	var lastErr error
	for try := range portTries {
		port, err := freePort()
		if err != nil {
			return "", nil, err
		}
		local := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, _, err := startProc(name, filepath.Join(t.dir, name+strconv.Itoa(try)+".log"), nil, false, 0, t.ssh,
			"-F", "/dev/null", "-N", "-L", local+":"+target,
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
			"-o", "Ciphers="+sshCipher, "-i", t.key, "-p", sshdPort, "root@127.0.0.1")
		if err != nil {
			return "", nil, err
		}
		if lastErr = waitAccepting(ctx, p, local); lastErr == nil {
			return local, p, nil
		}
		p.stop()
	}
	return "", nil, lastErr
}

// freePort asks the OS for a free loopback port. sshd and ssh -L need a
// number up front, so this is the listen-then-close race the design warns
// about; callers retry with a new port when the child cannot bind.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitAccepting waits until addr accepts connections, failing early if p
// exits first (its port was taken, its config refused).
func waitAccepting(ctx context.Context, p *proc, addr string) error {
	deadline := time.Now().Add(readyWait)
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited before accepting on %s (%v)%s", p.name, addr, p.waitErr, p.logTail())
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
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
