package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/internal/relay"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// The gateway's SSH listener (see doc.go, "SSH listener"): stock OpenSSH
// clients forward ports with ssh -N -L, logged in as the gateway's users.
const (
	// sshServerVersion is what the gateway announces; OpenSSH prints it
	// with -v.
	sshServerVersion = "SSH-2.0-fwd"
	// sshMaxAuthTries is OpenSSH's MaxAuthTries default: keys one
	// connection may try before it is cut.
	sshMaxAuthTries = 6
	// sshKeepalive is how often the gateway asks a client whether it is
	// still there, and how long it waits for the answer before it drops
	// the connection: a client whose network went away must not hold its
	// session (and its targets' connections) for ever.
	sshKeepalive = 15 * time.Second

	// Where ssh.Permissions carries who logged in, from the key check to
	// the session.
	permUser      = "fwd-user"
	permAuth      = "fwd-auth"
	permNoForward = "fwd-no-port-forwarding"
	permKey       = "fwd-key" // the key that logged in, wire format, for reloads
)

// ServeSSH accepts SSH connections on ln until Shutdown, serving the
// config's users (public keys and user certificates; never tokens or
// passwords) with direct-tcpip channels to catalog targets in their
// projects: what ssh -N -L 5432:db.shop:5432 asks for. hostKey is the
// gateway's SSH host key. Login rate limits, handshake caps, MaxSessions
// and MaxStreamsPerSession are shared with Serve's TLS sessions. Like
// Serve, it waits out failures to accept and returns ErrGatewayClosed
// after Shutdown.
func (g *Gateway) ServeSSH(ln net.Listener, hostKey ssh.Signer) error {
	if hostKey == nil {
		return errors.New("tunnel: ServeSSH needs a host key")
	}
	return g.serveListener(ln, func(conn net.Conn, source string) {
		g.serveSSHConn(conn, source, hostKey)
	})
}

// sshConn is one logged-in SSH connection, registered with the gateway
// so that MaxSessions counts it and Shutdown ends it.
type sshConn struct {
	conn    *ssh.ServerConn
	who     atomic.Pointer[principal] // a reload may narrow or widen it
	forward bool                      // the login may forward ports (a certificate may say not)
	streams chan struct{}             // semaphore: one slot per relayed channel
}

// busy reports whether a channel is being relayed: Shutdown lets those
// finish within its grace period.
func (c *sshConn) busy() bool { return len(c.streams) > 0 }

// addSSHConn registers a logged-in connection in the place its login
// reserved (reserveSession).
func (g *Gateway) addSSHConn(c *sshConn) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sshReserved--
	if g.closing {
		return ErrGatewayClosed
	}
	g.sshConns[c] = struct{}{}
	return nil
}

func (g *Gateway) removeSSHConn(c *sshConn) {
	g.mu.Lock()
	delete(g.sshConns, c)
	g.mu.Unlock()
}

// reserveSession holds a place under MaxSessions for an SSH login that
// has proved its key, from before its client hears that it is in until
// its connection is registered (addSSHConn) or its handshake fails
// (unreserveSession): logins that finish at once cannot all pass the
// check, and a client that is in is counted before it can dial again.
func (g *Gateway) reserveSession() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.roomLocked(); err != nil {
		return err
	}
	g.sshReserved++
	return nil
}

func (g *Gateway) unreserveSession() {
	g.mu.Lock()
	g.sshReserved--
	g.mu.Unlock()
}

