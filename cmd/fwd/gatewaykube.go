package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"k8s.io/klog/v2"

	"github.com/fwd-dev/fwd/internal/kubecatalog"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// startKubeCatalog follows the cluster that cfg's catalog: {kubernetes:
// ...} names, until ctx ends, calling apply with the whole catalog after
// the first sync and after each change (one call at a time, from one
// goroutine; apply owns what it is given). Without a Kubernetes catalog it
// returns false at once. Otherwise it returns true once apply has had the
// first catalog, or the reason there is none: the cluster refused the
// credentials, or did not answer within 30 s ("kubernetes: cannot list
// services in shop: ...: give the gateway's account get, list and watch
// ..."). Services the catalog cannot take are left out and logged.
var klogOnce sync.Once

func startKubeCatalog(ctx context.Context, cfg *config.Config, log *slog.Logger, apply func(catalog.Catalog)) (started bool, err error) {
	k := cfg.Kubernetes
	if k == nil {
		return false, nil
	}
	// client-go logs through klog: into the gateway's log, in its format.
	// klog's logger is one per process, read by informers that may still
	// run (a test's earlier gateway), so it is set once.
	klogOnce.Do(func() { klog.SetSlogLogger(log) })
	suffixes := cfg.HostnameSuffixes
	src, err := kubecatalog.New(kubecatalog.Config{
		Kubeconfig:    k.Kubeconfig,
		InCluster:     k.InCluster,
		Namespaces:    k.Namespaces,
		LabelSelector: k.LabelSelector,
		Check: func(s kubecatalog.Service) error {
			return config.CheckLiveResource(kubeResource(s), suffixes)
		},
	}, log)
	if err != nil {
		return true, kubeSetupError(cfg, err)
	}
	first := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		var once sync.Once
		errc <- src.Run(ctx, func(svcs []kubecatalog.Service) {
			apply(kubeCatalog(svcs))
			once.Do(func() { close(first) })
		})
	}()
	// Run gives up on the first sync within its SyncTimeout by itself.
	select {
	case <-first:
		return true, nil
	case err := <-errc:
		if err == nil {
			err = ctx.Err()
		}
		return true, err
	}
}

// kubeSetupError points a bad label selector at its key in the config.
func kubeSetupError(cfg *config.Config, err error) error {
	if errors.Is(err, kubecatalog.ErrSelector) {
		return &config.Error{File: cfg.Path, Path: "catalog.kubernetes.label_selector", Err: err,
			Msg: err.Error() + ": write it as kubectl get services -l takes it, like team=a,tier!=batch"}
	}
	return err
}

// kubeCatalog is the catalog of Services: a project per namespace, in the
// order they come (by namespace, then name).
func kubeCatalog(svcs []kubecatalog.Service) catalog.Catalog {
	var cat catalog.Catalog
	for _, s := range svcs {
		if n := len(cat.Projects); n == 0 || cat.Projects[n-1].Name != s.Namespace {
			cat.Projects = append(cat.Projects, catalog.Project{Name: s.Namespace})
		}
		p := &cat.Projects[len(cat.Projects)-1]
		r := kubeResource(s)
		if r.Kind == catalog.Addon {
			p.Addons = append(p.Addons, r)
		} else {
			p.Services = append(p.Services, r)
		}
	}
	return cat
}

// kubeResource is a Service as a catalog resource; its protocols already
// have the catalog's names, which CheckLiveResource checks.
func kubeResource(s kubecatalog.Service) catalog.Resource {
	r := catalog.Resource{Kind: catalog.Service, Project: s.Namespace, Name: s.Name, Hostnames: s.Hostnames}
	if s.Addon {
		r.Kind = catalog.Addon
	}
	for _, p := range s.Ports {
		r.Ports = append(r.Ports, catalog.Port{Name: p.Name, Port: p.Port, Protocol: catalog.Protocol(p.Protocol), Targets: p.Targets})
	}
	return r
}
