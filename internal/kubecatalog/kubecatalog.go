// Package kubecatalog follows a Kubernetes cluster's Services and their
// EndpointSlices with client-go informers and hands out what the gateway
// can forward: each Service with its ports and the ready endpoints behind
// them. It knows nothing of the gateway's catalog types; the gateway maps
// a Service to a catalog resource (a namespace is a project).
//
// It needs only get, list and watch on services and endpointslices
// (discovery.k8s.io/v1). With Namespaces it watches each namespace on its
// own, so that namespaced Roles suffice; otherwise the whole cluster.
package kubecatalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KindLabel is the label that makes a Service an addon: fwd.dev/kind: addon.
const (
	KindLabel = "fwd.dev/kind"
	KindAddon = "addon"
)

// The protocols of a Port, named as the gateway's catalog names them.
const (
	TCP   = "TCP"
	UDP   = "UDP"
	HTTP  = "HTTP"
	HTTP2 = "HTTP2"
)

// stopWait bounds how long Run waits for its informers to stop: one that
// is backing off after a failed watch-list sleeps through its context's
// end (client-go's reflector), and ends by itself after.
const stopWait = 2 * time.Second

// Defaults of Config's durations.
const (
	DefaultDebounce    = 75 * time.Millisecond
	DefaultSyncTimeout = 30 * time.Second
)

// ErrSelector is wrapped by New's error for a label selector that is not
// one.
var ErrSelector = errors.New("kubernetes: bad label selector")

// Config says which cluster to follow and how.
type Config struct {
	// Kubeconfig is the kubeconfig file to reach the cluster with, unless
	// InCluster, which uses the pod's service account.
	Kubeconfig string
	InCluster  bool
	// Namespaces are the only namespaces watched; empty is all of them.
	Namespaces []string
	// LabelSelector, if set, keeps only the Services it selects.
	LabelSelector string
	// Check, if set, is asked about each Service before it enters what
	// Run hands out: one it refuses is left out, and logged once for as
	// long as it stays the same.
	Check func(Service) error
	// Debounce is how long Run waits after a change for the rest of a
	// burst before it hands out the result: DefaultDebounce if zero.
	Debounce time.Duration
	// SyncTimeout bounds the first listing of everything:
	// DefaultSyncTimeout if zero.
	SyncTimeout time.Duration
}

// Service is one Kubernetes Service as the gateway forwards it.
type Service struct {
	Namespace string
	Name      string
	// Addon is true for a Service labelled fwd.dev/kind: addon.
	Addon bool
	// Hostnames are <name>.<namespace>.svc.cluster.local and
	// <name>.<namespace>.svc.
	Hostnames []string
	Ports     []Port
}

// ID is namespace/name, as kubectl names a Service.
func (s Service) ID() string { return s.Namespace + "/" + s.Name }

// Port is one port of a Service.
type Port struct {
	// Name is the Service port's name, or its number when it has none.
	Name string
	Port uint16
	// Protocol is TCP, UDP, HTTP (appProtocol http) or HTTP2 (h2c, grpc).
	Protocol string
	// Targets are the ready endpoints' host:port addresses, sorted; none
	// when no endpoint is ready.
	Targets []string
}

// Source follows one cluster.
type Source struct {
	cfg      Config
	log      *slog.Logger
	svcs     *resource
	slices   *resource
	selector string
}

// New checks cfg and makes the client; it does not contact the cluster.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	sel, err := labels.Parse(cfg.LabelSelector)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrSelector, cfg.LabelSelector, err)
	}
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	svcs, slices, err := newResources(rc)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log, svcs: svcs, slices: slices, selector: sel.String()}, nil
}

func restConfig(cfg Config) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	switch {
	case cfg.InCluster:
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: in_cluster: %w: run the gateway in a pod, or use kubeconfig", err)
		}
	case cfg.Kubeconfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubernetes: kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
	default:
		return nil, errors.New("kubernetes: neither kubeconfig nor in_cluster")
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "fwd-gateway"
	return rc, nil
}

// Run follows the cluster until ctx ends, then returns nil. It calls apply
// with every Service, sorted by namespace and name, once everything has
// been listed, and again after each change, once a burst of changes has
// settled (Debounce), when what it would hand out differs. Calls come one
// at a time from Run's goroutine; apply owns what it is given. If the
// first listing does not finish within SyncTimeout, or the cluster refuses
// the credentials, Run returns an error saying what could not be listed,
// and where.
func (s *Source) Run(ctx context.Context, apply func([]Service)) error {
	ctx, cancel := context.WithCancel(ctx)
	w := s.startWatches(ctx)
	defer func() {
		cancel()
		w.wait(stopWait)
	}()
	if err := w.synced(ctx, s.cfg.SyncTimeout); err != nil {
		return err
	}
	b := &builder{check: s.cfg.Check, log: s.log}
	last := b.build(w.services(), w.slices())
	apply(last)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.changed:
		}
		if !sleep(ctx, s.cfg.Debounce) {
			return nil
		}
		// What changed during the wait is in this build.
		select {
		case <-w.changed:
		default:
		}
		next := b.build(w.services(), w.slices())
		if !equal(next, last) {
			apply(next)
			last = next
		}
	}
}

// sleep waits d, reporting false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