// serveSSHConn serves one connection that entered the handshake gate from
// source: the SSH handshake and login, then its channels until it ends.
func (g *Gateway) serveSSHConn(raw net.Conn, source string, hostKey ssh.Signer) {
	log := g.logger().With("remote", raw.RemoteAddr().String(), "transport", "ssh")
	conn, chans, reqs, err := g.sshHandshake(raw, source, hostKey)
	if err != nil {
		log.Info("ssh login failed", "err", err)
		g.observer().LoginFailed(TransportSSH, loginReason(err))
		return
	}
	defer conn.Close()
	c := g.sshSession(conn)
	if err := g.addSSHConn(c); err != nil {
		log.Warn("ssh session refused", "err", err)
		g.sessionRefused(TransportSSH, err)
		return
	}
	defer g.removeSSHConn(c)
	log = log.With(c.who.Load().logAttrs()...)
	log.Info("ssh session started")
	g.observer().SessionStarted(TransportSSH)
	defer g.observer().SessionEnded(TransportSSH)
	ctx, cancel := context.WithCancel(context.Background())
	go serveGlobalRequests(reqs, log)
	go keepAlive(ctx, conn, sshKeepalive)
	var relays sync.WaitGroup
	for nc := range chans {
		g.sshChannel(ctx, nc, c, log, &relays)
	}
	// The connection is gone: relays still waiting on a silent target are
	// cut (see relaySSH), so that Shutdown never waits on one.
	cancel()
	relays.Wait()
	log.Info("ssh session ended", "err", sessionEnd(conn.Wait()))
}

// sessionEnd is how a connection ended, for the log: nil when the client
// closed it.
func sessionEnd(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// sshSession is the logged-in connection, as its login's permissions say.
func (g *Gateway) sshSession(conn *ssh.ServerConn) *sshConn {
	ext := conn.Permissions.Extensions
	c := &sshConn{conn: conn, streams: make(chan struct{}, g.maxStreams()), forward: ext[permNoForward] == ""}
	who := principal{auth: ext[permAuth], name: ext[permUser]}
	if u := findUser(g.config().Users, who.name); u != nil {
		who.projects = u.Projects
	}
	who.key, _ = ssh.ParsePublicKey([]byte(ext[permKey]))
	c.who.Store(&who)
	return c
}

func findUser(users []User, name string) *User {
	for i := range users {
		if users[i].Name == name {
			return &users[i]
		}
	}
	return nil
}

// sshHandshake runs the SSH handshake and login on raw within
// handshakeTimeout, inside the handshake gate, which it leaves when done.
func (g *Gateway) sshHandshake(raw net.Conn, source string, hostKey ssh.Signer) (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	defer g.handshakes.leave(source)
	raw.SetDeadline(time.Now().Add(handshakeTimeout))
	a := &sshAuth{g: g, source: source}
	conn, chans, reqs, err := ssh.NewServerConn(raw, a.config(hostKey))
	if err != nil {
		if a.reserved {
			a.g.unreserveSession()
		}
		raw.Close()
		return nil, nil, nil, failed(a.reason(err), a.failure(err))
	}
	raw.SetDeadline(time.Time{})
	return conn, chans, reqs, nil
}

// sshAuth is one connection's login: its callbacks run one at a time on
// the handshake's goroutine.
type sshAuth struct {
	g      *Gateway
	source string
	conn   ssh.ConnMetadata // the connection, once its login has started
	wait   time.Duration    // throttled: the source must wait this long, and no key is looked at
	why    []string         // why keys were refused, for the log
	// reserved: the login holds a place under MaxSessions
	// (reserveSession), which its connection takes or gives back.
	reserved bool
}

func (a *sshAuth) config(hostKey ssh.Signer) *ssh.ServerConfig {
	c := &ssh.ServerConfig{
		ServerVersion:             sshServerVersion,
		MaxAuthTries:              sshMaxAuthTries,
		PreAuthConnCallback:       a.start,
		PublicKeyCallback:         a.publicKey,
		VerifiedPublicKeyCallback: a.verified,
		// No password or keyboard-interactive callback: those methods are
		// not offered.
	}
	c.AddHostKey(hostKey)
	return c
}

// start charges the login against the source before any key is looked
// at, as a token login is (see Gateway.login): attempts made at once
// cannot all be checked before the first failure counts. A source that
// must wait is told so in a banner, which ssh prints, and its keys are all
// refused unchecked.
func (a *sshAuth) start(c ssh.ServerPreAuthConn) {
	a.conn = c
	if a.wait = a.g.logins.attempt(a.source); a.wait > 0 {
		c.SendAuthBanner(fmt.Sprintf("fwd gateway: too many failed logins from %s: try again in %ds\n", a.source, a.waitSeconds()))
	}
}

func (a *sshAuth) waitSeconds() int { return int((a.wait + time.Second - 1) / time.Second) }

// publicKey says whether key may log in as the user asked for. It is
// called for keys the client only asks about too; verified follows once
// the client has signed with one.
func (a *sshAuth) publicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if a.wait > 0 {
		return nil, fmt.Errorf("too many failed logins from %s: %ds to wait", a.source, a.waitSeconds())
	}
	who, err := a.g.authorizeSSHLogin(meta.User(), key, time.Now())
	if err != nil {
		a.why = append(a.why, err.Error())
		return nil, err
	}
	perms := &ssh.Permissions{Extensions: map[string]string{permUser: who.name, permAuth: who.auth, permKey: string(key.Marshal())}}
	if cert, ok := key.(*ssh.Certificate); ok {
		// As sshd does: a certificate issued without
		// permit-port-forwarding (ssh-keygen -O no-port-forwarding) logs
		// in, but forwards nothing.
		if _, ok := cert.Permissions.Extensions["permit-port-forwarding"]; !ok {
			perms.Extensions[permNoForward] = "1"
		}
	}
	return perms, nil
}

