package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPLoad is what HTTPRate sends: GET URL, again and again, over
// connections to Addr whatever host URL names (as curl --resolve does),
// so that a virtual host or an exposure's name can be reached on
// loopback.
type HTTPLoad struct {
	URL string
	// Addr is the loopback host:port every connection goes to.
	Addr string
	// Clients is how many clients send at once, each on one keep-alive
	// HTTP/1.1 connection of its own; Duration how long they send.
	Clients  int
	Duration time.Duration
	// Body is what every response must say, with status 200.
	Body string
}

// HTTPRate runs l and returns the responses per second that came back
// whole and right. For an https URL the TLS server name is URL's host
// and the certificate is not checked: the servers measured use
// self-signed ones. Each client first does one untimed request, so that
// connecting (and the TLS handshake) is not in the figure. Requests that
// fail are counted in failed, and the first one's error returned; a
// client waits a little after each failure rather than spinning.
func HTTPRate(ctx context.Context, l HTTPLoad) (rate float64, failed int64, firstErr error) {
	u, err := url.Parse(l.URL)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: HTTP load: %w", err)
	}
	if ap, err := netip.ParseAddrPort(l.Addr); err != nil || !ap.Addr().IsLoopback() {
		return 0, 0, fmt.Errorf("%w: %q", ErrNotLoopback, l.Addr)
	}
	ctx, cancel := context.WithTimeout(ctx, l.Duration+grace)
	defer cancel()
	var (
		done, bad atomic.Int64
		errOnce   sync.Once
		ready     sync.WaitGroup
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		bad.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	start := make(chan time.Time)
	ready.Add(l.Clients)
	for range l.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := httpClient(l.Addr, u.Hostname())
			defer hc.CloseIdleConnections()
			err := getOnce(ctx, hc, l.URL, l.Body)
			ready.Done()
			if err != nil {
				fail(fmt.Errorf("first request: %w", err))
			}
			end := (<-start).Add(l.Duration)
			for time.Now().Before(end) && ctx.Err() == nil {
				if err := getOnce(ctx, hc, l.URL, l.Body); err != nil {
					fail(err)
					sleepUntil(ctx, 10*time.Millisecond)
					continue
				}
				done.Add(1)
			}
		}()
	}
	ready.Wait()
	t0 := time.Now()
	for range l.Clients {
		start <- t0
	}
	wg.Wait()
	took := time.Since(t0)
	return float64(done.Load()) / took.Seconds(), bad.Load(), firstErr
}

// httpClient is one client's: a single HTTP/1.1 connection, to addr.
func httpClient(addr, serverName string) *http.Client {
	d := &net.Dialer{Timeout: dialTimeout}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{ServerName: serverName, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}},
		// A non-nil, empty TLSNextProto keeps the Transport from HTTP/2.
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr}
}

func getOnce(ctx context.Context, hc *http.Client, u, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(want))+4096))
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("GET %s: body: %w", u, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: %s: %q", u, resp.Status, truncate(body))
	case string(body) != want:
		return fmt.Errorf("GET %s: body %q, want %q", u, truncate(body), want)
	}
	return nil
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

func sleepUntil(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
