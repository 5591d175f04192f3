package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/internal/relay"
	"github.com/fwd-dev/fwd/internal/retry"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// handshakeTimeout bounds the TLS handshake and login of a new session, so
// that connections that never speak cannot pile up.
const handshakeTimeout = 10 * time.Second

// Gateway serves fwd sessions: it checks tokens, hands out the catalog and
// dials catalog targets for data streams. Set the fields before Serve.
type Gateway struct {
	Config *GatewayConfig
	TLS    *tls.Config
	Logger *slog.Logger
	// Dial makes connections to targets; nil means net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Observer, if set, is told of sessions, streams, bytes, failed dials
	// and failed logins, for metrics.
	Observer Observer

	// live is the config Reload installed; nil until then, when Config
	// is the one served.
	live atomic.Pointer[GatewayConfig]

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*mux.Session]*session
	sshConns  map[*sshConn]struct{} // logged-in SSH connections (sshgateway.go)
	// sshReserved counts SSH logins that proved their key and are not
	// yet in sshConns: they count in MaxSessions.
	sshReserved int
	closing     bool
	draining    atomic.Bool // Shutdown started: new streams are refused
	wg          sync.WaitGroup
	next        sync.Map // target round-robin cursors, *atomic.Uint32 per portKey
	logins      loginLimiter
	handshakes  handshakeGate
	turned      atomic.Int64 // connections refused at the handshake caps since the last log line
	turnedLog   atomic.Int64 // when that line was logged, unix ns
	exposes     exposeHub    // published local ports (exposegw.go)
	edges       []*http.Server
}

// ErrGatewayClosed is returned by Serve after Shutdown.
var ErrGatewayClosed = errors.New("tunnel: gateway closed")

// Serve accepts sessions on ln until Shutdown. ln carries plain TCP; Serve
// does the TLS. When accepting fails (out of file descriptors, say), Serve
// waits, 5 ms doubling up to 1 s, and tries again; only a closed listener
// ends it.
func (g *Gateway) Serve(ln net.Listener) error { return g.serveListener(ln, g.serveConn) }

// serveListener is the accept loop of Serve and ServeSSH: each connection
// is admitted and handed to serve, which is told its source address.
func (g *Gateway) serveListener(ln net.Listener, serve func(conn net.Conn, source string)) error {
	if !g.track(ln) {
		return ErrGatewayClosed
	}
	defer g.untrack(ln)
	err := retry.AcceptLoop(ln, nil, func(conn net.Conn) { g.admit(conn, serve) }, func(err error) {
		if err != nil {
			g.logger().Warn("accept failed; retrying with backoff", "listen", ln.Addr().String(), "err", err)
		} else {
			g.logger().Info("accepting again", "listen", ln.Addr().String())
		}
	})
	if g.isClosing() {
		return ErrGatewayClosed
	}
	return fmt.Errorf("tunnel: accept: %w", err)
}

// admit serves conn on a goroutine of its own, unless the handshake caps
// are reached or Shutdown has begun (which closes the listener, ending the
// accept loop). serve leaves the handshake gate once the login is over.
func (g *Gateway) admit(conn net.Conn, serve func(conn net.Conn, source string)) {
	source := remoteIP(conn)
	limits := g.limits()
	if !g.handshakes.enter(source, limits.MaxHandshakes, limits.MaxHandshakesPerSource) {
		// Closed before TLS or SSH: a flood of connections that never
		// speak costs the gateway one accept each, not a descriptor held
		// for the handshake timeout.
		conn.Close()
		g.turnedAway(source)
		g.observer().HandshakeTurnedAway()
		return
	}
	if !g.startConn() {
		g.handshakes.leave(source)
		conn.Close()
		return
	}
	go func() {
		defer g.wg.Done()
		serve(conn, source)
	}()
}

// limits are the config's limits, defaults filled in for a config built in
// code without them.
func (g *Gateway) limits() Limits { return g.config().Limits.withDefaults() }

// config is the config served now: the last one Reload installed, else
// Config.
func (g *Gateway) config() *GatewayConfig {
	if c := g.live.Load(); c != nil {
		return c
	}
	return g.Config
}

