package gwmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /healthz, /readyz and /metrics:
//
//   - /healthz answers 200 "ok" while the process serves HTTP at all: a
//     liveness probe that fails only for a process that is stuck or gone.
//   - /readyz answers 200 "ok" when SetReady(true) was called last, and
//     503 "not ready" otherwise.
//   - /metrics is the registry in Prometheus's text format (or what the
//     scraper's Accept header asks for), with promhttp's own counts of
//     scrapes.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if m.ready.Load() {
			plain(w, http.StatusOK, "ok\n")
			return
		}
		plain(w, http.StatusServiceUnavailable, "not ready\n")
	})
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A scrape that cannot gather one metric still gets the others.
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapers are few; more at once is a loop somewhere, not load.
		MaxRequestsInFlight: 8,
		Timeout:             10 * time.Second,
	})))
	return mux
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// Server serves Handler on one listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	err  error
}

// Serve starts serving m's endpoints on ln, on a goroutine of its own,
// until Close. Errors other than Close's are logged to log (nil: none).
func (m *Metrics) Serve(ln net.Listener, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		srv: &http.Server{
			Handler: m.Handler(),
			// Slow or silent scrapers cannot hold connections for long.
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = fmt.Errorf("gwmetrics: serve %s: %w", ln.Addr(), err)
			log.Warn("metrics server stopped", "listen", ln.Addr().String(), "err", err)
		}
	}()
	return s
}

// Addr is the address served, its port resolved.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving, letting requests in flight finish for a second,
// and returns the error that stopped it before, if one did.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
	return s.err
}
