// Package sshdial connects to an OpenSSH server the way ssh(1) would, for
// fwd --via ssh://host: Host aliases, HostName, User, Port, IdentityFile
// and ProxyJump from ~/.ssh/config and the system's ssh_config, host keys
// checked against known_hosts (hashed entries too) with ssh's
// StrictHostKeyChecking, and jump hosts reached through each other with
// direct-tcpip. Finding the keys to log in with is the caller's
// (internal/sshkeys).
package sshdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Errors a Dial returns match one of these, or are a *HostKeyError.
var (
	ErrUnreachable = errors.New("sshdial: SSH server unreachable")
	ErrAuth        = errors.New("sshdial: SSH server refused the login")
)

// UnreachableError is a hop that could not be reached or did not finish
// the SSH handshake. It matches ErrUnreachable.
type UnreachableError struct {
	Hop   string // as Hop.String names it
	Via   string // the jump host it was dialled through, if any
	Phase string // "connecting to" or "SSH handshake with"
	Err   error
}

func (e *UnreachableError) Error() string {
	via := ""
	if e.Via != "" {
		via = " through " + e.Via
	}
	return fmt.Sprintf("sshdial: %s %s%s: %v", e.Phase, e.Hop, via, e.Err)
}

func (e *UnreachableError) Unwrap() error        { return e.Err }
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// AuthError is a hop that refused every key offered. It matches ErrAuth.
type AuthError struct {
	Hop  string
	User string
	Keys int // how many were offered
	Err  error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("sshdial: %s@%s refused the login with the %d SSH key(s) offered: %v", e.User, e.Hop, e.Keys, e.Err)
}

func (e *AuthError) Unwrap() error        { return e.Err }
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// String names a hop for messages: "bastion (10.0.0.1:22)", or
// "10.0.0.1:2222" when it was named by its address.
func (h Hop) String() string {
	if h.Alias != h.Host {
		return h.Alias + " (" + h.Addr() + ")"
	}
	return h.Addr()
}

// Dialer connects through Route's hops to the last: one SSH connection
// each, every one after the first carried by a direct-tcpip channel of the
// one before (ssh's ProxyJump).
type Dialer struct {
	Route []Hop
	// Signers are the keys to log in with, one list per hop of Route.
	Signers  [][]ssh.Signer
	HostKeys *HostKeys
}

// Dial connects and logs in to every hop. ctx bounds it all; once it
// returns, the connection lives on its own. Closing the returned client
// closes the jump hosts' connections too.
func (d *Dialer) Dial(ctx context.Context) (*ssh.Client, error) {
	if len(d.Route) == 0 || len(d.Signers) != len(d.Route) {
		return nil, errors.New("sshdial: a Dialer needs a route and keys for each hop")
	}
	var clients []*ssh.Client
	for i, hop := range d.Route {
		var prev *ssh.Client
		via := ""
		if i > 0 {
			prev, via = clients[i-1], d.Route[i-1].String()
		}
		c, err := d.hop(ctx, prev, via, hop, d.Signers[i])
		if err != nil {
			closeAll(clients)
			return nil, err
		}
		clients = append(clients, c)
	}
	last := clients[len(clients)-1]
	if jumps := clients[:len(clients)-1]; len(jumps) > 0 {
		go func() {
			last.Wait()
			closeAll(jumps)
		}()
	}
	return last, nil
}

// closeAll closes clients, the last first.
func closeAll(clients []*ssh.Client) {
	for i := len(clients) - 1; i >= 0; i-- {
		clients[i].Close()
	}
}

// hop connects to one hop, directly or through prev, and logs in.
func (d *Dialer) hop(ctx context.Context, prev *ssh.Client, via string, hop Hop, signers []ssh.Signer) (*ssh.Client, error) {
	kh, err := readKnownHosts(hop)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	conn, err := connect(ctx, prev, hop.Addr())
	if err != nil {
		return nil, &UnreachableError{Hop: hop.String(), Via: via, Phase: "connecting to", Err: timedOut(ctx, started, err)}
	}
	// x/crypto/ssh's handshake takes no context: closing the connection
	// is what ends it when ctx does, unless the user is being asked about
	// the host key, who may take longer to answer than a server may.
	var cut atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		cut.Store(true)
		conn.Close()
	})
	defer stop()
	cfg := &ssh.ClientConfig{
		User:              hop.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   d.HostKeys.callback(hop, kh, func() { stop() }),
		HostKeyAlgorithms: kh.algorithms(hop.keyName()),
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, hop.Addr(), cfg)
	if stop(); cut.Load() && err == nil {
		c.Close()
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, handshakeError(ctx, started, hop, via, len(signers), err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// connect opens the TCP connection to addr, or a direct-tcpip channel to
// it through prev.
func connect(ctx context.Context, prev *ssh.Client, addr string) (net.Conn, error) {
	if prev != nil {
		return prev.DialContext(ctx, "tcp", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", addr)
}

// handshakeError sorts a failed handshake: a host key not trusted, a
// login refused, or a server that did not finish it.
func handshakeError(ctx context.Context, started time.Time, hop Hop, via string, keys int, err error) error {
	var hk *HostKeyError
	switch {
	case errors.As(err, &hk):
		return hk
	case ctx.Err() == nil && strings.Contains(err.Error(), "ssh: unable to authenticate"):
		// x/crypto/ssh has no error type for it.
		return &AuthError{Hop: hop.String(), User: hop.User, Keys: keys, Err: err}
	}
	return &UnreachableError{Hop: hop.String(), Via: via, Phase: "SSH handshake with", Err: timedOut(ctx, started, err)}
}

// timedOut says how long it took when ctx ending was what ended err.
func timedOut(ctx context.Context, started time.Time, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("did not finish in %s: %w", time.Since(started).Round(100*time.Millisecond), ctx.Err())
}

// String writes spec back as an ssh:// URL.
func (sp Spec) String() string {
	s := sp.Host
	if sp.Port != 0 {
		s = net.JoinHostPort(sp.Host, strconv.Itoa(sp.Port))
	}
	if sp.User != "" {
		s = sp.User + "@" + s
	}
	return "ssh://" + s
}