// turnedAway logs connections refused at the handshake caps: the first at
// once, then at most one line a minute with how many more there were.
func (g *Gateway) turnedAway(source string) {
	n := g.turned.Add(1)
	now := time.Now().UnixNano()
	last := g.turnedLog.Load()
	if now-last < int64(time.Minute) || !g.turnedLog.CompareAndSwap(last, now) {
		return
	}
	g.turned.Store(0)
	limits := g.limits()
	g.logger().Warn("refusing connections at the handshake limit: too many not logged in yet",
		"source", source, "refused", n, "max_handshakes", limits.MaxHandshakes, "max_handshakes_per_source", limits.MaxHandshakesPerSource)
}

// startConn counts a new connection unless Shutdown has begun: adding to the
// WaitGroup under the lock that Shutdown sets closing with means no Add can
// race with Shutdown's Wait.
func (g *Gateway) startConn() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.wg.Add(1)
	return true
}

// discardLogger stands in for a nil Gateway.Logger; made once, not per call.
var discardLogger = slog.New(slog.DiscardHandler)

func (g *Gateway) logger() *slog.Logger {
	if g.Logger == nil {
		return discardLogger
	}
	return g.Logger
}

func (g *Gateway) track(ln net.Listener) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	if g.listeners == nil {
		g.listeners = map[net.Listener]struct{}{}
		g.sessions = map[*mux.Session]*session{}
		g.sshConns = map[*sshConn]struct{}{}
	}
	g.listeners[ln] = struct{}{}
	return true
}

func (g *Gateway) untrack(ln net.Listener) {
	g.mu.Lock()
	delete(g.listeners, ln)
	g.mu.Unlock()
}

func (g *Gateway) isClosing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}

// addSession registers a session unless the gateway is closing or full.
func (g *Gateway) addSession(s *mux.Session, sess *session) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return ErrGatewayClosed
	}
	if err := g.roomLocked(); err != nil {
		return err
	}
	g.sessions[s] = sess
	return nil
}

// roomLocked says whether one more session fits under MaxSessions: TLS
// sessions and SSH connections count alike. g.mu is held.
func (g *Gateway) roomLocked() error {
	if max := g.limits().MaxSessions; len(g.sessions)+len(g.sshConns)+g.sshReserved >= max {
		return fmt.Errorf("gateway has reached its limit of %d sessions", max)
	}
	return nil
}

func (g *Gateway) removeSession(s *mux.Session) {
	g.mu.Lock()
	delete(g.sessions, s)
	g.mu.Unlock()
}

// Shutdown stops accepting sessions (on every listener, TLS and SSH),
// sends every session a GoAway (clients then open new streams elsewhere:
// see Session.GoingAway) and refuses new streams with StatusLimit (and new
// SSH channels), lets open streams finish until ctx is done, then closes
// every session and SSH connection. It returns ctx.Err() if it had to cut
// streams short.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	g.draining.Store(true)
	for ln := range g.listeners {
		ln.Close()
	}
	for s := range g.sessions {
		s.GoAway()
	}
	g.mu.Unlock()
	edgesDone := make(chan struct{})
	go func() { g.shutdownEdges(ctx); close(edgesDone) }()
	defer func() { <-edgesDone }()

	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if g.idle() {
			g.closeSessions()
		}
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			g.closeSessions()
			<-done
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// idle reports whether no session has a data stream open, nor any SSH
// connection a channel.
func (g *Gateway) idle() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.sessions {
		if s.NumStreams() > 1 { // the control stream stays open
			return false
		}
	}
	for c := range g.sshConns {
		if c.busy() {
			return false
		}
	}
	return true
}

func (g *Gateway) closeSessions() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.sessions {
		s.Close()
	}
	for c := range g.sshConns {
		c.conn.Close()
	}
}

