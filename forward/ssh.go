package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fwd-dev/fwd/internal/relay"
	"github.com/fwd-dev/fwd/internal/roundrobin"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// SSHVia forwards through an SSH server, any stock OpenSSH, instead of a
// fwd gateway: every local connection is a direct-tcpip channel (what ssh
// -L opens) that the server connects to one of the port's targets, taking
// turns and moving on when one fails, all over one SSH connection. The
// catalog is the caller's. UDP cannot travel over direct-tcpip: a UDP
// port's Result is an error, and the other ports are forwarded.
type SSHVia struct {
	// Dial connects and logs in to the SSH server, checking its host key.
	// It is called again for every reconnect. ctx bounds the connection
	// and login only (Options.Timeout), not the connection's life. An
	// error matching tunnel.ErrUnauthorized or tunnel.ErrUntrusted, a
	// *knownhosts.KeyError or *knownhosts.RevokedError, or a refused
	// login, ends the client on a reconnect instead of retrying, as with
	// a gateway.
	Dial func(ctx context.Context) (*ssh.Client, error)
	// Catalog is what may be forwarded, with the targets the SSH server
	// dials (see config.LoadCatalog).
	Catalog catalog.Catalog
	// HostnameSuffixes are those catalog hostnames may be written under,
	// as a gateway's hostname_suffixes.
	HostnameSuffixes []string
	// Name names the server in logs and Client.Gateway, like
	// "ssh://bastion"; "" means "ssh".
	Name string
	// KeepAlive is how often a keepalive@openssh.com request checks the
	// connection, which is dropped (and redialled) after three go
	// unanswered; zero means every 5s.
	KeepAlive time.Duration
}

const (
	sshKeepAlive       = 5 * time.Second
	sshKeepAliveMissed = 3
	// sshTargetWait bounds the server's connection to one target, as the
	// gateway's dial_timeout does by default: a target that does not
	// answer passes the turn to the next.
	sshTargetWait = 5 * time.Second
)

// errUDPOverSSH is the error of a UDP port forwarded through SSH.
var errUDPOverSSH = errors.New("UDP cannot be forwarded through SSH (direct-tcpip carries TCP only)")

func (v *SSHVia) check(gateway string) error {
	switch {
	case v.Dial == nil:
		return errors.New("forward: Options.SSH has no Dial: set it to connect to the SSH server")
	case gateway != "":
		return errors.New("forward: both Options.Gateway and Options.SSH are set: choose one")
	}
	return nil
}

func (v *SSHVia) name() string {
	if v.Name == "" {
		return "ssh"
	}
	return v.Name
}

// dialSSH connects to the SSH server within Options.Timeout.
func (c *Client) dialSSH(ctx context.Context) (session, error) {
	timeout := c.opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := c.opts.SSH.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return newSSHSession(client, c.opts.SSH, &c.targets, c.log), nil
}

// sshRefusedForGood reports whether an SSH server refused in a way that
// redialling cannot fix: a host key that is unknown, changed or revoked,
// or a login it refused.
func sshRefusedForGood(err error) bool {
	var unknown *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	// x/crypto/ssh has no error type for a refused login; its message has
	// been the same for years.
	return errors.As(err, &unknown) || errors.As(err, &revoked) ||
		strings.Contains(err.Error(), "ssh: unable to authenticate")
}

// sshSession is an SSH connection as a session. SSH has no notice of a
// server going away: GoingAway is Done.
type sshSession struct {
	client  *ssh.Client
	via     *SSHVia
	targets *roundrobin.Cursors
	log     *slog.Logger
	done    chan struct{}

	causeOnce sync.Once
	cause     error // why it ended, set before done is closed
}

func newSSHSession(client *ssh.Client, via *SSHVia, targets *roundrobin.Cursors, log *slog.Logger) *sshSession {
	s := &sshSession{client: client, via: via, targets: targets, log: log, done: make(chan struct{})}
	go s.wait()
	every := via.KeepAlive
	if every <= 0 {
		every = sshKeepAlive
	}
	go s.keepAlive(every)
	return s
}

