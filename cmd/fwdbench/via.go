package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// peerVia is fwd forwarding through the same sshd as ssh -L, with no
// gateway: fwd all --via ssh://... --catalog FILE.
const peerVia = "fwd --via ssh"

// setupVia starts fwd --via through ssh -L's sshd, which offers only
// sshCipher, so that both peers run the same cipher; the catalog file
// sends the bench project's port to the target, which sshd's PermitOpen
// allows. Its HOME holds only the known_hosts entry for that sshd, and no
// ssh-agent is used: the key is the one ssh -L logs in with.
func (b *benchRun) setupVia() error {
	if b.ssh == nil {
		return errors.New("needs the sshd of ssh -L, which did not start")
	}
	env, argv, logPath, err := b.viaClient("via", benchProject, viaCatalog(b.target.Addr()))
	if err != nil {
		return err
	}
	p, line, err := startReady("fwd-via", logPath, env, argv...)
	if err != nil {
		return err
	}
	b.stopAtClose(p)
	addr, err := forwardAddr(line)
	if err != nil {
		return fmt.Errorf("%w; its log:\n%s", err, p.LogTail())
	}
	b.progress("fwd --via ssh: sshd %s, forward %s", b.ssh.sshd.Addr, addr)
	b.peers = append(b.peers, peer{name: peerVia, addr: addr})
	return nil
}

// viaClient prepares fwd all --project project --via ssh:// through
// ssh -L's sshd, with catalog as its catalog file, in b.tmp/dir: a HOME of
// its own that holds only that sshd's known_hosts line, and no ssh-agent
// (the key is the one ssh -L logs in with). It returns the client's
// environment, argv and log path, for startReady.
func (b *benchRun) viaClient(dir, project, catalog string) (env, argv []string, logPath string, err error) {
	sshd := b.ssh.sshd
	dir = filepath.Join(b.tmp, dir)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		return nil, nil, "", err
	}
	known := fmt.Sprintf("[127.0.0.1]:%d %s\n", sshd.Port, sshd.HostKey)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(known), 0o600); err != nil {
		return nil, nil, "", err
	}
	file := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(file, []byte(catalog), 0o600); err != nil {
		return nil, nil, "", err
	}
	url := fmt.Sprintf("ssh://%s@127.0.0.1:%d", sshd.User, sshd.Port)
	argv = []string{b.fwd.bin, "all", "--project", project, "--via", url, "--catalog", file, "--ssh-key", sshd.ClientKey, "--skipHostnames", "--output", "json"}
	return []string{"HOME=" + home, "SSH_AUTH_SOCK="}, argv, filepath.Join(dir, "fwd.log"), nil
}

// viaCatalog is the catalog file of the bench project for fwd --via: an
// addon of its own, so that its address is not the gateway forward's.
func viaCatalog(target string) string {
	return fmt.Sprintf(`projects:
  - name: %s
    addons:
      - name: via-ssh
        ports:
          - {name: bench, port: %d, protocol: TCP, targets: [%s]}
`, benchProject, catalogPort, target)
}
