package dockerports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ErrNoDaemon is what FromDaemon reports when no Docker engine answers.
var ErrNoDaemon = errors.New("dockerports: no Docker daemon")

// imageNote says why an image's TCP ports may not all be what the
// Dockerfile said: docker build writes EXPOSE 3000 as 3000/tcp.
const imageNote = "an image records EXPOSE 3000 and EXPOSE 3000/tcp alike as 3000/tcp: ports that web servers use by convention are HTTP here, the rest TCP; change protocol: where that is wrong"

// FromTarball reads the image of a docker save tarball. ref picks one
// image (by its tag) in a tarball that holds several; "" takes the only
// one.
func FromTarball(path, ref string) (Result, error) {
	var tag *name.Tag
	if ref != "" {
		t, err := name.NewTag(ref)
		if err != nil {
			return Result{}, fmt.Errorf("dockerports: image %q: %w", ref, err)
		}
		tag = &t
	}
	img, err := tarball.ImageFromPath(path, tag)
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: reading the docker save tarball %s: %w", path, err)
	}
	return fromImage(path, img)
}

// FromLayout reads an image of an OCI image layout (a directory with
// oci-layout and index.json). ref picks the image whose
// org.opencontainers.image.ref.name annotation it is when the layout
// holds several; "" takes the only one.
func FromLayout(dir, ref string) (Result, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: reading the OCI layout %s: %w", dir, err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: reading the OCI layout %s: %w", dir, err)
	}
	var picked []v1.Descriptor
	var names []string
	for _, d := range manifest.Manifests {
		refName := d.Annotations["org.opencontainers.image.ref.name"]
		names = append(names, refName)
		if ref == "" || refName == ref || strings.HasSuffix(ref, ":"+refName) {
			picked = append(picked, d)
		}
	}
	switch {
	case len(picked) == 0 && ref != "":
		return Result{}, fmt.Errorf("dockerports: the OCI layout %s has no image %q: use one of %s", dir, ref, strings.Join(names, ", "))
	case len(picked) == 0:
		return Result{}, fmt.Errorf("dockerports: the OCI layout %s holds no image", dir)
	case len(picked) > 1:
		return Result{}, fmt.Errorf("dockerports: the OCI layout %s holds %d images: pick one with --image (%s)", dir, len(picked), strings.Join(names, ", "))
	}
	img, err := idx.Image(picked[0].Digest)
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: the OCI layout %s: image %s: %w (an index of several platforms is not read: save one platform)", dir, picked[0].Digest, err)
	}
	return fromImage(dir, img)
}

// FromDaemon reads an image from the Docker engine that DOCKER_HOST (or
// the default socket) names, if one answers; else ErrNoDaemon.
func FromDaemon(ctx context.Context, ref string) (Result, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: image %q: %w", ref, err)
	}
	if err := daemonAnswers(ctx); err != nil {
		return Result{}, err
	}
	img, err := daemon.Image(r, daemon.WithContext(ctx))
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: image %s from the Docker daemon: %w", ref, err)
	}
	return fromImage(ref, img)
}

// daemonAnswers dials the engine first, because the Docker client library
// only says so after a long error; a tcp:// host with TLS is left to it.
func daemonAnswers(ctx context.Context) error {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("dockerports: DOCKER_HOST %q: %w", host, err)
	}
	network, addr := u.Scheme, u.Host
	if network == "unix" {
		addr = u.Path
	}
	if network != "unix" && network != "tcp" {
		return nil // ssh:// and npipe:// are for the client library to reach
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("%w at %s (%v): start Docker, or read the image from a file: docker save IMAGE -o image.tar, then fwd ports detect image.tar", ErrNoDaemon, host, err)
	}
	conn.Close()
	return nil
}

func fromImage(source string, img v1.Image) (Result, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: %s: reading the image config: %w", source, err)
	}
	var specs []spec
	var notes []string
	keys := make([]string, 0, len(cfg.Config.ExposedPorts))
	for k := range cfg.Config.ExposedPorts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s, err := parseSpec(k)
		if err != nil {
			notes = append(notes, fmt.Sprintf("skipped exposed port %s", err))
			continue
		}
		specs = append(specs, s...)
	}
	ports := catalogPorts(specs, TCP)
	for i := range ports {
		if ports[i].Protocol == TCP && usuallyHTTP(ports[i].Number) {
			ports[i].Protocol = HTTP
		}
	}
	if slices.ContainsFunc(ports, func(p Port) bool { return p.Protocol != UDP }) {
		notes = append(notes, imageNote)
	}
	res := Result{Source: source, Ports: ports, Notes: notes}
	if len(ports) == 0 {
		return res, fmt.Errorf("%w in the image config of %s", ErrNoPorts, source)
	}
	return res, nil
}

// Kind tells what path is: a Dockerfile, a docker save tarball or an OCI
// layout; a directory holding a Dockerfile is its Dockerfile.
func Kind(path string) (kind, file string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("dockerports: %w", err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err == nil {
			return KindLayout, path, nil
		}
		return KindDockerfile, filepath.Join(path, "Dockerfile"), nil
	}
	if isTar(path) {
		return KindTarball, path, nil
	}
	return KindDockerfile, path, nil
}

// The kinds of source Kind tells apart.
const (
	KindDockerfile = "dockerfile"
	KindTarball    = "tarball"
	KindLayout     = "layout"
)

// isTar looks for the ustar magic of a tar header's first block.
func isTar(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var block [512]byte
	if _, err := f.ReadAt(block[:], 0); err != nil {
		return false
	}
	return string(block[257:262]) == "ustar"
}
