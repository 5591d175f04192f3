package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/tunnel/config"
)

// manifestsDir holds the Kubernetes manifests, from this package.
var manifestsDir = filepath.Join(root, "deploy", "kubernetes")

// manifests are every object of deploy/kubernetes's files, decoded.
func manifests(t *testing.T) []map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestsDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", manifestsDir, err)
	}
	var out []map[string]any
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if obj != nil {
				obj["_file"] = filepath.Base(f)
				out = append(out, obj)
			}
		}
	}
	return out
}

func find(t *testing.T, objs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o["kind"] == kind && get(o, "metadata", "name") == name {
			return o
		}
	}
	t.Fatalf("no %s %s in %s", kind, name, manifestsDir)
	return nil
}

// get walks maps by key and lists by index (an int).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// gatewayYAML is the gateway.yaml the ConfigMap holds.
func gatewayYAML(t *testing.T, objs []map[string]any) string {
	t.Helper()
	s, _ := get(find(t, objs, "ConfigMap", "fwd-gateway"), "data", "gateway.yaml").(string)
	if s == "" {
		t.Fatal("ConfigMap fwd-gateway has no gateway.yaml")
	}
	return s
}

// TestManifestsGatewayConfig: the gateway.yaml the manifests ship is one
// the gateway accepts, and agrees with the Deployment around it: its
// catalog from the cluster, its ports those the probes and the Service
// use, its certificate where the Secret is mounted, and a grace period
// that ends before the kubelet's SIGKILL.
func TestManifestsGatewayConfig(t *testing.T) {
	objs := manifests(t)
	cfg, err := config.Parse("gateway.yaml", []byte(gatewayYAML(t, objs)))
	if err != nil {
		t.Fatalf("the ConfigMap's gateway.yaml: %v", err)
	}
	if cfg.Kubernetes == nil || !cfg.Kubernetes.InCluster {
		t.Errorf("catalog is %+v: want kubernetes with in_cluster: true", cfg.Kubernetes)
	}
	_, port, _ := net.SplitHostPort(cfg.Listen)
	_, metricsPort, _ := net.SplitHostPort(cfg.MetricsListen)
	if port != "7443" || metricsPort != "9090" {
		t.Errorf("listen %q, metrics_listen %q: want ports 7443 and 9090, as the Deployment names them", cfg.Listen, cfg.MetricsListen)
	}
	for _, addr := range []string{cfg.Listen, cfg.MetricsListen} {
		if host, _, _ := net.SplitHostPort(addr); host != "0.0.0.0" && host != "" {
			t.Errorf("%q: in a pod, the Service and the kubelet's probes come from outside: listen on every interface", addr)
		}
	}

	dep := find(t, objs, "Deployment", "fwd-gateway")
	if r := get(dep, "spec", "replicas"); r != 2 {
		t.Errorf("replicas %v, want 2", r)
	}
	pod := get(dep, "spec", "template", "spec")
	c := get(pod, "containers", 0)
	ports := map[string]int{}
	for _, p := range get(c, "ports").([]any) {
		ports[get(p, "name").(string)] = get(p, "containerPort").(int)
	}
	if ports["tunnel"] != 7443 || ports["metrics"] != 9090 {
		t.Errorf("container ports %v: want tunnel 7443 and metrics 9090", ports)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if get(c, probe, "httpGet", "path") != path || get(c, probe, "httpGet", "port") != "metrics" {
			t.Errorf("%s is %v: want GET %s on port metrics", probe, get(c, probe), path)
		}
	}
	sc := get(c, "securityContext")
	if get(sc, "runAsNonRoot") != true || get(sc, "readOnlyRootFilesystem") != true ||
		get(sc, "allowPrivilegeEscalation") != false || get(sc, "capabilities", "drop", 0) != "ALL" {
		t.Errorf("container securityContext %v: want runAsNonRoot, readOnlyRootFilesystem, no privilege escalation, drop ALL", sc)
	}
	if get(c, "resources", "requests") == nil || get(c, "resources", "limits", "memory") == nil {
		t.Errorf("resources %v: want requests and a memory limit", get(c, "resources"))
	}

	// The config and the certificate are mounted where gateway.yaml and
	// the image's entrypoint look.
	mounts := map[string]string{}
	for _, m := range get(c, "volumeMounts").([]any) {
		mounts[get(m, "name").(string)] = get(m, "mountPath").(string)
	}
	volumes := map[string]any{}
	for _, v := range get(pod, "volumes").([]any) {
		volumes[get(v, "name").(string)] = v
	}
	if mounts["config"] != "/etc/fwd" || get(volumes["config"], "configMap", "name") != "fwd-gateway" {
		t.Errorf("the ConfigMap is not mounted at /etc/fwd, where the entrypoint reads gateway.yaml: mounts %v", mounts)
	}
	tlsDir := mounts["tls"]
	if get(volumes["tls"], "secret", "secretName") != "fwd-gateway-tls" || tlsDir == "" ||
		cfg.TLS.Cert != tlsDir+"/tls.crt" || cfg.TLS.Key != tlsDir+"/tls.key" {
		t.Errorf("tls %+v is not the Secret fwd-gateway-tls mounted at %q: every replica must serve the same certificate", cfg.TLS, tlsDir)
	}

	grace, _ := get(pod, "terminationGracePeriodSeconds").(int)
	if cfg.Limits.ShutdownGrace.Seconds() >= float64(grace) {
		t.Errorf("shutdown_grace %v is not shorter than terminationGracePeriodSeconds %d: the kubelet would kill the gateway while it drains", cfg.Limits.ShutdownGrace, grace)
	}
	if sa := get(pod, "serviceAccountName"); sa != "fwd-gateway" {
		t.Errorf("serviceAccountName %v, want fwd-gateway, which the RBAC binds", sa)
	}

	svc := find(t, objs, "Service", "fwd-gateway")
	if get(svc, "spec", "ports", 0, "port") != 7443 || get(svc, "spec", "ports", 0, "targetPort") != "tunnel" {
		t.Errorf("Service ports %v: want 7443 to the tunnel port", get(svc, "spec", "ports"))
	}
	if len(get(svc, "spec", "ports").([]any)) != 1 {
		t.Error("the Service exposes more than the tunnel: metrics stay inside the cluster")
	}
}

