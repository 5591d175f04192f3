package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/internal/kubecatalog"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// TestKubeCatalog: a project per namespace, Services and addons apart,
// every resource with its Kind and Project, passing the file catalog's
// checks.
func TestKubeCatalog(t *testing.T) {
	svcs := []kubecatalog.Service{
		{Namespace: "billing", Name: "api", Hostnames: []string{"api.billing.svc.cluster.local", "api.billing.svc"},
			Ports: []kubecatalog.Port{{Name: "http", Port: 80, Protocol: kubecatalog.HTTP, Targets: []string{"10.0.0.5:8080"}}}},
		{Namespace: "shop", Name: "db", Addon: true, Hostnames: []string{"db.shop.svc.cluster.local", "db.shop.svc"},
			Ports: []kubecatalog.Port{{Name: "5432", Port: 5432, Protocol: kubecatalog.TCP}}},
		{Namespace: "shop", Name: "web", Hostnames: []string{"web.shop.svc.cluster.local", "web.shop.svc"},
			Ports: []kubecatalog.Port{{Name: "grpc", Port: 9090, Protocol: kubecatalog.HTTP2, Targets: []string{"10.0.0.6:9090"}},
				{Name: "dns", Port: 53, Protocol: kubecatalog.UDP, Targets: []string{"10.0.0.6:53"}}}},
	}
	got := kubeCatalog(svcs)
	want := catalog.Catalog{Projects: []catalog.Project{
		{Name: "billing", Services: []catalog.Resource{{Kind: catalog.Service, Project: "billing", Name: "api",
			Hostnames: []string{"api.billing.svc.cluster.local", "api.billing.svc"},
			Ports:     []catalog.Port{{Name: "http", Port: 80, Protocol: catalog.HTTP, Targets: []string{"10.0.0.5:8080"}}}}}},
		{Name: "shop",
			Services: []catalog.Resource{{Kind: catalog.Service, Project: "shop", Name: "web",
				Hostnames: []string{"web.shop.svc.cluster.local", "web.shop.svc"},
				Ports: []catalog.Port{{Name: "grpc", Port: 9090, Protocol: catalog.HTTP2, Targets: []string{"10.0.0.6:9090"}},
					{Name: "dns", Port: 53, Protocol: catalog.UDP, Targets: []string{"10.0.0.6:53"}}}}},
			Addons: []catalog.Resource{{Kind: catalog.Addon, Project: "shop", Name: "db",
				Hostnames: []string{"db.shop.svc.cluster.local", "db.shop.svc"},
				Ports:     []catalog.Port{{Name: "5432", Port: 5432, Protocol: catalog.TCP}}}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kubeCatalog:\n got %+v\nwant %+v", got, want)
	}
	for _, p := range got.Projects {
		for _, r := range p.All() {
			if err := config.CheckLiveResource(r, config.KubernetesSuffixes); err != nil {
				t.Errorf("%s: %v", r.ID(), err)
			}
		}
	}
}

func TestStartKubeCatalogWithout(t *testing.T) {
	started, err := startKubeCatalog(context.Background(), &config.Config{}, slog.New(slog.DiscardHandler), func(catalog.Catalog) {
		t.Error("applied without a Kubernetes catalog")
	})
	if started || err != nil {
		t.Errorf("startKubeCatalog = %v, %v; want false, nil", started, err)
	}
}

// TestStartKubeCatalogBadSelector: the error points at the config's key.
func TestStartKubeCatalogBadSelector(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Path: "gateway.yaml", Kubernetes: &config.KubernetesCatalog{Kubeconfig: kc, LabelSelector: "team in (a"}}
	started, err := startKubeCatalog(context.Background(), cfg, slog.New(slog.DiscardHandler), func(catalog.Catalog) {})
	var ce *config.Error
	if !started || !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "gateway.yaml: catalog.kubernetes.label_selector: ") {
		t.Errorf("startKubeCatalog = %v, %v; want true and a config error at label_selector", started, err)
	}
}
