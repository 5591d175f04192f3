//go:build linux

package deploy

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// TestManifestsApplyToAPIServer applies deploy/kubernetes to a real
// kube-apiserver: first with --dry-run=server, which runs every object
// through the server's validation and admission as a real apply would,
// then for real, after which the gateway's service account may read
// services and endpointslices and may do nothing else.
func TestManifestsApplyToAPIServer(t *testing.T) {
	binDir, err := fwdtest.KubeBinDir()
	if errors.Is(err, fwdtest.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kube, err := fwdtest.StartKube(ctx, t.TempDir())
	if errors.Is(err, fwdtest.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := kube.Close(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	}()
	kubeconfig, err := kube.Kubeconfig(fwdtest.KubeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no ~/.kube cache of another cluster
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// The namespace exists before the objects in it can be checked: a
	// server-side dry run creates nothing, so fwd would not exist for the
	// rest of the same run.
	if err := kube.CreateNamespace(ctx, "fwd"); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl("apply", "--dry-run=server", "-k", manifestsDir)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k %s: %v\n%s\n%s", manifestsDir, err, out, kube.LogTail())
	}
	for _, obj := range []string{"serviceaccount/fwd-gateway", "clusterrole.rbac.authorization.k8s.io/fwd-gateway",
		"clusterrolebinding.rbac.authorization.k8s.io/fwd-gateway", "configmap/fwd-gateway", "service/fwd-gateway",
		"deployment.apps/fwd-gateway", "poddisruptionbudget.policy/fwd-gateway"} {
		if !strings.Contains(out, obj+" ") {
			t.Errorf("the dry run did not check %s:\n%s", obj, out)
		}
	}
	t.Logf("kubectl apply --dry-run=server:\n%s", out)

	if out, err := kubectl("apply", "-k", manifestsDir); err != nil {
		t.Fatalf("kubectl apply -k %s: %v\n%s", manifestsDir, err, out)
	}
	sa := "--as=system:serviceaccount:fwd:fwd-gateway"
	for _, c := range []struct {
		verb, resource string
		want           bool
	}{
		{"list", "services", true},
		{"watch", "services", true},
		{"get", "services", true},
		{"list", "endpointslices.discovery.k8s.io", true},
		{"watch", "endpointslices.discovery.k8s.io", true},
		{"create", "services", false},
		{"delete", "endpointslices.discovery.k8s.io", false},
		{"get", "secrets", false},
		{"list", "pods", false},
		{"list", "endpoints", false},
	} {
		out, err := kubectl("auth", "can-i", c.verb, c.resource, "--all-namespaces", sa)
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("kubectl auth can-i: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(out) == "yes"; got != c.want {
			t.Errorf("the gateway's service account may %s %s: %s, want %v", c.verb, c.resource, strings.TrimSpace(out), c.want)
		}
	}
}
