package kubecatalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// watches are the informers of one Run: services and endpointslices, in
// each namespace of Config.Namespaces or across the cluster.
type watches struct {
	svcInf, sliceInf []*informer
	// changed gets a value, without blocking, whenever any object changes.
	changed chan struct{}
	wg      sync.WaitGroup
}

// informer is one informer and what its lists and watches have failed with.
type informer struct {
	cache.SharedIndexInformer
	what string // "services in shop", "endpointslices in every namespace"
	log  *slog.Logger

	mu      sync.Mutex
	lastErr error
	failing bool // since the last success, so a retry loop logs once
	denied  bool // lastErr is the cluster refusing the credentials
}

func (s *Source) startWatches(ctx context.Context) *watches {
	w := &watches{changed: make(chan struct{}, 1)}
	namespaces := s.cfg.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		svc := newInformer("services", ns, s.log)
		svc.run(ctx, w, &corev1.Service{}, s.svcs.listWatch(ns, s.selector))
		// Only slices that belong to a Service, as the controller's and
		// hand-written ones both say with this label.
		slice := newInformer("endpointslices", ns, s.log)
		slice.run(ctx, w, &discoveryv1.EndpointSlice{}, s.slices.listWatch(ns, discoveryv1.LabelServiceName))
		w.svcInf = append(w.svcInf, svc)
		w.sliceInf = append(w.sliceInf, slice)
	}
	return w
}

func newInformer(resource, ns string, log *slog.Logger) *informer {
	where := "in " + ns
	if ns == metav1.NamespaceAll {
		where = "in every namespace"
	}
	return &informer{what: resource + " " + where, log: log}
}

// run makes the informer on lw and runs it until ctx ends. Every list and
// watch call's outcome is recorded: the reflector retries some failures,
// such as a refused connection, by itself and tells nobody.
func (i *informer) run(ctx context.Context, w *watches, example runtime.Object, lw *cache.ListWatch) {
	list, watchFn := lw.ListWithContextFunc, lw.WatchFuncWithContext
	lw.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		obj, err := list(ctx, o)
		i.result(err)
		return obj, err
	}
	lw.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		wi, err := watchFn(ctx, o)
		i.result(err)
		return wi, err
	}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, nil), example, cache.SharedIndexInformerOptions{})
	i.SharedIndexInformer = inf
	// These fail only once the informer runs, which it does not yet.
	_ = inf.SetTransform(slim)
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { i.result(err) })
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.signal() },
		UpdateFunc: func(any, any) { w.signal() },
		DeleteFunc: func(any) { w.signal() },
	})
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		inf.RunWithContext(ctx)
	}()
}

func (w *watches) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// wait returns once every informer has stopped (their context ended), or
// after at most d.
func (w *watches) wait(d time.Duration) {
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// slim drops what the catalog never reads and can be large (managed
// fields, last-applied annotations), so the caches hold little.
func slim(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		m.SetAnnotations(nil)
	}
	return obj, nil
}

// result records how a list or watch went; the informer retries failures
// by itself, with backoff. A run of failures is logged at its first, and a
// success ends it. The end of a watch is no failure.
func (i *informer) result(err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		i.lastErr, i.denied, i.failing = nil, false, false
		return
	}
	i.lastErr = err
	i.denied = apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err)
	if !i.failing {
		i.failing = true
		i.log.Warn("kubernetes: cannot list or watch "+i.what+"; retrying", "err", err)
	}
}

func (i *informer) failure() (err error, denied bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.lastErr, i.denied
}

// synced waits until every informer has listed everything, for at most
// timeout. It gives up at once when the cluster refuses the credentials:
// retrying will not change that until someone does.
func (w *watches) synced(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := w.pending()
		if pending == nil {
			return nil
		}
		if err, denied := pending.failure(); denied {
			return syncError(pending, err, true, timeout)
		}
		if time.Now().After(deadline) {
			err, _ := pending.failure()
			return syncError(pending, err, false, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubernetes: stopped before %s were listed: %w", pending.what, ctx.Err())
		case <-tick.C:
		}
	}
}

// pending is an informer that has not listed everything yet, or nil.
func (w *watches) pending() *informer {
	for _, i := range append(append([]*informer(nil), w.svcInf...), w.sliceInf...) {
		if !i.HasSynced() {
			return i
		}
	}
	return nil
}

// syncError says what could not be listed, why, and what to do about it.
func syncError(i *informer, err error, denied bool, timeout time.Duration) error {
	// A request that never reached the server is named by its URL, query
	// and all: the reason is what helps.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case denied:
		return fmt.Errorf("kubernetes: cannot list %s: %w: give the gateway's account get, list and watch on services and on endpointslices (discovery.k8s.io), or check its kubeconfig", i.what, err)
	case err != nil:
		return fmt.Errorf("kubernetes: cannot list %s: %w: check that the cluster is up and that the kubeconfig's server is right", i.what, err)
	}
	return fmt.Errorf("kubernetes: %s not listed in %s: check that the cluster is up and answers", i.what, timeout)
}

func (w *watches) services() []*corev1.Service {
	var out []*corev1.Service
	for _, i := range w.svcInf {
		for _, obj := range i.GetStore().List() {
			if s, ok := obj.(*corev1.Service); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func (w *watches) slices() []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, i := range w.sliceInf {
		for _, obj := range i.GetStore().List() {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
