package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/internal/relay"
)

// ErrExposeUnsupported is returned by Session.Expose when the gateway's
// welcome did not offer exposing: a gateway older than fwd expose.
var ErrExposeUnsupported = errors.New("tunnel: this gateway cannot expose ports: it is older than fwd expose; upgrade it")

// localDialTimeout bounds dialling an exposed local port.
const localDialTimeout = 5 * time.Second

// exposeTable is a client session's exposures: requests waiting for the
// gateway's answer, and the local address of each granted one, by id.
type exposeTable struct {
	mu       sync.Mutex
	next     uint32
	pending  map[uint32]chan *controlMsg
	local    map[uint32]string
	answered map[uint32]string // the address of local that last answered
}

func (t *exposeTable) register(localAddr string) (uint32, chan *controlMsg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending, t.local, t.answered = map[uint32]chan *controlMsg{}, map[uint32]string{}, map[uint32]string{}
	}
	t.next++
	ch := make(chan *controlMsg, 1)
	t.pending[t.next] = ch
	t.local[t.next] = localAddr
	return t.next, ch
}

// answer hands the gateway's answer to the request waiting for it.
func (t *exposeTable) answer(m *controlMsg) {
	t.mu.Lock()
	ch := t.pending[m.ID]
	delete(t.pending, m.ID)
	t.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}

// awaitUnexposed returns a channel that gets the gateway's confirmation
// that exposure id is withdrawn.
func (t *exposeTable) awaitUnexposed(id uint32) chan *controlMsg {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := make(chan *controlMsg, 1)
	t.pending[id] = ch
	return ch
}

func (t *exposeTable) remove(id uint32) {
	t.mu.Lock()
	delete(t.pending, id)
	delete(t.local, id)
	delete(t.answered, id)
	t.mu.Unlock()
}

// dial connects to exposure id's local address. A name ("localhost")
// may stand for several addresses, of which the app listens on one: the
// address that answered last is tried first, so that each connection
// does not pay for the refusal of the other one.
func (t *exposeTable) dial(id uint32, addr string) (net.Conn, error) {
	t.mu.Lock()
	last := t.answered[id]
	t.mu.Unlock()
	if last != "" {
		if c, err := net.DialTimeout("tcp", last, localDialTimeout); err == nil {
			return c, nil
		}
	}
	c, err := net.DialTimeout("tcp", addr, localDialTimeout)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if _, ok := t.local[id]; ok {
		t.answered[id] = c.RemoteAddr().String()
	}
	t.mu.Unlock()
	return c, nil
}

func (t *exposeTable) lookup(id uint32) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.local[id]
	return a, ok
}

// CanExpose reports whether the gateway takes expose requests.
func (s *Session) CanExpose() bool { return s.canExpose }

// Exposure is one local port the gateway publishes on this session.
type Exposure struct {
	Grant ExposeGrant
	id    uint32
	s     *Session
}

// Expose asks the gateway to publish req.LocalAddr and waits for its
// answer: the grant, or an *ExposeError that says why not. Each public
// connection then arrives as a stream the gateway opens, which the
// session connects to req.LocalAddr, and to nothing else.
func (s *Session) Expose(ctx context.Context, req ExposeRequest) (*Exposure, error) {
	if !s.canExpose {
		return nil, ErrExposeUnsupported
	}
	if err := req.Check(); err != nil {
		return nil, &ExposeError{Code: exposeInvalid, Message: err.Error()}
	}
	if req.LocalAddr == "" {
		return nil, errors.New("tunnel: ExposeRequest.LocalAddr is empty: say which local address to connect to")
	}
	wire := req
	if req.Auth != "" {
		wire.AuthSHA256 = hashAuth(req.Auth)
	}
	id, answer := s.exposing.register(req.LocalAddr)
	if err := s.sendControl(&controlMsg{Type: msgExpose, ID: id, Expose: &wire}); err != nil {
		s.exposing.remove(id)
		return nil, fmt.Errorf("tunnel: send expose request: %w", err)
	}
	select {
	case m := <-answer:
		if m.Type == msgExposeRefused {
			s.exposing.remove(id)
			return nil, &ExposeError{Code: m.Code, Message: m.Message}
		}
		e := &Exposure{id: id, s: s}
		if m.Grant != nil {
			e.Grant = *m.Grant
		}
		return e, nil
	case <-ctx.Done():
		s.exposing.remove(id)
		return nil, ctx.Err()
	case <-s.Done():
		s.exposing.remove(id)
		return nil, fmt.Errorf("tunnel: the session ended before the gateway answered: %w", s.Err())
	}
}

// Close withdraws the exposure: the gateway stops taking public
// connections for it and releases its TCP port.
// It waits (up to 2 s) for the gateway to confirm, so that a client that
// then closes its session has had its port given back.
func (e *Exposure) Close() error {
	e.s.exposing.remove(e.id)
	done := e.s.exposing.awaitUnexposed(e.id)
	if err := e.s.sendControl(&controlMsg{Type: msgUnexpose, ID: e.id}); err != nil {
		return fmt.Errorf("tunnel: withdraw exposure: %w", err)
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-e.s.Done():
	}
	return nil
}

func (s *Session) sendControl(m *controlMsg) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.control.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return writeControl(s.control, m)
}

// serveExposed takes a stream the gateway opened for a public
// connection: it names one of this session's exposures by id, which is
// dialled at its own local address.
func (s *Session) serveExposed(st *mux.Stream) {
	go func() {
		st.SetReadDeadline(time.Now().Add(handshakeTimeout))
		id, peer, err := readExposeHeader(st)
		if err != nil {
			st.Reset()
			return
		}
		st.SetReadDeadline(time.Time{})
		addr, ok := s.exposing.lookup(id)
		if !ok {
			refuseStream(st, StatusNotFound, "this client no longer exposes that port", func() {})
			return
		}
		conn, err := s.exposing.dial(id, addr)
		if err != nil {
			refuseStream(st, StatusDialFailed, fmt.Sprintf("nothing answers on %s (%s): is the app running?", addr, rootCause(err)), func() {})
			s.log.Info("exposed port did not answer", "local", addr, "from", peer, "err", err)
			return
		}
		tc, ok := conn.(relay.Conn)
		if !ok {
			conn.Close()
			st.Reset()
			return
		}
		if _, err := st.Write(appendStatus(nil, StatusOK, "")); err != nil {
			conn.Close()
			st.Reset()
			return
		}
		s.log.Debug("public connection", "local", addr, "from", peer)
		relay.PipeWith(st, tc, relay.Options{})
	}()
}