// wait closes done when the connection ends, whoever ended it.
func (s *sshSession) wait() {
	err := s.client.Wait()
	if err == nil || errors.Is(err, io.EOF) {
		err = errors.New("the server closed the connection")
	}
	s.end(fmt.Errorf("forward: SSH connection to %s ended: %w", s.via.name(), err))
	close(s.done)
}

// end keeps the first cause given.
func (s *sshSession) end(cause error) { s.causeOnce.Do(func() { s.cause = cause }) }

// keepAlive asks the server for an answer every interval, as ssh's
// ServerAliveInterval does, and drops the connection when
// sshKeepAliveMissed intervals pass without one: a link that died without
// a reset would otherwise hold the forwards until TCP gives up, many
// minutes later. Any answer counts, OpenSSH's "unknown request" too.
func (s *sshSession) keepAlive(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	answered := make(chan struct{}, 1)
	waiting, missed := false, 0
	for {
		select {
		case <-s.done:
			return
		case <-answered:
			waiting, missed = false, 0
		case <-tick.C:
			if !waiting {
				waiting = true
				go s.ping(answered)
				continue
			}
			if missed++; missed >= sshKeepAliveMissed {
				s.end(fmt.Errorf("forward: SSH connection to %s ended: no answer to keepalives for %s", s.via.name(), time.Duration(missed)*every))
				s.client.Close()
				return
			}
		}
	}
}

// ping sends one keepalive request and reports its answer. It returns
// without one when the connection closes.
func (s *sshSession) ping(answered chan<- struct{}) {
	if _, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil); err == nil {
		select {
		case answered <- struct{}{}:
		default:
		}
	}
}

func (s *sshSession) Catalog() catalog.Catalog   { return s.via.Catalog }
func (s *sshSession) HostnameSuffixes() []string { return s.via.HostnameSuffixes }
func (s *sshSession) Done() <-chan struct{}      { return s.done }
func (s *sshSession) GoingAway() <-chan struct{} { return s.done }

// Updates is nil: a --via catalog comes from a file, read once.
func (s *sshSession) Updates() <-chan struct{} { return nil }

func (s *sshSession) Err() error {
	select {
	case <-s.done:
		return s.cause
	default:
		return nil
	}
}

func (s *sshSession) Close() error {
	s.end(fmt.Errorf("forward: SSH connection to %s closed", s.via.name()))
	return s.client.Close()
}

// Open has the server connect to one of t's targets: unlike a gateway's
// stream, it returns once the server has, so that a refused target is
// passed over for the next.
func (s *sshSession) Open(t tunnel.Target) (stream, error) {
	if t.Network != "tcp" {
		return nil, fmt.Errorf("%s %s/%d: %w", t.ID, t.Network, t.Port, errUDPOverSSH)
	}
	r, err := s.via.Catalog.Lookup(t.ID)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	p, err := r.Port(t.Port, t.Network)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	conn, err := s.targets.Dial(p, p.Targets, s.dialTarget)
	if err != nil {
		return nil, fmt.Errorf("%s port %d: the SSH server %s could not connect to the target: %w", t.ID, t.Port, s.via.name(), err)
	}
	return sshStream{conn}, nil
}

// dialTarget opens a direct-tcpip channel to addr, as ssh -L does.
func (s *sshSession) dialTarget(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sshTargetWait)
	defer cancel()
	conn, err := s.client.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return conn, nil
}

// sshStream is one direct-tcpip channel. Its Relay copies both ways, a
// goroutine each: a channel cannot push into a socket as a mux stream
// does. The socket is still waited on without a buffer, and the channel
// is read into one buffer per connection and written to the socket as it
// is, with no copy in between.
type sshStream struct{ net.Conn }

func (s sshStream) Relay(conn net.Conn, o tunnel.RelayOptions) error {
	local, ok := conn.(relay.Conn)
	if !ok {
		return fmt.Errorf("forward: relay needs a connection with CloseWrite, not %T", conn)
	}
	remote, ok := s.Conn.(relay.Conn)
	if !ok {
		return fmt.Errorf("forward: relay needs a channel with CloseWrite, not %T", s.Conn)
	}
	return relay.PipeWith(local, remote, relay.Options{Idle: o.Idle, AtoB: o.Sent, BtoA: o.Received})
}

var (
	_ session = (*sshSession)(nil)
	_ stream  = sshStream{}
)
