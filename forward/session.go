package forward

import (
	"io"
	"net"

	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// session is one connection that carries a client's forwards: a fwd
// gateway's tunnel (tlsSession) or an SSH connection (sshSession). The link
// keeps one up; carry and the UDP flows open a stream on it for each local
// connection or flow.
type session interface {
	// Catalog is what may be forwarded through this session.
	Catalog() catalog.Catalog
	// HostnameSuffixes are those that catalog hostnames may be written under.
	HostnameSuffixes() []string
	// Updates receives when the catalog changed during the session (a
	// gateway pushed a new one); nil when it never does.
	Updates() <-chan struct{}
	// Done is closed when the session has ended.
	Done() <-chan struct{}
	// GoingAway is closed when new streams should go to a new session
	// (and when the session has ended).
	GoingAway() <-chan struct{}
	// Err says why the session ended; nil while it runs.
	Err() error
	Close() error
	// Open starts a stream to t.
	Open(t tunnel.Target) (stream, error)
}

// stream carries one local connection (Relay) or one UDP flow (its
// datagrams written and read as tunnel.AppendDatagram frames them).
type stream interface {
	io.ReadWriteCloser
	Relay(conn net.Conn, o tunnel.RelayOptions) error
}

// tlsSession is a gateway's tunnel as a session. It is one pointer, so that
// holding it as a session costs no allocation, and Open hands the
// *tunnel.Stream on as it is: the TLS path does what it did before there
// was more than one kind of session.
type tlsSession struct{ *tunnel.Session }

func (s tlsSession) Open(t tunnel.Target) (stream, error) {
	st, err := s.Session.Open(t)
	if err != nil {
		return nil, err // not st: a nil *tunnel.Stream would be a non-nil stream
	}
	return st, nil
}

var (
	_ session = tlsSession{}
	_ stream  = (*tunnel.Stream)(nil)
)
