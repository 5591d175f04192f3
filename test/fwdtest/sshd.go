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

// SSHD is a running OpenSSH server, on 127.0.0.1 unless told otherwise, that
// accepts exactly one key, ClientKey, for User (the user running the tests),
// with a generated host key.
type SSHD struct {
	Addr string // HOST:PORT, 127.0.0.1:PORT by default
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

	proc *Process
	bin  string      // the sshd binary, for Start
	opts SSHDOptions // as started, for Start
}

// SSHDOptions change the server StartSSHD runs.
type SSHDOptions struct {
	// ListenHost is the address sshd listens on; 127.0.0.1 if empty.
	ListenHost string
	// Netns runs sshd inside this network namespace (ip netns exec),
	// listening on ListenHost there. Its port is picked free on this
	// namespace's loopback; a taken one is retried.
	Netns string
	// Ciphers, if set, are the ciphers sshd offers, comma-separated
	// ("aes128-gcm@openssh.com", say): a benchmark fixes the one it
	// measures.
	Ciphers string
	// PermitOpen, if set, are the only host:port targets port forwarding
	// may reach.
	PermitOpen []string
	// ClientKey, if set, is a private key file (its public half beside it,
	// as KEY.pub) that authorized_keys accepts instead of a key generated
	// for this server: two servers, a jump host and the one behind it, can
	// then take the same key.
	ClientKey string
	// LogLevel is sshd's LogLevel, INFO if empty; DEBUG1 logs each
	// direct-tcpip channel with its target.
	LogLevel string
}

// Close stops sshd and the connections it serves, and waits for it. sshd
// leaves a connection's process running when it stops (each is a session
// of its own, as a restart over SSH needs), which for a test would keep
// the client connected to a server that is gone: those are killed too.
func (s *SSHD) Close() error {
	conns := childPIDs(s.proc.Pid())
	err := s.proc.Stop()
	for _, pid := range conns {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return err
}

// childPIDs lists pid's children, from /proc; none where there is no
// /proc.
func childPIDs(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b)[i+1:])
		if i < 0 || len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		if child, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
			out = append(out, child)
		}
	}
	return out
}

// Start runs sshd again after Close, on the same port with the same keys
// and config, and waits until it listens: a server that restarts. A
// process still holding the port fails it.
func (s *SSHD) Start(ctx context.Context) error {
	if !s.proc.Exited() {
		return fmt.Errorf("fwdtest: sshd on %s is running: Close it first", s.Addr)
	}
	srv, err := s.serve(ctx, s.bin, s.opts, s.Port)
	if err != nil {
		return err
	}
	s.proc = srv.proc
	return nil
}

// SSHArgs returns the ssh options to log in to this server at addr
// (host:port, which may be a forward): the client key, the known_hosts file
// with strict checking, no config file, no agent, batch mode.
func (s *SSHD) SSHArgs(addr string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	return []string{"-F", "/dev/null", "-p", port, "-i", s.ClientKey,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + s.KnownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR", "-l", s.User, host}, nil
}

// StartSSHD generates a host key and a client key under dir/sshd and runs
// /usr/sbin/sshd -D -e on a free port of 127.0.0.1 (or as opts say). As root
// it creates /run/sshd, the privilege separation directory sshd requires.
func StartSSHD(ctx context.Context, dir string, opts SSHDOptions, start ...StartOption) (*SSHD, error) {
	bin, err := LookPath("sshd")
	if err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	s := &SSHD{Dir: filepath.Join(dir, "sshd"), User: u.Username, ClientKey: opts.ClientKey}
	if err := s.makeKeys(ctx); err != nil {
		return nil, err
	}
	if opts.ListenHost == "" {
		opts.ListenHost = "127.0.0.1"
	}
	return withPorts(newStartConfig(start), 1, []string{"tcp"}, func(ports []int) (*SSHD, error) {
		return s.serve(ctx, bin, opts, ports[0])
	})
}

// makeKeys generates the host and client keys in s.Dir, and the files
// that trust them: authorized_keys and known_hosts.
func (s *SSHD) makeKeys(ctx context.Context) error {
	keygen, err := LookPath("ssh-keygen")
	if err != nil {
		return err
	}
	if err := s.makeDirs(); err != nil {
		return err
	}
	keys := []string{s.hostKeyPath()}
	if s.ClientKey == "" {
		s.ClientKey = filepath.Join(s.Dir, "client_ed25519")
		keys = append(keys, s.ClientKey)
	}
	for _, k := range keys {
		if _, err := runQuiet(ctx, nil, baseEnv(), keygen, "-q", "-t", "ed25519", "-N", "", "-C", "fwd-testservers", "-f", k); err != nil {
			return err
		}
	}
	if err := s.authorize(); err != nil {
		return fmt.Errorf("fwdtest: sshd: %w", err)
	}
	return nil
}

// makeDirs makes s.Dir and, as root, /run/sshd, the privilege separation
// directory sshd refuses to start without.
func (s *SSHD) makeDirs() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("fwdtest: sshd: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return fmt.Errorf("fwdtest: sshd: %w", err)
		}
	}
	return nil
}