// verified runs once the client has proved it holds an accepted key: the
// login succeeded, which clears the source's failures. A gateway full of
// sessions refuses it here, where a banner can still say why.
func (a *sshAuth) verified(_ ssh.ConnMetadata, _ ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	a.g.logins.succeeded(a.source)
	if a.reserved {
		return perms, nil
	}
	if err := a.g.reserveSession(); err != nil {
		return nil, &ssh.BannerError{Err: err, Message: "fwd gateway: " + err.Error() + "\n"}
	}
	a.reserved = true
	return perms, nil
}

// failure is why the handshake failed, for the log: the reasons keys
// were refused, when there were any, rather than x/crypto's list.
func (a *sshAuth) failure(err error) error {
	var authErr *ssh.ServerAuthError
	if a.conn == nil || !errors.As(err, &authErr) {
		return fmt.Errorf("ssh handshake: %w", err)
	}
	login := a.conn.User()
	switch {
	case a.wait > 0:
		return fmt.Errorf("user %q: too many failed logins from %s: %ds to wait", login, a.source, a.waitSeconds())
	case len(a.why) > 0:
		return fmt.Errorf("user %q: %s", login, strings.Join(a.why, "; "))
	}
	return fmt.Errorf("user %q: no public key offered (the gateway takes only publickey logins)", login)
}

// authorizeSSHLogin maps an SSH login (user name and key) to a
// principal. The user name picks the user; the key must be one of theirs,
// or a certificate valid now, signed by a trusted CA, naming that user as
// a principal. A key of another user, or a certificate for other
// principals, is refused even though AuthorizeSSH would let it in as
// someone: ssh alice@ must log in as alice or not at all.
func (g *Gateway) authorizeSSHLogin(login string, key ssh.PublicKey, now time.Time) (principal, error) {
	u, err := g.config().authorizeAs(login, key, now)
	if err != nil {
		return principal{}, err
	}
	auth := "ssh-key"
	if _, ok := key.(*ssh.Certificate); ok {
		auth = "ssh-cert"
	}
	return principal{auth: auth, name: u.Name, projects: u.Projects, key: key}, nil
}

// authorizeAs is AuthorizeSSH against the user named login alone, with
// the config's CAs.
func (c *GatewayConfig) authorizeAs(login string, key ssh.PublicKey, now time.Time) (*User, error) {
	u := findUser(c.Users, login)
	if u == nil {
		return nil, fmt.Errorf("%w: %s %s: the gateway has no such user", ErrKeyNotAuthorized, key.Type(), ssh.FingerprintSHA256(key))
	}
	only := GatewayConfig{Users: []User{*u}, SSHUserCAs: c.SSHUserCAs}
	if _, err := only.AuthorizeSSH(key, now); err != nil {
		return nil, err
	}
	return u, nil
}

// serveGlobalRequests answers the connection's global requests: all with
// a failure, which is also how OpenSSH's sshd answers the
// keepalive@openssh.com of ServerAliveInterval (ssh counts any answer as
// alive). Remote forwarding (ssh -R: tcpip-forward) is never offered.
func serveGlobalRequests(reqs <-chan *ssh.Request, log *slog.Logger) {
	for r := range reqs {
		switch r.Type {
		case "tcpip-forward", "cancel-tcpip-forward", "streamlocal-forward@openssh.com", "cancel-streamlocal-forward@openssh.com":
			log.Info("ssh request refused", "request", r.Type, "reason", "remote forwarding (ssh -R) is not offered")
		}
		if r.WantReply {
			r.Reply(false, nil)
		}
	}
}

