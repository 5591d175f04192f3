package tunnel

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The edge is the public side of HTTPS exposures: one HTTPS listener for
// every exposure, routed by the request's host name (which must be the
// TLS server name it came with), and an HTTP listener that redirects to
// it. What it refuses itself (an unknown host, an address outside
// allow-ip, missing basic auth, a request over the rate limit) never
// reaches the client.

// edgeHeaderTimeout bounds reading a public request's headers, so that
// slow-header connections cannot pile up; nothing bounds the body or the
// response, which may stream for as long as both ends want.
const edgeHeaderTimeout = 10 * time.Second

// ServeExposeHTTPS serves the public HTTPS side of exposures on ln until
// Shutdown, with tlsConf's certificate (a wildcard one for the expose
// domain). HTTP/2 and HTTP/1.1 are offered; websockets pass through
// HTTP/1.1.
func (g *Gateway) ServeExposeHTTPS(ln net.Listener, tlsConf *tls.Config) error {
	conf := tlsConf.Clone()
	if len(conf.NextProtos) == 0 {
		conf.NextProtos = []string{"h2", "http/1.1"}
	}
	srv := g.edgeServer(http.HandlerFunc(g.serveEdge))
	srv.TLSConfig = conf
	return g.runEdge(srv, ln, func() error { return srv.ServeTLS(ln, "", "") })
}

// ServeExposeHTTP serves plain HTTP on ln: every request is redirected to
// the same URL over HTTPS (308, so that a POST stays a POST).
func (g *Gateway) ServeExposeHTTP(ln net.Listener) error {
	srv := g.edgeServer(http.HandlerFunc(g.redirect))
	return g.runEdge(srv, ln, func() error { return srv.Serve(ln) })
}

func (g *Gateway) edgeServer(h http.Handler) *http.Server {
	idle := 2 * time.Minute
	if c := g.config().Expose; c != nil {
		idle = c.withDefaults().IdleTimeout
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: edgeHeaderTimeout, IdleTimeout: idle, MaxHeaderBytes: 64 << 10}
}

func (g *Gateway) runEdge(srv *http.Server, ln net.Listener, serve func() error) error {
	if !g.track(ln) {
		ln.Close()
		return ErrGatewayClosed
	}
	g.mu.Lock()
	g.edges = append(g.edges, srv)
	g.mu.Unlock()
	err := serve()
	if g.isClosing() || errors.Is(err, http.ErrServerClosed) {
		return ErrGatewayClosed
	}
	return err
}

// shutdownEdges lets the edges' requests finish within ctx, then cuts
// what is left.
func (g *Gateway) shutdownEdges(ctx context.Context) {
	g.mu.Lock()
	edges := g.edges
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, srv := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if srv.Shutdown(ctx) != nil {
				srv.Close()
			}
		}()
	}
	wg.Wait()
}

func (g *Gateway) redirect(w http.ResponseWriter, r *http.Request) {
	cfg := g.config().Expose
	host := hostOnly(r.Host)
	if cfg == nil || !strings.HasSuffix(host, "."+strings.ToLower(cfg.Domain)) {
		http.Error(w, "fwd: not an exposure's address", http.StatusNotFound)
		return
	}
	http.Redirect(w, r, cfg.origin(host)+r.URL.RequestURI(), http.StatusPermanentRedirect)
}

// serveEdge routes one public request to its exposure, after the checks
// the exposure asked for.
func (g *Gateway) serveEdge(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	if r.TLS != nil && r.TLS.ServerName != "" && !strings.EqualFold(strings.TrimSuffix(r.TLS.ServerName, "."), host) {
		http.Error(w, "fwd: the Host header names another site than the TLS server name", http.StatusMisdirectedRequest)
		return
	}
	e := g.exposes.lookupHost(host)
	if e == nil {
		http.Error(w, fmt.Sprintf("fwd: nothing is exposed at %s: the URL is wrong, or its fwd expose has stopped", host), http.StatusNotFound)
		return
	}
	if !allowed(e.allow, peerIP(r.RemoteAddr)) {
		http.Error(w, "fwd: your address may not reach this exposure", http.StatusForbidden)
		return
	}
	if e.auth != "" {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(hashAuth(user+":"+pass)), []byte(e.auth)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="fwd expose", charset="UTF-8"`)
			http.Error(w, "fwd: this exposure needs a user name and password", http.StatusUnauthorized)
			return
		}
		r.Header.Del("Authorization") // the edge's, not the app's
	}
	if e.rate != nil && !e.rate.take() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "fwd: too many requests to this exposure: slow down", http.StatusTooManyRequests)
		return
	}
	e.proxy.ServeHTTP(w, r)
}

// peerKey carries the public peer's address to the dial of its stream.
type peerKey struct{}

// proxyFor is e's reverse proxy: each connection to the local app is a
// stream to the client, kept alive for the next requests. HTTP/1.1 is
// spoken to the app, or h2c for gRPC (HTTP/2 requests with a gRPC
// content type), which needs HTTP/2 end to end.
func (g *Gateway) proxyFor(e *exposure, cfg *ExposeConfig) http.Handler {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		peer, _ := ctx.Value(peerKey{}).(string)
		return e.open(ctx, peer)
	}
	h1 := &http.Transport{DialContext: dial, ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	h2c := &http.Transport{DialContext: dial, ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true, Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	go func() {
		<-e.stop
		h1.CloseIdleConnections()
		h2c.CloseIdleConnections()
	}()
	local := fmt.Sprintf("port %d", e.req.LocalPort)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: pr.In.Host})
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), peerKey{}, pr.In.RemoteAddr))
		},
		Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				return h2c.RoundTrip(r)
			}
			return h1.RoundTrip(r)
		}),
		FlushInterval: -1, // stream what the app sends as it sends it
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the public client went away
			}
			e.s.log.Info("exposed request failed", "name", e.req.Name, "err", err)
			http.Error(w, fmt.Sprintf("fwd: the app on the exposing machine's %s did not answer: %s", local, edgeCause(err)), http.StatusBadGateway)
		},
	}
}

func edgeCause(err error) string {
	var se *StreamError
	if errors.As(err, &se) {
		return se.Message
	}
	return rootCause(err)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// bucket is a token bucket: rate tokens a second, bursts of twice that.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64) *bucket {
	burst := max(2*rate, 1)
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