// serveConn serves one connection that entered the handshake gate from
// source; it leaves the gate once the login is over.
func (g *Gateway) serveConn(raw net.Conn, source string) {
	loggedIn := sync.OnceFunc(func() { g.handshakes.leave(source) })
	defer loggedIn()
	log := g.logger().With("remote", raw.RemoteAddr().String())
	tlsConf, servedCert := recordCertificate(g.TLS)
	conn := tls.Server(raw, tlsConf)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		log.Debug("TLS handshake failed", "err", err)
		raw.Close()
		g.observer().LoginFailed(TransportTLS, LoginHandshake)
		return
	}
	ms := mux.Server(conn, muxConfig(g.maxStreams()+streamSlack))
	defer ms.Close()
	// Until the welcome, the control stream is the only stream there is:
	// any other is reset at once, so a client that has not logged in
	// cannot make the gateway buffer anything for it.
	control := make(chan *mux.Stream, 1)
	var opened atomic.Bool
	ms.SetHandler(func(st *mux.Stream) {
		if opened.CompareAndSwap(false, true) {
			control <- st
			return
		}
		st.Reset()
	})
	binding := func() ([]byte, error) { return sessionBinding(conn.ConnectionState(), *servedCert) }
	sess, err := g.login(ctx, ms, control, source, binding)
	if err != nil {
		// Counted before the client is told: it may look at the metrics
		// as soon as it has read its refusal.
		log.Info("login failed", "err", err)
		g.observer().LoginFailed(TransportTLS, loginReason(err))
		sendRefusal(err)
		lingerAfterRefusal(ms) // holding the source's handshake slot
		loggedIn()
		return
	}
	loggedIn()
	// Register before welcoming: a client told it is in must be in.
	if err := g.addSession(ms, sess); err != nil {
		log.Warn("session refused", "err", err)
		g.sessionRefused(TransportTLS, err)
		sess.refuse(codeLimit, err.Error())
		lingerAfterRefusal(ms)
		return
	}
	defer g.removeSession(ms)
	log = log.With(sess.principal().logAttrs()...)
	sess.log = log
	// Data streams are taken from before the welcome goes out: the client
	// may open one as soon as it has read it.
	wait := g.serveStreams(ms, sess, log)
	if err := g.welcome(sess); err != nil {
		log.Info("login failed", "err", err)
		g.observer().LoginFailed(TransportTLS, LoginHandshake)
		ms.Close()
		wait()
		return
	}
	log.Info("session started")
	g.observer().SessionStarted(TransportTLS)
	defer g.observer().SessionEnded(TransportTLS)
	defer g.dropExposures(sess)
	wait()
	log.Info("session ended", "err", ms.Err())
}

// refusalLinger bounds how long a refused client may take to hang up.
const refusalLinger = time.Second

// lingerAfterRefusal waits, up to refusalLinger, for a refused client to
// read why and hang up first, the session's receive loop reading what it
// still sends. Closing at once, with its next frames (a ping, a window
// update) unread, makes the kernel answer them with a reset, which can
// reach the client before it has read the refusal: it would then be told
// that the session closed instead of why it was refused.
func lingerAfterRefusal(ms *mux.Session) {
	t := time.NewTimer(refusalLinger)
	defer t.Stop()
	select {
	case <-ms.CloseChan():
	case <-t.C:
	}
}

// clientCatalog is the catalog who may see, without targets, with the
// values of the secrets its resources' env templates use: read now, so a
// rotated secret file takes effect at the next login. A secret that
// cannot be read is left out with a warning (naming the secret, never a
// value); the client then says which one is missing.
func (g *Gateway) clientCatalog(who principal, log *slog.Logger) catalog.Catalog {
	cat := g.config().Catalog.Filter(who.Allows)
	for i := range cat.Projects {
		p := &cat.Projects[i]
		for _, rs := range [][]catalog.Resource{p.Services, p.Addons} {
			for j := range rs {
				rs[j].Secrets = g.secretsFor(&rs[j], log)
			}
		}
	}
	return cat
}