// keepAlive asks the client every interval whether it is there, and
// closes the connection when an answer takes longer than that, until ctx
// ends.
func keepAlive(ctx context.Context, conn ssh.Conn, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		dead := time.AfterFunc(interval, func() { conn.Close() })
		_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
		dead.Stop()
		if err != nil {
			return
		}
	}
}

// directTCPIP is a direct-tcpip channel's request (RFC 4254 7.2): where
// to connect, and where the client's connection came from.
type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// sshChannel answers one channel the client opens: a direct-tcpip
// channel to a catalog target in the login's projects is relayed on a
// goroutine of its own (counted in relays); anything else is refused with
// a reason, and its target, if it named one, is never dialled.
func (g *Gateway) sshChannel(ctx context.Context, nc ssh.NewChannel, c *sshConn, log *slog.Logger, relays *sync.WaitGroup) {
	if nc.ChannelType() != "direct-tcpip" {
		refuseChannel(nc, ssh.Prohibited, channelTypeRefusal(nc.ChannelType()), log)
		return
	}
	var req directTCPIP
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
		refuseChannel(nc, ssh.ConnectionFailed, "malformed direct-tcpip request", log)
		return
	}
	dest := net.JoinHostPort(req.Host, strconv.FormatUint(uint64(req.Port), 10))
	if !c.forward {
		refuseChannel(nc, ssh.Prohibited, dest+": your certificate does not permit port forwarding (it was issued without permit-port-forwarding)", log)
		return
	}
	id, port, why := g.resolveSSH(req.Host, req.Port, *c.who.Load())
	if port == nil {
		refuseChannel(nc, ssh.Prohibited, dest+": "+why, log)
		return
	}
	if g.draining.Load() {
		refuseChannel(nc, ssh.ResourceShortage, dest+": gateway shutting down", log)
		return
	}
	if !c.takeSlot(ctx) {
		refuseChannel(nc, ssh.ResourceShortage, fmt.Sprintf("%s: gateway limit of %d streams per session reached", dest, cap(c.streams)), log)
		return
	}
	relays.Add(1)
	go func() {
		defer relays.Done()
		defer func() { <-c.streams }()
		g.relaySSH(ctx, nc, id, port, dest, log)
	}()
}

