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
	sshd := b.ssh.sshd
	dir := filepath.Join(b.tmp, "via")
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		return err
	}
	known := fmt.Sprintf("[127.0.0.1]:%d %s\n", sshd.Port, sshd.HostKey)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(known), 0o600); err != nil {
		return err
	}
	catalog := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(catalog, []byte(viaCatalog(b.target.Addr())), 0o600); err != nil {
		return err
	}
	env := []string{"HOME=" + home, "SSH_AUTH_SOCK="}
	url := fmt.Sprintf("ssh://%s@127.0.0.1:%d", sshd.User, sshd.Port)
	p, line, err := startReady("fwd-via", filepath.Join(dir, "fwd.log"), env, b.fwd.bin, "all", "--project", benchProject,
		"--via", url, "--catalog", catalog, "--ssh-key", sshd.ClientKey, "--skipHostnames", "--output", "json")
	if err != nil {
		return err
	}
	b.stopAtClose(p)
	addr, err := forwardAddr(line)
	if err != nil {
		return fmt.Errorf("%w; its log:\n%s", err, p.LogTail())
	}
	b.progress("fwd --via ssh: sshd %s, forward %s", sshd.Addr, addr)
	b.peers = append(b.peers, peer{name: peerVia, addr: addr})
	return nil
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