// TestManifestsRBACReadOnly: the gateway may read services and
// endpointslices and nothing else.
func TestManifestsRBACReadOnly(t *testing.T) {
	objs := manifests(t)
	role := find(t, objs, "ClusterRole", "fwd-gateway")
	want := map[string]bool{"/services": true, "discovery.k8s.io/endpointslices": true}
	for _, r := range get(role, "rules").([]any) {
		for _, verb := range get(r, "verbs").([]any) {
			if v := verb.(string); v != "get" && v != "list" && v != "watch" {
				t.Errorf("rule %v grants %s: the gateway only reads", r, v)
			}
		}
		for _, g := range get(r, "apiGroups").([]any) {
			for _, res := range get(r, "resources").([]any) {
				key := g.(string) + "/" + res.(string)
				if !want[key] {
					t.Errorf("rule grants %s, which the gateway does not read", key)
				}
				delete(want, key)
			}
		}
	}
	for k := range want {
		t.Errorf("no rule lets the gateway read %s", k)
	}
	b := find(t, objs, "ClusterRoleBinding", "fwd-gateway")
	if get(b, "roleRef", "name") != "fwd-gateway" || get(b, "subjects", 0, "name") != "fwd-gateway" || get(b, "subjects", 0, "namespace") != "fwd" {
		t.Errorf("binding %v does not bind the role to the gateway's service account", b)
	}
	kust, err := os.ReadFile(filepath.Join(manifestsDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if f := o["_file"].(string); !seen[f] {
			seen[f] = true
			if !strings.Contains(string(kust), "- "+f+"\n") {
				t.Errorf("kustomization.yaml does not list %s", f)
			}
		}
	}
}
