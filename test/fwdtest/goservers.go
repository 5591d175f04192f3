package fwdtest

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/internal/retry"
)

// GoServer is a small Go server on 127.0.0.1 (a port the OS picked).
type GoServer struct {
	Addr string

	ln        net.Listener
	http      *http.Server
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Close stops accepting, closes open connections and waits for the
// handlers.
func (s *GoServer) Close() error {
	s.closeOnce.Do(func() {
		if s.http != nil {
			s.http.Close()
		}
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return nil
}

func listenLoopback() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fwdtest: listen: %w", err)
	}
	return ln, nil
}

// Serve starts a TCP server on 127.0.0.1 that runs handle on each accepted
// connection, in its own goroutine, and closes the connection after it.
func Serve(handle func(*net.TCPConn)) (*GoServer, error) {
	ln, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	s := &GoServer{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		retry.AcceptLoop(ln, nil, func(c net.Conn) { s.handle(c, handle) }, nil)
	}()
	return s, nil
}

// handle runs one connection's handler on a goroutine of its own, tracked
// so that Close can cut it and wait for it.
func (s *GoServer) handle(c net.Conn, handle func(*net.TCPConn)) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
		handle(c.(*net.TCPConn))
	}()
}

// StartEcho starts a TCP server that sends back whatever it receives and
// half-closes when the client does.
func StartEcho() (*GoServer, error) {
	return Serve(func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
	})
}

// StartHashSink starts a TCP server that reads until the client half-closes,
// then writes the SHA-256 of everything it read as 64 hex digits and closes.
func StartHashSink() (*GoServer, error) {
	return Serve(func(c *net.TCPConn) {
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			return
		}
		io.WriteString(c, hex.EncodeToString(h.Sum(nil)))
	})
}

// HashSourceRequest is what a client of StartHashSource's server sends: the
// PRNG seed and the number of bytes wanted, big endian.
func HashSourceRequest(seed uint64, n int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, seed)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// StartHashSource starts a TCP server that reads a HashSourceRequest, sends
// n bytes of PRNG(seed), then the SHA-256 of what it sent as 64 hex digits,
// and closes.
func StartHashSource() (*GoServer, error) {
	return Serve(func(c *net.TCPConn) {
		var req [16]byte
		if _, err := io.ReadFull(c, req[:]); err != nil {
			return
		}
		seed, n := binary.BigEndian.Uint64(req[:]), int64(binary.BigEndian.Uint64(req[8:]))
		h := sha256.New()
		w := bufio.NewWriterSize(c, 256<<10)
		if _, err := io.Copy(io.MultiWriter(w, h), PRNG(seed, n)); err != nil {
			return
		}
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
		w.Flush()
	})
}

// serveHTTP serves handler with HTTP/1.1 and HTTP/2 with prior knowledge
// (h2c) on one port.
func serveHTTP(handler http.Handler) (*GoServer, error) {
	ln, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: handler, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
	s := &GoServer{Addr: ln.Addr().String(), ln: ln, http: srv}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		srv.Serve(ln)
	}()
	return s, nil
}

// StartH2Stream starts an HTTP server (HTTP/1.1 and h2c) whose POST /stream
// is a bidirectional stream, as gRPC's are: it answers at once with 200 and
// then, for every line of the request body as it arrives, writes
// "echo LINE\n" and flushes. When the body ends it sets the trailer
// X-Fwd-Lines to the number of lines. Over HTTP/1.1 it answers 505: it
// needs HTTP/2's full duplex.
func StartH2Stream() (*GoServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stream", func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "HTTP/2 required", http.StatusHTTPVersionNotSupported)
			return
		}
		w.Header().Set("Trailer", "X-Fwd-Lines")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			return
		}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		lines := 0
		for sc.Scan() {
			lines++
			if _, err := fmt.Fprintf(w, "echo %s\n", sc.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		w.Header().Set("X-Fwd-Lines", strconv.Itoa(lines))
	})
	return serveHTTP(mux)
}

// WebSocketGreeting is the text message StartWebSocketEcho's server sends
// first on every connection, before echoing anything.
const WebSocketGreeting = "hello from testservers"

// StartWebSocketEcho starts an HTTP server whose GET /ws upgrades to a
// WebSocket (RFC 6455) that sends WebSocketGreeting, then echoes every text
// and binary message with its opcode, answers pings, and answers a close
// with a close.
func StartWebSocketEcho() (*GoServer, error) {
	ln, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	// Hijacked connections are not closed by http.Server.Close: track them.
	s := &GoServer{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := AcceptWebSocket(w, r)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[ws.conn] = struct{}{}
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.conns, ws.conn)
			s.mu.Unlock()
			ws.Close()
		}()
		if err := ws.WriteMessage(OpText, []byte(WebSocketGreeting)); err != nil {
			return
		}
		for {
			op, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			switch op {
			case OpPing:
				err = ws.WriteMessage(OpPong, msg)
			case OpClose:
				ws.WriteMessage(OpClose, msg)
				return
			case OpText, OpBinary:
				err = ws.WriteMessage(op, msg)
			}
			if err != nil {
				return
			}
		}
	})
	var protos http.Protocols
	protos.SetHTTP1(true)
	s.http = &http.Server{Handler: mux, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.http.Serve(ln)
	}()
	return s, nil
}
