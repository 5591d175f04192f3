package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// kubeTokens is tokens with a project that no namespace has yet: lines 1-4.
const kubeTokens = "tokens:\n  - name: alice\n    sha256: " + testHash + "\n    projects: [shop]\n"

// inCluster is a Kubernetes catalog from inside a pod: lines 5-7.
const inCluster = "catalog:\n  kubernetes:\n    in_cluster: true\n"

func TestParseKubernetes(t *testing.T) {
	c, err := Parse("k.yaml", []byte(kubeTokens+inCluster+"    namespaces: [shop, billing]\n    label_selector: team=a\n"))
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, c)
	want := &KubernetesCatalog{InCluster: true, Namespaces: []string{"shop", "billing"}, LabelSelector: "team=a"}
	if !reflect.DeepEqual(c.Kubernetes, want) {
		t.Errorf("Kubernetes = %+v, want %+v", c.Kubernetes, want)
	}
	if len(c.Catalog.Projects) != 0 {
		t.Errorf("Catalog = %+v, want none until the cluster fills it", c.Catalog)
	}
	if !reflect.DeepEqual(c.HostnameSuffixes, KubernetesSuffixes) {
		t.Errorf("HostnameSuffixes = %q, want %q added", c.HostnameSuffixes, KubernetesSuffixes)
	}
}

// TestParseKubernetesSuffixes: the config's own suffixes stay first, and
// one it lists already is not added twice.
func TestParseKubernetesSuffixes(t *testing.T) {
	c, err := Parse("k.yaml", []byte(kubeTokens+inCluster+"hostname_suffixes: [shop.internal, .SVC]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"shop.internal", "svc", "svc.cluster.local"}; !reflect.DeepEqual(c.HostnameSuffixes, want) {
		t.Errorf("HostnameSuffixes = %q, want %q", c.HostnameSuffixes, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

// TestLoadKubeconfigRelative: a relative kubeconfig is read from the
// config's directory, as the TLS files are.
func TestLoadKubeconfigRelative(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gateway.yaml")
	yaml := kubeTokens + "catalog:\n  kubernetes: {kubeconfig: kubeconfig}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "kubeconfig"); c.Kubernetes == nil || c.Kubernetes.Kubeconfig != want || c.Kubernetes.InCluster {
		t.Errorf("Kubernetes = %+v, want kubeconfig %s", c.Kubernetes, want)
	}
	checkInvariants(t, c)
}

func TestParseKubernetesBad(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []badCase{
		{"neither way in", kubeTokens + "catalog:\n  kubernetes: {namespaces: [shop]}\n", 6, "says neither kubeconfig nor in_cluster"},
		{"both ways in", kubeTokens + "catalog:\n  kubernetes: {kubeconfig: /etc/hostname, in_cluster: true}\n", 6, "both kubeconfig and in_cluster"},
		{"null kubernetes", kubeTokens + "catalog:\n  kubernetes:\n", 6, "says neither kubeconfig nor in_cluster"},
		{"empty catalog", kubeTokens + "catalog: {}\n", 5, "catalog is empty"},
		{"catalog not a mapping", kubeTokens + "catalog: kubernetes\n", 5, "catalog must be a mapping"},
		{"unknown source", kubeTokens + "catalog:\n  consul: {}\n", 6, `unknown key "consul" in catalog`},
		{"typo", kubeTokens + inCluster + "    namespace: [shop]\n", 8, `did you mean "namespaces"?`},
		{"in_cluster not a bool", kubeTokens + "catalog:\n  kubernetes: {in_cluster: \"yes\"}\n", 6, "in_cluster must be true or false"},
		{"missing kubeconfig", kubeTokens + "catalog:\n  kubernetes: {kubeconfig: " + missing + "}\n", 6, "no such file"},
		{"kubeconfig a directory", kubeTokens + "catalog:\n  kubernetes: {kubeconfig: /}\n", 6, "not a regular file"},
		{"bad namespace", kubeTokens + inCluster + "    namespaces: [shop, Billing]\n", 8, `namespace "Billing" has capital letters`},
		{"namespace twice", kubeTokens + inCluster + "    namespaces: [shop, shop]\n", 8, `namespace "shop" is listed twice`},
		{"with projects", kubeTokens + inCluster + shop + port, 6, "catalog: and projects: are both set"},
		{"token outside namespaces", kubeTokens + inCluster + "    namespaces: [billing]\n", 4, `not in catalog.kubernetes.namespaces (billing)`},
		{"token project no namespace", strings.Replace(kubeTokens, "[shop]", "[Shop]", 1) + inCluster, 4, `cannot be a namespace`},
		{"token without projects", strings.Replace(kubeTokens, "[shop]", "[]", 1) + inCluster, 4, "has no projects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s\ngot %+v", tc.yaml, c)
			}
			msg := err.Error()
			prefix := "bad.yaml:" + strconv.Itoa(tc.line) + ":"
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.phrase) {
				t.Errorf("error:\n  %s\nwant prefix %q and phrase %q", msg, prefix, tc.phrase)
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != tc.line {
				t.Errorf("error %#v: want an *Error at line %d", err, tc.line)
			}
		})
	}
}

