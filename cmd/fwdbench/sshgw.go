package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// peerSSHGateway is stock ssh -L logged in to fwd's gateway (ssh_listen)
// rather than to sshd: the path of a user with only OpenSSH.
const peerSSHGateway = "ssh -L to fwd gateway"

// setupSSHGateway starts ssh -N -L through the main gateway's SSH
// listener, to the bench addon by its catalog name, with the same key and
// cipher as the ssh -L peer and the gateway's host key checked strictly.
func (b *benchRun) setupSSHGateway(ctx context.Context) error {
	if b.ssh == nil {
		return errors.New("needs the ssh client and key of ssh -L, which did not start")
	}
	if b.gw.sshListen == "" {
		return errors.New("the gateway announced no SSH listener")
	}
	known := filepath.Join(b.tmp, "gateway-known_hosts")
	if err := os.WriteFile(known, []byte(knownHostsLine(b.gw.sshListen, b.gw.hostKey)), 0o600); err != nil {
		return err
	}
	login, err := gatewayLogin(b.gw.sshListen, "bench", b.ssh.sshd.ClientKey, known)
	if err != nil {
		return err
	}
	dest := fmt.Sprintf("target.%s:%d", benchProject, catalogPort)
	local, p, err := b.ssh.forwardLogin(ctx, hostPlace, "ssh-gateway", login, dest)
	if err != nil {
		return err
	}
	b.stopAtClose(p)
	b.progress("ssh -L to fwd gateway: %s, forward %s", b.gw.sshListen, local)
	b.peers = append(b.peers, peer{name: peerSSHGateway, addr: local})
	return nil
}

// gatewayLogin is ssh's arguments to log in to the gateway's SSH listener
// at addr as user with key, trusting only knownHosts, touching nothing of
// this machine's ssh setup.
func gatewayLogin(addr, user, key, knownHosts string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return []string{"-F", "/dev/null", "-p", port, "-i", key,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR", "-l", user, host}, nil
}

// knownHostsLine trusts key (an authorized_keys line) at addr, in
// known_hosts' [host]:port form.
func knownHostsLine(addr, key string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("[%s]:%s %s\n", host, port, strings.TrimSpace(key))
}

// hostPublicKey reads the gateway's SSH host key from the file it keeps
// beside its config, and checks that it is the key whose fingerprint the
// gateway announced.
func hostPublicKey(path, fingerprint string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("ssh host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return "", fmt.Errorf("ssh host key %s: %w", path, err)
	}
	if fp := ssh.FingerprintSHA256(signer.PublicKey()); fp != fingerprint {
		return "", fmt.Errorf("ssh host key %s is %s, the gateway announced %s", path, fp, fingerprint)
	}
	return string(ssh.MarshalAuthorizedKey(signer.PublicKey())), nil
}
