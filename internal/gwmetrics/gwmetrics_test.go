package gwmetrics

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var testOptions = Options{Transports: []string{"tls", "ssh"}, LoginReasons: []string{"token_refused", "rate_limited"}}

func newMetrics(t *testing.T, o Options) *Metrics {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

// scrape gets /metrics as Prometheus's own scraper asks for it, and
// parses it with Prometheus's text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("/metrics Content-Type %q, want the text format 0.0.4", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// value is the value of the series of family name with exactly labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestHealthAndReadiness(t *testing.T) {
	m := newMetrics(t, testOptions)
	h := m.Handler()
	if code, body, _ := get(t, h, "GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, body, _ := get(t, h, "GET", "/readyz"); code != 503 || body != "not ready\n" {
		t.Errorf("/readyz before SetReady = %d %q, want 503 not ready", code, body)
	}
	m.SetReady(true)
	if code, _, hdr := get(t, h, "GET", "/readyz"); code != 200 || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("/readyz when ready = %d (Cache-Control %q), want 200, no-store", code, hdr.Get("Cache-Control"))
	}
	if code, _, _ := get(t, h, "HEAD", "/readyz"); code != 200 {
		t.Errorf("HEAD /readyz = %d, want 200", code)
	}
	if v := value(t, scrape(t, h), "fwd_gateway_ready"); v != 1 {
		t.Errorf("fwd_gateway_ready = %v when ready", v)
	}
	m.SetReady(false) // draining
	if code, _, _ := get(t, h, "GET", "/readyz"); code != 503 {
		t.Errorf("/readyz when draining = %d, want 503", code)
	}
	if code, _, _ := get(t, h, "POST", "/healthz"); code != 405 {
		t.Errorf("POST /healthz = %d, want 405", code)
	}
	if code, _, _ := get(t, h, "GET", "/"); code != 404 {
		t.Errorf("GET / = %d, want 404", code)
	}
}

func TestMetricsCountEvents(t *testing.T) {
	m := newMetrics(t, testOptions)
	h := m.Handler()

	// Exported at zero before anything happens.
	fams := scrape(t, h)
	for _, tr := range []string{"tls", "ssh"} {
		if v := value(t, fams, "fwd_gateway_sessions_started_total", "transport", tr); v != 0 {
			t.Errorf("sessions started %s = %v at start", tr, v)
		}
		if v := value(t, fams, "fwd_gateway_login_failures_total", "transport", tr, "reason", "rate_limited"); v != 0 {
			t.Errorf("login failures %s = %v at start", tr, v)
		}
		if v := value(t, fams, "fwd_gateway_bytes_total", "transport", tr, "direction", "to_target"); v != 0 {
			t.Errorf("bytes %s = %v at start", tr, v)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_open_fds", "process_resident_memory_bytes", "go_build_info"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s: the Go, process or build collectors are missing", name)
		}
	}

	m.SessionStarted("tls")
	m.SessionStarted("tls")
	m.SessionEnded("tls")
	m.SessionStarted("ssh")
	m.StreamOpened("tls")
	m.StreamOpened("tls")
	m.StreamClosed("tls")
	to, from := m.ByteCounters("tls")
	to.Add(1000)
	from.Add(3000)
	to2, _ := m.ByteCounters("tls")
	to2.Add(24)
	m.DialFailed("shop", "db", 5432, "10.0.0.9:5432")
	m.DialFailed("shop", "db", 5432, "10.0.0.9:5432")
	m.LoginFailed("tls", "token_refused")
	m.LoginFailed("ssh", "ssh_key_refused") // not given in Options: counted all the same
	m.HandshakeTurnedAway()
	m.CatalogReloaded(nil)
	m.CatalogReloaded(nil)
	m.CatalogReloaded(errors.New("bad yaml"))

	fams = scrape(t, h)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"fwd_gateway_sessions_started_total", []string{"transport", "tls"}, 2},
		{"fwd_gateway_sessions_open", []string{"transport", "tls"}, 1},
		{"fwd_gateway_sessions_open", []string{"transport", "ssh"}, 1},
		{"fwd_gateway_streams_opened_total", []string{"transport", "tls"}, 2},
		{"fwd_gateway_streams_open", []string{"transport", "tls"}, 1},
		{"fwd_gateway_streams_open", []string{"transport", "ssh"}, 0},
		{"fwd_gateway_bytes_total", []string{"transport", "tls", "direction", "to_target"}, 1024},
		{"fwd_gateway_bytes_total", []string{"transport", "tls", "direction", "from_target"}, 3000},
		{"fwd_gateway_dial_errors_total", []string{"project", "shop", "name", "db", "port", "5432", "target", "10.0.0.9:5432"}, 2},
		{"fwd_gateway_login_failures_total", []string{"transport", "tls", "reason", "token_refused"}, 1},
		{"fwd_gateway_login_failures_total", []string{"transport", "ssh", "reason", "ssh_key_refused"}, 1},
		{"fwd_gateway_handshakes_turned_away_total", nil, 1},
		{"fwd_gateway_catalog_reloads_total", nil, 2},
		{"fwd_gateway_catalog_reload_errors_total", nil, 1},
		{"fwd_gateway_ready", nil, 0},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if typ := fams["fwd_gateway_bytes_total"].GetType(); typ != dto.MetricType_COUNTER {
		t.Errorf("fwd_gateway_bytes_total is a %v, want a counter", typ)
	}
}

