package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// TestStartKubeCatalog runs startKubeCatalog against a real API server
// with the gateway's read-only account, from a gateway.yaml as Load reads
// it: the first catalog before it returns, an SCTP-only Service left out,
// and a change applied; then an account without rights, refused at once.
func TestStartKubeCatalog(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kube, err := fwdtest.StartKube(ctx, dir)
	if errors.Is(err, fwdtest.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kube.Close() })
	admin, err := kube.Client(fwdtest.KubeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.CreateNamespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	svcs := admin.CoreV1().Services("shop")
	for _, s := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "sctp"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "s", Port: 9, Protocol: corev1.ProtocolSCTP}}}},
	} {
		if _, err := svcs.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	name, port := "http", int32(8080)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "api-1", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.77.251.5"}}},
	}
	if _, err := admin.DiscoveryV1().EndpointSlices("shop").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("read-only", func(t *testing.T) {
		cfg := kubeGatewayConfig(t, kube, fwdtest.KubeGateway)
		applied := make(chan catalog.Catalog, 100)
		runCtx, stop := context.WithCancel(context.Background())
		defer stop()
		started, err := startKubeCatalog(runCtx, cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)), func(c catalog.Catalog) { applied <- c })
		if !started || err != nil {
			t.Fatalf("startKubeCatalog = %v, %v", started, err)
		}
		var first catalog.Catalog
		select {
		case first = <-applied:
		default:
			t.Fatal("startKubeCatalog returned before the first catalog was applied")
		}
		api, err := first.Lookup(catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"})
		if err != nil {
			t.Fatalf("first catalog %+v: %v", first, err)
		}
		if got := api.Ports[0].Targets; len(got) != 1 || got[0] != "10.77.251.5:8080" {
			t.Errorf("api's targets %q", got)
		}
		if _, err := first.Lookup(catalog.ID{Project: "shop", Kind: catalog.Service, Name: "sctp"}); err == nil {
			t.Error("an SCTP-only Service is in the catalog")
		}
		if r := first.Projects[0].Services[0]; r.Project != "shop" || r.Kind != catalog.Service {
			t.Errorf("resource without its Kind and Project: %+v", r)
		}
		if err := svcs.Delete(ctx, "api", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-applied:
			if len(c.Projects) != 0 {
				t.Errorf("after the only Service went: %+v", c)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the deletion was not applied within 10s")
		}
	})

	t.Run("no rights", func(t *testing.T) {
		cfg := kubeGatewayConfig(t, kube, fwdtest.KubeBareUsers[0])
		start := time.Now()
		_, err := startKubeCatalog(context.Background(), cfg, slog.New(slog.DiscardHandler), func(catalog.Catalog) {
			t.Error("applied without rights")
		})
		if err == nil || !strings.HasPrefix(err.Error(), "kubernetes: cannot list services in shop: ") ||
			!strings.Contains(err.Error(), "give the gateway's account get, list and watch") {
			t.Errorf("startKubeCatalog: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the refusal took %v", d)
		}
	})
}

// kubeGatewayConfig loads a gateway.yaml whose catalog is the cluster's
// namespace shop, as user.
func kubeGatewayConfig(t *testing.T, kube *fwdtest.Kube, user string) *config.Config {
	t.Helper()
	kc, err := kube.Kubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	yaml := "tokens:\n  - name: alice\n    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n    projects: [shop]\n" +
		"catalog:\n  kubernetes:\n    kubeconfig: " + kc + "\n    namespaces: [shop]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
