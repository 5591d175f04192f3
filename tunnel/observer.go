package tunnel

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/internal/relay"
)

// Observer is told what a Gateway does, for metrics: set one as
// Gateway.Observer. Its methods are called on the gateway's own goroutines,
// often many at once, and must return quickly without blocking. Its
// arguments are plain strings and numbers (the transport and reason
// constants below), so that a metrics package need not import this one.
//
// A nil Gateway.Observer observes nothing and costs a nil check per event
// (and relays then count no bytes at all).
// Embed NopObserver to implement only some of the methods.
type Observer interface {
	// SessionStarted is a login that the gateway welcomed (TLS) or whose
	// SSH connection it took in; SessionEnded follows when it ends.
	SessionStarted(transport string)
	SessionEnded(transport string)
	// StreamOpened is a data stream (TLS) or direct-tcpip channel (SSH)
	// whose target was dialled; StreamClosed follows when its relay ends.
	StreamOpened(transport string)
	StreamClosed(transport string)
	// ByteCounters are where the relays of the transport's streams add the
	// bytes they move, as they write them: to the target, and from it back
	// to the client. Called once per stream; nil counters count nothing.
	// Counters that are not per stream keep a busy relay from paying more
	// than one atomic add per write, and are exact while streams are open.
	ByteCounters(transport string) (toTarget, fromTarget *atomic.Int64)
	// DialFailed is one failed attempt to connect to target, one of the
	// catalog port's addresses, for a stream to project/name:port. Its
	// labels come from the catalog, never from what a client sent.
	DialFailed(project, name string, port int, target string)
	// LoginFailed is a connection that did not log in, for one of the
	// Login* reasons.
	LoginFailed(transport, reason string)
	// HandshakeTurnedAway is a connection closed unread because the
	// handshake limits (max_handshakes, max_handshakes_per_source) were
	// reached.
	HandshakeTurnedAway()
	// CatalogReloaded is the end of a reload of the config or of the
	// catalog, err nil when the new one is served.
	CatalogReloaded(err error)
}

// The transports an Observer is told about.
const (
	TransportTLS = "tls" // fwd's own sessions over TLS (Serve)
	TransportSSH = "ssh" // stock OpenSSH clients (ServeSSH)
)

// The reasons for Observer.LoginFailed.
const (
	// LoginTokenRefused is a token the gateway does not know.
	LoginTokenRefused = "token_refused"
	// LoginSSHKeyRefused is SSH keys or certificates that log in as no
	// user, or a signature that does not verify.
	LoginSSHKeyRefused = "ssh_key_refused"
	// LoginRateLimited is a source that failed too often and must wait.
	LoginRateLimited = "rate_limited"
	// LoginVersion is a client speaking another protocol version.
	LoginVersion = "version"
	// LoginSessionLimit is a login refused because max_sessions is reached.
	LoginSessionLimit = "session_limit"
	// LoginHandshake is a connection that broke off, timed out or spoke
	// nonsense before it could be checked: TLS or SSH handshakes, a
	// missing or unreadable hello.
	LoginHandshake = "handshake"
)

// LoginFailureReasons lists every reason LoginFailed may be given, for a
// metrics package to export each at zero from the start: a rate() over a
// series that appears only at its first failure misses that failure.
func LoginFailureReasons() []string {
	return []string{LoginTokenRefused, LoginSSHKeyRefused, LoginRateLimited, LoginVersion, LoginSessionLimit, LoginHandshake}
}

// Transports lists the transports, as LoginFailureReasons lists reasons.
func Transports() []string { return []string{TransportTLS, TransportSSH} }

// NopObserver observes nothing. Embedded in an Observer, it supplies the
// methods that one leaves out, including any added later.
type NopObserver struct{}

func (NopObserver) SessionStarted(string)                                    {}
func (NopObserver) SessionEnded(string)                                      {}
func (NopObserver) StreamOpened(string)                                      {}
func (NopObserver) StreamClosed(string)                                      {}
func (NopObserver) ByteCounters(string) (toTarget, fromTarget *atomic.Int64) { return nil, nil }
func (NopObserver) DialFailed(string, string, int, string)                   {}
func (NopObserver) LoginFailed(string, string)                               {}
func (NopObserver) HandshakeTurnedAway()                                     {}
func (NopObserver) CatalogReloaded(error)                                    {}

var _ Observer = NopObserver{}

// observer is g.Observer, or one that does nothing: call sites need no
// nil check, and an empty method costs a call.
func (g *Gateway) observer() Observer {
	if g.Observer == nil {
		return NopObserver{}
	}
	return g.Observer
}

// relayOptions are relay.Options for a stream of transport: the idle
// timeout, and the observer's byte counters (a is the client's side, b
// the target).
func (g *Gateway) relayOptions(transport string, idle time.Duration) relay.Options {
	toTarget, fromTarget := g.observer().ByteCounters(transport)
	return relay.Options{Idle: idle, AtoB: toTarget, BtoA: fromTarget}
}

// loginFailure is a failed login's error with its reason for the
// observer; it prints as the error alone.
type loginFailure struct {
	reason  string
	err     error
	refused *session // holds the refusal to send, if any (sendRefusal)
}

func (e *loginFailure) Error() string { return e.err.Error() }
func (e *loginFailure) Unwrap() error { return e.err }

// failed tags err with reason, one of the Login* constants.
func failed(reason string, err error) error { return &loginFailure{reason: reason, err: err} }

// loginReason is the reason failed gave err; an error it never tagged is
// a connection that broke off before its credentials could be checked.
func loginReason(err error) string {
	var f *loginFailure
	if errors.As(err, &f) {
		return f.reason
	}
	return LoginHandshake
}

// credentialsRefused is the reason for a hello whose token or SSH keys
// were checked and refused, unless the connection broke meanwhile (a
// challenge that could not be sent, a signature never read).
func credentialsRefused(hello *controlMsg, err error) string {
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne) {
		return LoginHandshake
	}
	if hello.Token == "" && len(hello.SSHKeys) > 0 {
		return LoginSSHKeyRefused
	}
	return LoginTokenRefused
}

// reason is why an SSH login failed, from what its callbacks saw.
func (a *sshAuth) reason(err error) string {
	var authErr *ssh.ServerAuthError
	switch {
	case !errors.As(err, &authErr):
		return LoginHandshake
	case a.wait > 0:
		return LoginRateLimited
	}
	return LoginSSHKeyRefused
}

// sessionRefused tells of a login turned away at max_sessions; one that
// came in as the gateway shut down is no failure.
func (g *Gateway) sessionRefused(transport string, err error) {
	if !errors.Is(err, ErrGatewayClosed) {
		g.observer().LoginFailed(transport, LoginSessionLimit)
	}
}