// authorize writes authorized_keys with the client key and known_hosts
// with the host key, for any address, and sets HostKey and KnownHosts.
func (s *SSHD) authorize() error {
	hostPub, err := os.ReadFile(s.hostKeyPath() + ".pub")
	if err != nil {
		return err
	}
	clientPub, err := os.ReadFile(s.ClientKey + ".pub")
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.authorizedKeysPath(), clientPub, 0o600); err != nil {
		return err
	}
	s.HostKey = strings.TrimSpace(string(hostPub))
	if f := strings.Fields(s.HostKey); len(f) >= 2 {
		s.HostKey = f[0] + " " + f[1]
	}
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	return os.WriteFile(s.KnownHosts, []byte("* "+s.HostKey+"\n"), 0o600)
}

func logLevel(l string) string {
	if l == "" {
		return "INFO"
	}
	return l
}

func (s *SSHD) hostKeyPath() string        { return filepath.Join(s.Dir, "host_ed25519") }
func (s *SSHD) authorizedKeysPath() string { return filepath.Join(s.Dir, "authorized_keys") }

// serve runs sshd on port and waits until it listens; it returns a copy of
// s for that server.
func (s *SSHD) serve(ctx context.Context, bin string, opts SSHDOptions, port int) (*SSHD, error) {
	confPath := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(s.config(opts, port)), 0o600); err != nil {
		return nil, fmt.Errorf("fwdtest: sshd: %w", err)
	}
	argv := []string{bin, "-D", "-e", "-f", confPath}
	if opts.Netns != "" {
		// ip netns exec execs sshd itself: the pid, signals and process
		// group are sshd's.
		argv = append([]string{"ip", "netns", "exec", opts.Netns}, argv...)
	}
	logPath := filepath.Join(s.Dir, "sshd.log")
	proc, err := StartProcess("sshd", ProcessOptions{LogPath: logPath, Env: baseEnv(), OwnGroup: true}, argv...)
	if err != nil {
		return nil, err
	}
	// sshd logs this line to stderr (our log) once it is bound.
	listening := fmt.Sprintf("Server listening on %s port %d", opts.ListenHost, port)
	if err := proc.WaitReady(ctx, func() (bool, error) {
		return proc.LogContains(listening), nil
	}); err != nil {
		return nil, err
	}
	srv := *s
	srv.Addr, srv.Port, srv.proc = net.JoinHostPort(opts.ListenHost, strconv.Itoa(port)), port, proc
	srv.bin, srv.opts = bin, opts
	return &srv, nil
}

// config is sshd_config for one server: key login only, as the user
// running it, with the options opts asks for.
func (s *SSHD) config(opts SSHDOptions, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `ListenAddress %s
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
LogLevel %s
Subsystem sftp internal-sftp
`, net.JoinHostPort(opts.ListenHost, strconv.Itoa(port)), s.hostKeyPath(), filepath.Join(s.Dir, "sshd.pid"), s.authorizedKeysPath(), logLevel(opts.LogLevel))
	if opts.Ciphers != "" {
		fmt.Fprintf(&b, "Ciphers %s\n", opts.Ciphers)
	}
	if len(opts.PermitOpen) > 0 {
		fmt.Fprintf(&b, "PermitOpen %s\n", strings.Join(opts.PermitOpen, " "))
	}
	return b.String()
}
