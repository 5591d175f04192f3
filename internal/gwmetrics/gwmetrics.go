// Package gwmetrics is the gateway's health and Prometheus metrics: the
// counters and gauges of what it serves, kept in a registry of their own,
// and an HTTP server for /healthz, /readyz and /metrics (metrics_listen).
//
// A *Metrics is the gateway's observer: its methods are those of
// tunnel.Observer, with plain strings for labels, so that this package
// need not know the tunnel. Label values come from the gateway (its
// transports, its reasons, its catalog), never from what a client sent,
// which keeps the number of series bounded.
package gwmetrics

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespace starts every metric of the gateway's own.
const namespace = "fwd_gateway"

// DefaultMaxTargets is Options.MaxTargets when it is not set.
const DefaultMaxTargets = 1000

// OtherTarget is the target label of dial errors past MaxTargets series.
const OtherTarget = "other"

// Options tune New.
type Options struct {
	// Transports and LoginReasons are label values exported at zero from
	// the start (tunnel.Transports, tunnel.LoginFailureReasons): a series
	// that appears only with its first event hides that event from rate().
	// Others are still counted when they come.
	Transports   []string
	LoginReasons []string
	// MaxTargets bounds the dial-error series (one per project, name, port
	// and target address); past it, errors are counted with the target
	// label "other". A Kubernetes catalog's pod addresses change with
	// every rollout, so a long-lived gateway would otherwise keep growing
	// them. Zero is DefaultMaxTargets.
	MaxTargets int
}

// Metrics holds the gateway's metrics and its readiness. It is safe for
// concurrent use.
type Metrics struct {
	reg   *prometheus.Registry
	ready atomic.Bool

	sessionsOpen    *prometheus.GaugeVec
	sessionsStarted *prometheus.CounterVec
	streamsOpen     *prometheus.GaugeVec
	streamsOpened   *prometheus.CounterVec
	dialErrors      *prometheus.CounterVec
	loginFailures   *prometheus.CounterVec
	reloads         prometheus.Counter
	reloadErrors    prometheus.Counter
	turnedAway      prometheus.Counter
	bytes           *byteCollector

	transports sync.Map // string -> *transportMetrics

	maxTargets int
	targetsMu  sync.Mutex
	targets    map[targetKey]struct{} // dial-error series made so far
}

// transportMetrics are one transport's series, looked up once so that an
// event costs an atomic add, not a hash of its labels.
type transportMetrics struct {
	sessionsOpen    prometheus.Gauge
	sessionsStarted prometheus.Counter
	streamsOpen     prometheus.Gauge
	streamsOpened   prometheus.Counter
	toTarget        atomic.Int64
	fromTarget      atomic.Int64
}

type targetKey struct {
	project, name string
	port          int
	target        string
}

// New makes the metrics, with the Go runtime's and the process's
// collectors (memory, goroutines, CPU, open file descriptors) beside the
// gateway's own. The gateway is not ready until SetReady(true).
func New(o Options) (*Metrics, error) {
	m := &Metrics{
		reg:        prometheus.NewRegistry(),
		maxTargets: o.MaxTargets,
		targets:    map[targetKey]struct{}{},
	}
	if m.maxTargets <= 0 {
		m.maxTargets = DefaultMaxTargets
	}
	m.sessionsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "sessions_open",
		Help: "Client sessions logged in now, by transport."}, []string{"transport"})
	m.sessionsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "sessions_started_total",
		Help: "Client sessions that logged in, by transport."}, []string{"transport"})
	m.streamsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "streams_open",
		Help: "Forwarded connections (TLS streams, SSH channels) relayed now, by transport."}, []string{"transport"})
	m.streamsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "streams_opened_total",
		Help: "Forwarded connections whose target was reached, by transport."}, []string{"transport"})
	m.dialErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "dial_errors_total",
		Help: "Failed attempts to connect to a catalog target, by project, resource name, port and target address (\"other\" past the series limit)."},
		[]string{"project", "name", "port", "target"})
	m.loginFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "login_failures_total",
		Help: "Connections that did not log in, by transport and reason."}, []string{"transport", "reason"})
	m.reloads = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "catalog_reloads_total",
		Help: "Reloads of the config or catalog that took effect."})
	m.reloadErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "catalog_reload_errors_total",
		Help: "Reloads of the config or catalog that failed; the previous one is still served."})
	m.turnedAway = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "handshakes_turned_away_total",
		Help: "Connections closed unread at the handshake limits (max_handshakes, max_handshakes_per_source)."})
	m.bytes = &byteCollector{m: m, desc: prometheus.NewDesc(namespace+"_bytes_total",
		"Bytes relayed between clients and targets, by transport and direction (to_target, from_target).",
		[]string{"transport", "direction"}, nil)}
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "ready",
		Help: "1 when /readyz answers 200: the gateway serves and its catalog is loaded."},
		func() float64 {
			if m.ready.Load() {
				return 1
			}
			return 0
		})
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		m.sessionsOpen, m.sessionsStarted, m.streamsOpen, m.streamsOpened, m.dialErrors, m.loginFailures,
		m.reloads, m.reloadErrors, m.turnedAway, m.bytes, ready,
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("gwmetrics: %w", err)
		}
	}
	for _, t := range o.Transports {
		m.transport(t)
		for _, r := range o.LoginReasons {
			m.loginFailures.WithLabelValues(t, r)
		}
	}
	return m, nil
}

