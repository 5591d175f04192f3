package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Handler is what a client does for its control API.
type Handler interface {
	Status() Status
	// Stop stops what r names; an error the user can read is returned to
	// the caller (nothing forwarded by that name, say).
	Stop(r StopRequest) error
}

// Server is a client's control socket.
type Server struct {
	path string
	srv  *http.Server
	ln   net.Listener
}

// Listen starts serving h on dir's socket for this process. Close removes
// the socket.
func Listen(dir string, h Handler) (*Server, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	path := socketPath(dir, os.Getpid())
	os.Remove(path) // a pid reused after a crash: that socket is dead
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	s := &Server{path: path, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, h.Status()) })
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) { stop(w, r, h) })
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(&checkedListener{ln})
	return s, nil
}

func stop(w http.ResponseWriter, r *http.Request, h Handler) {
	var req StopRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, errorBody{err.Error()})
		return
	}
	if err := h.Stop(req); err != nil {
		reply(w, http.StatusNotFound, errorBody{err.Error()})
		return
	}
	reply(w, http.StatusOK, struct{}{})
}

type errorBody struct {
	Error string `json:"error"`
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if rmErr := os.Remove(s.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
		err = fmt.Errorf("control: %w", rmErr)
	}
	return err
}

// checkedListener drops connections from processes that are neither this
// user nor root, before a byte is read.
type checkedListener struct{ net.Listener }

func (l *checkedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if allowedPeer(c) {
			return c, nil
		}
		c.Close()
	}
}