// secretsFor reads the secrets r's env templates use.
func (g *Gateway) secretsFor(r *catalog.Resource, log *slog.Logger) map[string]string {
	var out map[string]string
	for key, text := range r.Env {
		names, err := catalog.SecretsIn(key, text)
		if err != nil {
			continue // the client reports the broken template
		}
		for _, name := range names {
			src, ok := g.config().Secrets[name]
			if !ok {
				continue
			}
			v, err := src.Value()
			if err != nil {
				log.Warn("secret not sent: cannot read it", "secret", name, "resource", r.ID().String(), "err", err)
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

// streamSlack is how many streams over MaxStreamsPerSession the mux lets a
// client open before resetting them: streams past the limit get a
// StatusLimit reply from the gateway, and a closed stream takes a moment to
// leave the mux.
const streamSlack = 1024

func (g *Gateway) maxStreams() int { return g.limits().MaxStreamsPerSession }

// session is a logged-in client.
type session struct {
	who     atomic.Pointer[principal] // a reload may narrow or widen it
	control net.Conn
	streams chan struct{} // semaphore: one slot per open data stream
	mux     *mux.Session
	log     *slog.Logger

	// send serialises what the gateway writes on the control stream once
	// the session is registered: the welcome, then catalog pushes and a
	// refusal after a reload. sent is the catalog the client holds (as
	// JSON), nil before the welcome.
	send    sync.Mutex
	sent    []byte
	revoked bool // a reload ended the login: the session is ending

	br     *bufio.Reader // the control stream, read after the login too
	expose bool          // the hello offered featureExpose

	refusal *controlMsg // a failed login's, sent by sendRefusal
}

func (s *session) principal() principal { return *s.who.Load() }

// welcome sends the catalog the session's principal may see, with the
// suffixes its hostnames may be written under; the session is then live.
// It reads the config under s.send, as a reload's push does, so that
// whichever comes second sends the config that is current.
func (g *Gateway) welcome(s *session) error {
	s.send.Lock()
	defer s.send.Unlock()
	cfg := g.config()
	cat := g.clientCatalog(s.principal(), s.log)
	body, err := json.Marshal(&cat)
	if err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	m := &controlMsg{Type: msgWelcome, Version: Version, Catalog: &cat, HostnameSuffixes: cfg.HostnameSuffixes}
	if s.expose {
		m.Features = []string{featureExpose}
	}
	if err := writeControl(s.control, m); err != nil {
		return fmt.Errorf("send welcome: %w", err)
	}
	s.sent = body
	return s.control.SetDeadline(time.Time{})
}

func (s *session) refuse(code, msg string) {
	s.refuseMsg(&controlMsg{Type: msgError, Code: code, Message: msg})
}

func (s *session) refuseMsg(m *controlMsg) {
	s.control.SetWriteDeadline(time.Now().Add(time.Second))
	writeControl(s.control, m)
}

// refuseLogin keeps the refusal of a login for sendRefusal, which sends it
// once the failure is logged and counted.
func (s *session) refuseLogin(code, msg string) {
	s.refusal = &controlMsg{Type: msgError, Code: code, Message: msg}
}

// loginRefused is login's failure with its reason, carrying what the
// session will tell the client, if anything.
func (s *session) loginRefused(reason string, err error) error {
	return &loginFailure{reason: reason, err: err, refused: s}
}

// sendRefusal tells the client of a failed login why, if login said
// anything to tell.
func sendRefusal(err error) {
	var f *loginFailure
	if errors.As(err, &f) && f.refused != nil && f.refused.refusal != nil {
		f.refused.refuseMsg(f.refused.refusal)
	}
}

func (g *Gateway) login(ctx context.Context, ms *mux.Session, opened <-chan *mux.Stream, source string, binding func() ([]byte, error)) (*session, error) {
	var control net.Conn
	select {
	case st := <-opened:
		control = st
	case <-ms.CloseChan():
		return nil, fmt.Errorf("no control stream: %w", ms.Err())
	case <-ctx.Done():
		return nil, errors.New("no control stream before the handshake timeout")
	}
	deadline, _ := ctx.Deadline()
	control.SetDeadline(deadline)
	br := bufio.NewReaderSize(control, 512)
	hello, err := readControl(br)
	if err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	s := &session{control: control, br: br, expose: hasFeature(hello.Features, featureExpose)}
	if hello.Type != msgHello || hello.Version != Version {
		s.refuseLogin(codeVersion, fmt.Sprintf("gateway speaks protocol version %d; upgrade fwd on the older side", Version))
		return nil, s.loginRefused(LoginVersion, fmt.Errorf("hello version %d type %q", hello.Version, hello.Type))
	}
	// Charged before the token or key is checked, so that attempts made at
	// once cannot all be checked before the first failure counts. A source
	// that must wait is told so, and its token or keys are not looked at.
	if wait := g.logins.attempt(source); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		s.refusal = &controlMsg{Type: msgError, Code: codeThrottled, RetryAfter: secs,
			Message: fmt.Sprintf("too many failed logins from %s: try again in %ds", source, secs)}
		return nil, s.loginRefused(LoginRateLimited, fmt.Errorf("too many failed logins from %s: %ds to wait", source, secs))
	}
	who, err := g.authenticate(s, hello, br, binding)
	if err != nil {
		return nil, s.loginRefused(credentialsRefused(hello, err), err)
	}
	g.logins.succeeded(source)
	s.who.Store(&who)
	s.mux = ms
	s.log = g.logger()
	s.streams = make(chan struct{}, g.maxStreams())
	return s, nil
}

// serveStreams serves the session's data streams from now on; the returned
// wait blocks until the session has ended and its streams are done.
func (g *Gateway) serveStreams(ms *mux.Session, s *session, log *slog.Logger) (wait func()) {
	go g.readControlLoop(s)
	var (
		mu     sync.Mutex
		closed bool
		wg     sync.WaitGroup
	)
	// Each data stream starts from the session's receive loop, its header
	// already readable: no hand-off through Accept.
	ms.SetHandler(func(st *mux.Stream) {
		mu.Lock()
		if closed {
			mu.Unlock()
			st.Reset()
			return
		}
		wg.Add(1)
		mu.Unlock()
		switch {
		case g.draining.Load():
			go refuseStream(st, StatusLimit, "gateway shutting down", wg.Done)
		case s.tryTakeSlot():
			g.startStream(st, s, log, wg.Done)
		default:
			go g.waitForSlot(st, s, log, wg.Done)
		}
	})
	return func() {
		<-ms.CloseChan()
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	}
}

// streamSlotWait is how long a stream over the session's limit waits for a
// slot before it is refused. The client's FIN of a connection its app has
// just closed can reach the gateway a moment after the app's next
// connection: the limit should count what the app holds open, not that
// skew.
const streamSlotWait = time.Second

func (s *session) tryTakeSlot() bool {
	select {
	case s.streams <- struct{}{}:
		return true
	default:
		return false
	}
}

// startStream serves st, which holds a slot, on a goroutine of its own.
// The slot is held while the client has the stream open: it is freed when
// the client's FIN or RST arrives (in frame order, before its next stream's
// SYN) or the stream ends, whichever comes first. The mux's own cap (the
// limit plus streamSlack) bounds streams the client has finished with but
// whose target still sends.
func (g *Gateway) startStream(st *mux.Stream, s *session, log *slog.Logger, finished func()) {
	release := sync.OnceFunc(func() { <-s.streams })
	st.OnPeerDone(release)
	go g.serveStream(st, s, log, func() {
		release()
		finished()
	})
}

// waitForSlot serves st once a slot frees within streamSlotWait, and
// refuses it otherwise.
func (g *Gateway) waitForSlot(st *mux.Stream, s *session, log *slog.Logger, finished func()) {
	t := time.NewTimer(streamSlotWait)
	defer t.Stop()
	select {
	case s.streams <- struct{}{}:
		g.startStream(st, s, log, finished)
	case <-t.C:
		refuseStream(st, StatusLimit, fmt.Sprintf("gateway limit of %d streams per session reached", cap(s.streams)), finished)
	case <-st.Session().CloseChan():
		st.Reset()
		finished()
	}
}

// refuseStream answers st with a refusal and closes it.
func refuseStream(st *mux.Stream, status Status, msg string, finished func()) {
	defer finished()
	st.Write(appendStatus(nil, status, msg))
	st.Close()
}

// serveStream handles one data stream: header, catalog check, dial, relay.
// done is called once, when the stream is finished with.
func (g *Gateway) serveStream(st *mux.Stream, s *session, log *slog.Logger, done func()) {
	if !g.startRelay(st, s, log, done) {
		done()
	}
}

// startRelay checks the stream's header and dials its target. The relay
// then runs on a goroutine of its own, which calls done when it ends, and
// startRelay returns true. Dialling grows a goroutine's stack to 8 KiB,
// which an idle relay would keep for its whole life; a fresh goroutine
// starts small.
func (g *Gateway) startRelay(st *mux.Stream, s *session, log *slog.Logger, done func()) bool {
	st.SetReadDeadline(time.Now().Add(handshakeTimeout))
	t, err := ReadHeader(st)
	if err != nil {
		st.Write(appendStatus(nil, StatusBadHeader, err.Error()))
		st.Close()
		log.Warn("bad stream header", "err", err)
		return false
	}
	st.SetReadDeadline(time.Time{})
	// A client that sent payload with the header is not waiting for the
	// status: an OK then rides in front of the target's first bytes (or
	// its FIN) instead of taking a frame of its own.
	deferOK := t.Network == "tcp" && st.Buffered() > 0
	port, status, msg := g.resolve(t, s.principal())
	if status != StatusOK {
		st.Write(appendStatus(nil, status, msg))
		st.Close()
		log.Info("stream refused", "target", t.String(), "reason", msg)
		return false
	}
	target, err := g.dial(t.Network, t.ID, port)
	if err != nil {
		msg := fmt.Sprintf("%s %s: gateway could not connect to target: %s", t.ID, portLabel(port), rootCause(err))
		st.Write(appendStatus(nil, StatusDialFailed, msg))
		st.Close()
		log.Warn("dial failed", "target", t.String(), "err", err)
		return false
	}
	if !deferOK {
		if _, err := st.Write(appendStatus(nil, StatusOK, "")); err != nil {
			target.Close()
			st.Close()
			return false
		}
	}
	switch tc := target.(type) {
	case *net.UDPConn:
		idle := g.limits().UDPFlowIdle
		g.observer().StreamOpened(TransportTLS)
		go func() {
			relayUDP(st, tc, idle, log)
			st.Close()
			g.observer().StreamClosed(TransportTLS)
			done()
		}()
	case relay.Conn:
		var c relay.Conn = st
		if deferOK {
			c = newPrefixed(st, []byte{byte(StatusOK)})
		}
		idle := g.limits().IdleTimeout
		g.observer().StreamOpened(TransportTLS)
		go func() {
			relay.PipeWith(c, tc, g.relayOptions(TransportTLS, idle))
			g.observer().StreamClosed(TransportTLS)
			done()
		}()
	default:
		target.Close()
		st.Close()
		return false
	}
	return true
}

// resolve checks a stream header against who's scope and the catalog.
// The answer is the same "not found" for a project outside the scope as
// for one that does not exist, so a login cannot probe other projects.
func (g *Gateway) resolve(t Target, who principal) (*catalog.Port, Status, string) {
	if !who.Allows(t.ID.Project) {
		return nil, StatusNotFound, fmt.Sprintf("%s: no such service or addon", t.ID)
	}
	r, err := g.config().Catalog.Lookup(t.ID)
	if err != nil {
		return nil, StatusNotFound, fmt.Sprintf("%s: no such service or addon", t.ID)
	}
	p, err := r.Port(t.Port, t.Network)
	if err != nil {
		return nil, StatusNotFound, fmt.Sprintf("%s has no %s port %d", t.ID, t.Network, t.Port)
	}
	return p, StatusOK, ""
}

// dial connects to one of the port's targets, round-robin, moving on to the
// next target when a dial fails. It only ever dials catalog addresses.
func (g *Gateway) dial(network string, id catalog.ID, p *catalog.Port) (net.Conn, error) {
	if len(p.Targets) == 0 {
		// A Kubernetes Service whose endpoints are all not ready, say.
		return nil, errNoTargets
	}
	// Keyed by what the port is, not by the *catalog.Port: a reload makes
	// new ports, and the cursor should carry on (and the map not grow).
	cur, _ := g.next.LoadOrStore(portKey{id, network, p.Port}, new(atomic.Uint32))
	start := cur.(*atomic.Uint32).Add(1) - 1
	timeout := g.limits().DialTimeout
	dial := g.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var errs []error
	for i := range len(p.Targets) {
		addr := p.Targets[(int(start)+i)%len(p.Targets)]
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		c, err := dial(ctx, network, addr)
		cancel()
		if err == nil {
			return c, nil
		}
		g.observer().DialFailed(id.Project, id.Name, int(p.Port), addr)
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// errNoTargets is a catalog port with no target to dial now.
var errNoTargets = errors.New("the port has no ready targets (no ready endpoints)")

// portKey names a catalog port across reloads, for its round-robin cursor.
type portKey struct {
	id      catalog.ID
	network string
	port    uint16
}

func portLabel(p *catalog.Port) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprintf("%d", p.Port)
}

// rootCause strips "dial tcp 10.0.0.5:80: connect:" so users read the reason
// ("connection refused"), not the private address.
func rootCause(err error) string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		if errs := joined.Unwrap(); len(errs) > 0 {
			err = errs[len(errs)-1]
		}
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
