package fwdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// SSHD is a running OpenSSH server on 127.0.0.1 that accepts exactly one key,
// ClientKey, for User (the user running the tests), with a generated host key.
type SSHD struct {
	Addr string // 127.0.0.1:PORT
	Port int
	Dir  string
	User string
	// ClientKey is the private key (OpenSSH format, no passphrase) that
	// authorized_keys accepts; ClientKey+".pub" is its public half.
	ClientKey string
	// HostKey is the server's public host key line ("ssh-ed25519 AAAA...").
	HostKey string
	// KnownHosts is a known_hosts file that trusts HostKey for any address,
	// so a client reaching the server through a forward still checks it.
	KnownHosts string

	proc *process
}

// Close stops sshd (and any sessions it runs) and waits for it.
func (s *SSHD) Close() error { return s.proc.close() }

// SSHArgs returns the ssh options to log in to this server at addr
// (host:port, which may be a forward): the client key, the known_hosts file
// with strict checking, no config file, no agent, batch mode.
func (s *SSHD) SSHArgs(addr string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return []string{"-F", "/dev/null", "-p", port, "-i", s.ClientKey,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + s.KnownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR", "-l", s.User, host}, nil
}

// StartSSHD generates a host key and a client key under dir/sshd and runs
// /usr/sbin/sshd -D -e on a free port of 127.0.0.1. As root it creates
// /run/sshd, the privilege separation directory sshd requires.
func StartSSHD(ctx context.Context, dir string, start ...StartOption) (*SSHD, error) {
	bin, err := LookPath("sshd")
	if err != nil {
		return nil, err
	}
	keygen, err := LookPath("ssh-keygen")
	if err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	base := filepath.Join(dir, "sshd")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("fwdtest: sshd: %w", err)
		}
	}
	hostKey, clientKey := filepath.Join(base, "host_ed25519"), filepath.Join(base, "client_ed25519")
	for _, k := range []string{hostKey, clientKey} {
		if _, err := runQuiet(ctx, nil, baseEnv(), keygen, "-q", "-t", "ed25519", "-N", "", "-C", "fwd-testservers", "-f", k); err != nil {
			return nil, err
		}
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	clientPub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	authorized := filepath.Join(base, "authorized_keys")
	if err := os.WriteFile(authorized, clientPub, 0o600); err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	hostLine := strings.TrimSpace(string(hostPub))
	if f := strings.Fields(hostLine); len(f) >= 2 {
		hostLine = f[0] + " " + f[1]
	}
	knownHosts := filepath.Join(base, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte("* "+hostLine+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	return withPorts(newStartConfig(start), 1, []string{"tcp"}, func(ports []int) (*SSHD, error) {
		port := ports[0]
		conf := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
GatewayPorts no
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
LogLevel INFO
Subsystem sftp internal-sftp
`, port, hostKey, filepath.Join(base, "sshd.pid"), authorized)
		confPath := filepath.Join(base, "sshd_config")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			return nil, fmt.Errorf("fwdtest: sshd: %w", err)
		}
		logPath := filepath.Join(base, "sshd.log")
		os.Remove(logPath)
		proc, err := startProcess("sshd", logPath, syscall.SIGTERM, nil, baseEnv(), bin, "-D", "-e", "-f", confPath)
		if err != nil {
			return nil, err
		}
		// sshd logs this line to stderr (our log) once it is bound.
		listening := fmt.Sprintf("Server listening on 127.0.0.1 port %d", port)
		if err := proc.waitReady(ctx, func() (bool, error) {
			return proc.logContains(listening), nil
		}); err != nil {
			return nil, err
		}
		return &SSHD{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: base, User: u.Username,
			ClientKey: clientKey, HostKey: hostLine, KnownHosts: knownHosts, proc: proc,
		}, nil
	})
}