// TestKubernetesStarToken: "*" is every namespace, whatever namespaces says.
func TestKubernetesStarToken(t *testing.T) {
	yaml := strings.Replace(kubeTokens, "[shop]", `["*"]`, 1) + inCluster + "    namespaces: [billing]\n"
	if _, err := Parse("k.yaml", []byte(yaml)); err != nil {
		t.Fatal(err)
	}
}

func TestCheckLiveResource(t *testing.T) {
	suffixes := KubernetesSuffixes
	api := func(edit func(r *catalog.Resource)) catalog.Resource {
		r := catalog.Resource{Kind: catalog.Service, Project: "shop", Name: "api",
			Hostnames: []string{"api.shop.svc.cluster.local", "api.shop.svc"},
			Ports:     []catalog.Port{{Name: "http", Port: 80, Protocol: catalog.HTTP, Targets: []string{"10.0.0.5:8080"}}}}
		if edit != nil {
			edit(&r)
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		r     catalog.Resource
		error string // "" for none
	}{
		{"good", api(nil), ""},
		{"addon", api(func(r *catalog.Resource) { r.Kind = catalog.Addon }), ""},
		{"no ready endpoints", api(func(r *catalog.Resource) { r.Ports[0].Targets = nil }), ""},
		{"bad name", api(func(r *catalog.Resource) { r.Name = "Api" }), `service name "Api" has capital letters`},
		{"bad project", api(func(r *catalog.Resource) { r.Project = "shop_1" }), `project name "shop_1" contains '_'`},
		{"no ports", api(func(r *catalog.Resource) { r.Ports = nil }), `service "api" has no ports`},
		{"bad protocol", api(func(r *catalog.Resource) { r.Ports[0].Protocol = "SCTP" }), `protocol "SCTP" is not one of`},
		{"bad target", api(func(r *catalog.Resource) { r.Ports[0].Targets = []string{"10.0.0.5"} }), `target "10.0.0.5" is not host:port`},
		{"hostname outside suffixes", api(func(r *catalog.Resource) { r.Hostnames = []string{"api.example.com"} }), "does not end in any of hostname_suffixes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLiveResource(tc.r, suffixes)
			switch {
			case tc.error == "" && err != nil:
				t.Errorf("CheckLiveResource: %v", err)
			case tc.error != "" && (err == nil || !strings.Contains(err.Error(), tc.error)):
				t.Errorf("CheckLiveResource = %v, want an error containing %q", err, tc.error)
			case err != nil && strings.Contains(err.Error(), "projects["):
				t.Errorf("error %q names a place in a file there is not", err)
			}
		})
	}
}

// TestDocKubernetesExampleParses keeps doc.go's Kubernetes example valid.
func TestDocKubernetesExampleParses(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "// # Catalog from Kubernetes")
	if !ok {
		t.Fatal(`doc.go has no "# Catalog from Kubernetes" section`)
	}
	rest, _, _ = strings.Cut(rest, "// # Errors")
	var block strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		if code, ok := strings.CutPrefix(line, "//\t"); ok {
			block.WriteString(code + "\n")
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(kubeTokens+block.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, block.String())
	}
	if c.Kubernetes == nil || c.Kubernetes.Kubeconfig != filepath.Join(dir, "kubeconfig") {
		t.Errorf("doc.go example parsed to %+v", c.Kubernetes)
	}
}