// takeSlot takes a stream slot, waiting up to streamSlotWait for one, as
// a TLS session's stream does: a channel the client has just closed may
// still be ending when its next one opens.
func (c *sshConn) takeSlot(ctx context.Context) bool {
	select {
	case c.streams <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(streamSlotWait)
	defer t.Stop()
	select {
	case c.streams <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// refuseChannel logs first, so that the line is there once the client
// has heard.
func refuseChannel(nc ssh.NewChannel, reason ssh.RejectionReason, msg string, log *slog.Logger) {
	log.Info("ssh channel refused", "channel", nc.ChannelType(), "reason", msg)
	nc.Reject(reason, msg)
}

// channelTypeRefusal says why a channel of that type is refused, and
// what to use instead.
func channelTypeRefusal(typ string) string {
	switch typ {
	case "session":
		return "the fwd gateway runs no shell, command or subsystem: use ssh -N -L PORT:<name>.<project>:<port>"
	case "direct-streamlocal@openssh.com":
		return "Unix sockets are not forwarded: use -L PORT:<name>.<project>:<port>"
	}
	return fmt.Sprintf("channel type %q is not offered: the fwd gateway only forwards TCP ports (ssh -N -L PORT:<name>.<project>:<port>)", typ)
}

// resolveSSH maps a direct-tcpip destination to a catalog port of a
// resource in who's projects, or says why not. The host is the
// resource's <name>.<project> or one of its catalog hostnames, the port
// one of its TCP ports. A resource outside who's projects gets the same
// answer as one that does not exist, so that no login can probe the
// catalog beyond its scope.
func (g *Gateway) resolveSSH(host string, port uint32, who principal) (catalog.ID, *catalog.Port, string) {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if _, err := netip.ParseAddr(name); err == nil || !strings.Contains(name, ".") {
		return catalog.ID{}, nil, "not a catalog service or addon: use <name>.<project>:<port>"
	}
	r := lookupHost(&g.config().Catalog, name)
	if r == nil || !who.Allows(r.Project) {
		return catalog.ID{}, nil, "no such service or addon in your projects"
	}
	if port > 0xffff {
		return catalog.ID{}, nil, fmt.Sprintf("%s has no TCP port %d", r.Name, port)
	}
	if p, err := r.Port(uint16(port), "tcp"); err == nil {
		return r.ID(), p, ""
	}
	if _, err := r.Port(uint16(port), "udp"); err == nil {
		return catalog.ID{}, nil, fmt.Sprintf("%s's port %d is UDP, which SSH cannot forward: forward it with fwd", r.Name, port)
	}
	return catalog.ID{}, nil, fmt.Sprintf("%s has no TCP port %d (its TCP ports: %s)", r.Name, port, tcpPorts(r))
}

// lookupHost finds the resource a host name names: <name>.<project>
// (names are unique within a project), else a catalog hostname.
func lookupHost(cat *catalog.Catalog, name string) *catalog.Resource {
	if res, project, ok := strings.Cut(name, "."); ok {
		if p, err := cat.Project(project); err == nil {
			for _, kind := range []catalog.Kind{catalog.Service, catalog.Addon} {
				if r, err := p.Resource(kind, res); err == nil {
					return r
				}
			}
		}
	}
	for i := range cat.Projects {
		for _, kind := range []catalog.Kind{catalog.Service, catalog.Addon} {
			rs := cat.Projects[i].Resources(kind)
			for j := range rs {
				for _, h := range rs[j].Hostnames {
					if strings.EqualFold(h, name) {
						return &rs[j]
					}
				}
			}
		}
	}
	return nil
}

func tcpPorts(r *catalog.Resource) string {
	var ports []string
	for _, p := range r.Ports {
		if p.Protocol.Network() == "tcp" {
			ports = append(ports, strconv.Itoa(int(p.Port)))
		}
	}
	if len(ports) == 0 {
		return "none"
	}
	return strings.Join(ports, ", ")
}

// relaySSH dials one of the port's targets and relays the channel to it
// until both directions end. When ctx ends (the connection is gone) the
// target is cut: a channel's reads end with the connection, but a target
// that never speaks would otherwise hold its side open.
func (g *Gateway) relaySSH(ctx context.Context, nc ssh.NewChannel, id catalog.ID, port *catalog.Port, dest string, log *slog.Logger) {
	target, err := g.dial("tcp", id, port)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, fmt.Sprintf("%s: gateway could not connect to target: %s", dest, rootCause(err)))
		log.Warn("ssh dial failed", "target", dest, "err", err)
		return
	}
	tc, ok := target.(relay.Conn)
	if !ok {
		target.Close()
		nc.Reject(ssh.ConnectionFailed, dest+": gateway could not relay to target")
		log.Warn("ssh dial failed", "target", dest, "err", fmt.Sprintf("%T has no CloseWrite", target))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	log.Debug("ssh channel opened", "target", dest)
	g.observer().StreamOpened(TransportSSH)
	defer g.observer().StreamClosed(TransportSSH)
	stop := context.AfterFunc(ctx, func() {
		relay.Abort(tc)
		ch.Close()
	})
	defer stop()
	relay.PipeWith(channelConn{ch}, tc, g.relayOptions(TransportSSH, g.limits().IdleTimeout))
}

// channelConn is an SSH channel as internal/relay drives it: it half-closes
// (CloseWrite sends the channel's EOF), but has no deadlines.
type channelConn struct{ ssh.Channel }

// SetReadDeadline does nothing: an ssh.Channel cannot time a read out.
// The idle timeout still holds, as the relay also reads the target's
// socket with deadlines: when that read finds the connection idle, it
// aborts both ends, which ends a read blocked here.
func (channelConn) SetReadDeadline(time.Time) error { return nil }