// TestDialErrorSeriesBounded: past MaxTargets series, dial errors still
// count, under target "other", so that a catalog whose addresses keep
// changing cannot grow the series without end.
func TestDialErrorSeriesBounded(t *testing.T) {
	m := newMetrics(t, Options{MaxTargets: 2})
	m.DialFailed("shop", "api", 80, "10.0.0.1:80")
	m.DialFailed("shop", "api", 80, "10.0.0.2:80")
	m.DialFailed("shop", "api", 80, "10.0.0.3:80")
	m.DialFailed("shop", "api", 80, "10.0.0.4:80")
	m.DialFailed("shop", "api", 80, "10.0.0.1:80") // known: its own series
	fams := scrape(t, m.Handler())
	if n := len(fams["fwd_gateway_dial_errors_total"].GetMetric()); n != 3 {
		t.Errorf("%d dial-error series, want 2 and other", n)
	}
	if v := value(t, fams, "fwd_gateway_dial_errors_total", "project", "shop", "name", "api", "port", "80", "target", "10.0.0.1:80"); v != 2 {
		t.Errorf("10.0.0.1 dial errors = %v, want 2", v)
	}
	if v := value(t, fams, "fwd_gateway_dial_errors_total", "project", "shop", "name", "api", "port", "80", "target", OtherTarget); v != 2 {
		t.Errorf("other dial errors = %v, want 2", v)
	}
}

// TestConcurrentEvents is for the race detector: the gateway calls from
// every session's goroutines at once, while a scrape reads.
func TestConcurrentEvents(t *testing.T) {
	m := newMetrics(t, testOptions)
	h := m.Handler()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := []string{"tls", "ssh", "new"}[i%3]
			for range 200 {
				m.SessionStarted(tr)
				m.StreamOpened(tr)
				to, from := m.ByteCounters(tr)
				to.Add(1)
				from.Add(2)
				m.StreamClosed(tr)
				m.SessionEnded(tr)
				m.DialFailed("p", "n", 1, "t")
			}
		}()
	}
	for range 5 {
		scrape(t, h)
	}
	wg.Wait()
	fams := scrape(t, h)
	if v := value(t, fams, "fwd_gateway_sessions_started_total", "transport", "new"); v != 400 {
		t.Errorf("sessions started on a transport first seen mid-run = %v, want 400", v)
	}
	if v := value(t, fams, "fwd_gateway_bytes_total", "transport", "tls", "direction", "from_target"); v != 2*3*200 {
		t.Errorf("tls bytes from target = %v, want 1200", v)
	}
	if v := value(t, fams, "fwd_gateway_dial_errors_total", "project", "p", "name", "n", "port", "1", "target", "t"); v != 1600 {
		t.Errorf("dial errors = %v, want 1600", v)
	}
}

// TestServe: the endpoints over a real loopback socket, and Close stops
// serving.
func TestServe(t *testing.T) {
	m := newMetrics(t, testOptions)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := m.Serve(ln, nil)
	addr := s.Addr().String()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fams["promhttp_metric_handler_requests_total"]; !ok {
		t.Error("no promhttp_metric_handler_requests_total: scrapes are not counted")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still serving after Close")
	}
}

func BenchmarkStreamEvents(b *testing.B) {
	m, err := New(testOptions)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.StreamOpened("tls")
		to, from := m.ByteCounters("tls")
		to.Add(1)
		from.Add(1)
		m.StreamClosed("tls")
	}
}