// Registry is where the metrics are registered, for a caller that adds
// its own or gathers them in a test.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetReady sets what /readyz answers: true once the gateway serves with
// its catalog loaded, false before (a Kubernetes catalog not yet synced)
// and from the moment it starts draining, so that a load balancer sends
// new clients to another replica while open streams finish here.
func (m *Metrics) SetReady(ready bool) { m.ready.Store(ready) }

// Ready reports what SetReady set last.
func (m *Metrics) Ready() bool { return m.ready.Load() }

func (m *Metrics) transport(t string) *transportMetrics {
	if tm, ok := m.transports.Load(t); ok {
		return tm.(*transportMetrics)
	}
	tm := &transportMetrics{
		sessionsOpen:    m.sessionsOpen.WithLabelValues(t),
		sessionsStarted: m.sessionsStarted.WithLabelValues(t),
		streamsOpen:     m.streamsOpen.WithLabelValues(t),
		streamsOpened:   m.streamsOpened.WithLabelValues(t),
	}
	actual, _ := m.transports.LoadOrStore(t, tm)
	return actual.(*transportMetrics)
}

// SessionStarted counts a session that logged in.
func (m *Metrics) SessionStarted(transport string) {
	tm := m.transport(transport)
	tm.sessionsStarted.Inc()
	tm.sessionsOpen.Inc()
}

// SessionEnded counts a session that ended.
func (m *Metrics) SessionEnded(transport string) { m.transport(transport).sessionsOpen.Dec() }

// StreamOpened counts a stream whose target was reached.
func (m *Metrics) StreamOpened(transport string) {
	tm := m.transport(transport)
	tm.streamsOpened.Inc()
	tm.streamsOpen.Inc()
}

// StreamClosed counts a stream whose relay ended.
func (m *Metrics) StreamClosed(transport string) { m.transport(transport).streamsOpen.Dec() }

// ByteCounters are the transport's byte counts, which relays add to as
// they write and a scrape reads.
func (m *Metrics) ByteCounters(transport string) (toTarget, fromTarget *atomic.Int64) {
	tm := m.transport(transport)
	return &tm.toTarget, &tm.fromTarget
}

// DialFailed counts one failed attempt to reach target for project/name:port.
func (m *Metrics) DialFailed(project, name string, port int, target string) {
	k := targetKey{project, name, port, target}
	m.targetsMu.Lock()
	if _, ok := m.targets[k]; !ok {
		if len(m.targets) < m.maxTargets {
			m.targets[k] = struct{}{}
		} else {
			target = OtherTarget
		}
	}
	m.targetsMu.Unlock()
	m.dialErrors.WithLabelValues(project, name, strconv.Itoa(port), target).Inc()
}

// LoginFailed counts a connection that did not log in.
func (m *Metrics) LoginFailed(transport, reason string) {
	m.loginFailures.WithLabelValues(transport, reason).Inc()
}

// HandshakeTurnedAway counts a connection closed at the handshake limits.
func (m *Metrics) HandshakeTurnedAway() { m.turnedAway.Inc() }

// CatalogReloaded counts a reload, or its failure when err is not nil.
func (m *Metrics) CatalogReloaded(err error) {
	if err != nil {
		m.reloadErrors.Inc()
		return
	}
	m.reloads.Inc()
}

// byteCollector exports the byte counts, which live in atomics that the
// relays add to directly rather than in prometheus counters: a relay's
// write then costs one atomic add.
type byteCollector struct {
	m    *Metrics
	desc *prometheus.Desc
}

func (c *byteCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *byteCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.transports.Range(func(k, v any) bool {
		t, tm := k.(string), v.(*transportMetrics)
		for _, d := range []struct {
			dir string
			n   *atomic.Int64
		}{{"to_target", &tm.toTarget}, {"from_target", &tm.fromTarget}} {
			metric, err := prometheus.NewConstMetric(c.desc, prometheus.CounterValue, float64(d.n.Load()), t, d.dir)
			if err != nil {
				metric = prometheus.NewInvalidMetric(c.desc, err)
			}
			ch <- metric
		}
		return true
	})
}
