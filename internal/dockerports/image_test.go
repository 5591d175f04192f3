package dockerports

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var exposed = map[string]struct{}{"5432/tcp": {}, "3000/tcp": {}, "53/udp": {}, "53/tcp": {}}

const exposedWant = "53/TCP/dns 53/UDP/dns-udp 3000/HTTP/3000 5432/TCP/postgres"

// testImage is a one-layer image whose config exposes ports.
func testImage(t *testing.T, ports map[string]struct{}) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.ExposedPorts = ports
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestFromTarball(t *testing.T) {
	path := filepath.Join(t.TempDir(), "image.tar")
	tag, err := name.NewTag("shop/db:17")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, tag, testImage(t, exposed)); err != nil {
		t.Fatal(err)
	}
	if kind, _, err := Kind(path); err != nil || kind != KindTarball {
		t.Fatalf("Kind: %q, %v; want a tarball", kind, err)
	}
	res, err := FromTarball(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := portList(res.Ports); got != exposedWant {
		t.Errorf("got %s, want %s", got, exposedWant)
	}
	if !strings.Contains(strings.Join(res.Notes, " "), "records EXPOSE 3000 and EXPOSE 3000/tcp alike") {
		t.Errorf("notes %q do not say that an image cannot tell HTTP from TCP", res.Notes)
	}
	if _, err := FromTarball(path, "shop/db:16"); err == nil {
		t.Error("a tag the tarball does not hold was found")
	}
}

func TestFromLayout(t *testing.T) {
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for ref, ports := range map[string]map[string]struct{}{"api": exposed, "worker": {"9090/tcp": {}}} {
		if err := p.AppendImage(testImage(t, ports), layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			t.Fatal(err)
		}
	}
	if kind, _, err := Kind(dir); err != nil || kind != KindLayout {
		t.Fatalf("Kind: %q, %v; want a layout", kind, err)
	}
	if _, err := FromLayout(dir, ""); err == nil || !strings.Contains(err.Error(), "holds 2 images: pick one with --image") {
		t.Errorf("two images without a choice: %v", err)
	}
	res, err := FromLayout(dir, "worker")
	if err != nil {
		t.Fatal(err)
	}
	if got := portList(res.Ports); got != "9090/HTTP/prometheus" {
		t.Errorf("got %s", got)
	}
}

func TestFromDaemonWithout(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	_, err := FromDaemon(context.Background(), "nginx:1.29")
	if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "docker save IMAGE -o image.tar") {
		t.Errorf("got %v, want ErrNoDaemon saying what to do", err)
	}
}

// TestFromDaemon serves the two Engine API calls an image's config takes
// on a Unix socket, as dockerd would.
func TestFromDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.47")
		w.Write([]byte("OK"))
	})
	mux.HandleFunc("/v1.47/images/{ref...}", func(w http.ResponseWriter, r *http.Request) {
		ref := r.PathValue("ref")
		switch {
		case ref == "nginx:1.29/json":
			json.NewEncoder(w).Encode(map[string]any{
				"Id":      "sha256:" + strings.Repeat("ab", 32),
				"Created": "2026-01-02T03:04:05Z",
				"Os":      "linux",
				"RootFS":  map[string]any{"Type": "layers"},
				"Config":  map[string]any{"ExposedPorts": map[string]any{"80/tcp": map[string]any{}}},
			})
		case ref == "nginx:1.29/history":
			w.Write([]byte("[]"))
		default:
			http.Error(w, `{"message":"No such image"}`, http.StatusNotFound)
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	res, err := FromDaemon(context.Background(), "nginx:1.29")
	if err != nil {
		t.Fatal(err)
	}
	if got := portList(res.Ports); got != "80/HTTP/http" {
		t.Errorf("got %s, want 80/HTTP/http", got)
	}
	if _, err := FromDaemon(context.Background(), "nginx:0"); err == nil || errors.Is(err, ErrNoDaemon) {
		t.Errorf("a missing image: %v", err)
	}
}

func TestKindOfADockerfile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kind, file, err := Kind(dir)
	if err != nil || kind != KindDockerfile || file != filepath.Join(dir, "Dockerfile") {
		t.Errorf("Kind(dir) = %q %q %v", kind, file, err)
	}
}
