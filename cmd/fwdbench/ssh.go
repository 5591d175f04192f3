package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

const (
	// sshCipher is the cipher both ends use: AES-GCM, as fast as OpenSSH
	// gets on CPUs with AES instructions, and the closest match to the
	// AES-GCM suite fwd's TLS 1.3 negotiates.
	sshCipher = "aes128-gcm@openssh.com"
	// portTries bounds retries when a port picked for ssh -L was taken in
	// the meantime.
	portTries = 3
)

// sshTool is the ssh client and the sshd on loopback it forwards through.
type sshTool struct {
	ssh  string
	tmp  string
	sshd *fwdtest.SSHD
}

// findSSH returns the ssh client, or why the ssh peer cannot run.
func findSSH() (string, error) {
	if err := fwdtest.Check("sshd", "ssh"); err != nil {
		return "", err
	}
	return fwdtest.LookPath("ssh")
}

// startSSHD starts sshd on loopback, allowing port forwarding to target
// only.
func startSSHD(ctx context.Context, ssh, tmp, target string) (*sshTool, error) {
	t := &sshTool{ssh: ssh, tmp: tmp}
	s, err := t.serve(ctx, hostPlace, "ssh", target)
	if err != nil {
		return nil, err
	}
	t.sshd = s
	return t, nil
}

// serve starts an sshd of its own, with its own keys under tmp/name,
// listening at pl and allowing port forwarding to target only.
func (t *sshTool) serve(ctx context.Context, pl place, name, target string) (*fwdtest.SSHD, error) {
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	return fwdtest.StartSSHD(ctx, filepath.Join(t.tmp, name), fwdtest.SSHDOptions{
		ListenHost: pl.host, Netns: pl.ns, Ciphers: sshCipher, PermitOpen: []string{target},
	})
}

// forward starts ssh -N -L to target through sshd, reached at via (sshd
// itself, or a delay relay in front of it), and returns the local address
// and the ssh process, which the caller stops.
func (t *sshTool) forward(ctx context.Context, name string, sshd *fwdtest.SSHD, via, target string) (string, *fwdtest.Process, error) {
	return t.forwardAt(ctx, hostPlace, name, sshd, via, target)
}

// forwardAt is forward with ssh running at pl, forwarding from pl's loopback.
func (t *sshTool) forwardAt(ctx context.Context, pl place, name string, sshd *fwdtest.SSHD, via, target string) (string, *fwdtest.Process, error) {
	login, err := sshd.SSHArgs(via)
	if err != nil {
		return "", nil, err
	}
	return t.forwardLogin(ctx, pl, name, login, target)
}

// forwardLogin starts ssh -N -L to target at pl, logging in with login
// (ssh's arguments up to the destination, included).
func (t *sshTool) forwardLogin(ctx context.Context, pl place, name string, login []string, target string) (string, *fwdtest.Process, error) {
	var lastErr error
	for try := range portTries {
		port, err := fwdtest.FreePort("tcp")
		if err != nil {
			return "", nil, err
		}
		local := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		argv := pl.command(t.ssh, append([]string{"-N", "-L", local + ":" + target,
			"-o", "ExitOnForwardFailure=yes", "-o", "Ciphers=" + sshCipher}, login...)...)
		p, err := startProc(name, filepath.Join(t.tmp, name+strconv.Itoa(try)+".log"), nil, false, argv...)
		if err != nil {
			return "", nil, err
		}
		if lastErr = waitAcceptingAt(ctx, pl, p, local); lastErr == nil {
			return local, p, nil
		}
		p.Stop()
	}
	return "", nil, lastErr
}

// waitAccepting waits until addr accepts connections, failing early if p
// exits first (its port was taken, its config refused).
func waitAccepting(ctx context.Context, p *fwdtest.Process, addr string) error {
	return waitAcceptingAt(ctx, hostPlace, p, addr)
}

// waitAcceptingAt is waitAccepting, connecting from pl.
func waitAcceptingAt(ctx context.Context, pl place, p *fwdtest.Process, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	return p.WaitReady(ctx, func() (bool, error) {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := pl.dial(dctx, addr)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
}
