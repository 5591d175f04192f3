package config

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/internal/yamlnode"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// KubernetesCatalog is catalog: {kubernetes: ...}: the gateway's catalog
// comes from a Kubernetes cluster's Services instead of projects:, each
// namespace a project. Exactly one of Kubeconfig and InCluster is set.
type KubernetesCatalog struct {
	// Kubeconfig is the kubeconfig file to reach the cluster with; Load and
	// Parse resolve a relative one as they do the config's other files.
	Kubeconfig string
	// InCluster reaches the cluster as a pod does: its service account's
	// token and the KUBERNETES_SERVICE_* variables.
	InCluster bool
	// Namespaces are the only namespaces watched, each a project; empty
	// watches every namespace.
	Namespaces []string
	// LabelSelector, if set, keeps only the Services it selects, as
	// kubectl get services -l would.
	LabelSelector string
}

// KubernetesSuffixes are the hostname suffixes of a Service's names,
// <svc>.<ns>.svc.cluster.local and <svc>.<ns>.svc; Parse adds those the
// config's hostname_suffixes leave out when the catalog comes from
// Kubernetes.
var KubernetesSuffixes = []string{"svc.cluster.local", "svc"}

// catalogSource decodes catalog:, where the catalog comes from when not
// from projects:. Kubernetes is the one source there is.
func (d *decoder) catalogSource(n *yaml.Node, path string, c *Config) error {
	err := d.mapping(n, "catalog", path, "{kubernetes: {kubeconfig: kubeconfig.yaml}}", []field{
		{"kubernetes", func(v *yaml.Node, path string) error {
			k := &KubernetesCatalog{}
			c.Kubernetes = k
			return d.kubernetes(v, path, k)
		}},
	})
	if err == nil && c.Kubernetes == nil {
		return d.errorf(n, nil, "catalog is empty: write catalog: {kubernetes: {kubeconfig: FILE}}, or remove it and list projects:")
	}
	return err
}

func (d *decoder) kubernetes(n *yaml.Node, path string, k *KubernetesCatalog) error {
	return d.mapping(n, "catalog.kubernetes", path, "{kubeconfig: kubeconfig.yaml} or {in_cluster: true}", []field{
		{"kubeconfig", func(v *yaml.Node, _ string) error {
			name, err := d.str(v, "kubeconfig")
			if err != nil || name == "" {
				return err
			}
			k.Kubeconfig = d.filePath(name)
			if problem := kubeconfigProblem(k.Kubeconfig); problem != "" {
				return d.errorf(v, nil, "kubeconfig %s", problem)
			}
			return nil
		}},
		{"in_cluster", func(v *yaml.Node, _ string) (err error) {
			k.InCluster, err = d.boolean(v, "in_cluster")
			return err
		}},
		{"namespaces", func(v *yaml.Node, path string) error {
			return d.stringList(v, "namespaces", path, "[shop, billing]", &k.Namespaces)
		}},
		{"label_selector", func(v *yaml.Node, _ string) (err error) {
			k.LabelSelector, err = d.str(v, "label_selector")
			return err
		}},
	})
}

// kubeconfigProblem says why the kubeconfig at path cannot be read, or "".
// It is checked now so that a wrong path points at its line, not at a
// client that fails later.
func kubeconfigProblem(path string) string {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return strconv.Quote(path) + ": no such file: check the path (relative paths are from the config's directory)"
	case err != nil:
		return strconv.Quote(path) + ": " + cause(err)
	case !info.Mode().IsRegular():
		return strconv.Quote(path) + " is not a regular file: name a kubeconfig file"
	}
	return ""
}

// boolean decodes a scalar as true or false.
func (d *decoder) boolean(at *yaml.Node, what string) (bool, error) {
	n, err := d.resolve(at)
	if err != nil {
		return false, err
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, d.errorf(at, nil, "%s must be true or false, not %s", what, yamlnode.Describe(n))
	}
	v, err := strconv.ParseBool(strings.ToLower(n.Value))
	if err != nil {
		return false, d.errorf(at, err, "%s must be true or false, not %s", what, yamlnode.Describe(n))
	}
	return v, nil
}

// kubernetesSuffixes adds KubernetesSuffixes to the config's
// hostname_suffixes when its catalog comes from Kubernetes, so that every
// Service's hostnames may be written.
func (c *Config) kubernetesSuffixes() {
	if c.Kubernetes == nil {
		return
	}
	for _, s := range KubernetesSuffixes {
		if !contains(c.HostnameSuffixes, s) {
			c.HostnameSuffixes = append(c.HostnameSuffixes, s)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// kubernetes checks catalog: {kubernetes: ...}: one way to reach the
// cluster, namespaces that can be projects, and no projects: beside it.
func (k *checker) kubernetes(c *Config) {
	kc := c.Kubernetes
	if kc == nil {
		return
	}
	const path = "catalog.kubernetes"
	switch {
	case kc.Kubeconfig == "" && !kc.InCluster:
		k.errorf(path, nil, "catalog.kubernetes says neither kubeconfig nor in_cluster: add kubeconfig: FILE, or in_cluster: true when the gateway runs in a pod")
	case kc.Kubeconfig != "" && kc.InCluster:
		k.errorf(path+".in_cluster", nil, "catalog.kubernetes has both kubeconfig and in_cluster: true: keep one")
	}
	if len(c.Catalog.Projects) > 0 {
		k.errorf("catalog", nil, "catalog: and projects: are both set: the catalog comes from Kubernetes or from projects:, not both; remove one")
	}
	seen := map[string]string{}
	for i, ns := range kc.Namespaces {
		npath := path + ".namespaces[" + strconv.Itoa(i) + "]"
		if p := labelProblem(ns); p != "" {
			k.errorf(npath, nil, "namespace %q %s", ns, p)
		} else if first, ok := seen[ns]; ok {
			k.errorf(npath, nil, "namespace %q is listed twice (first at %s): remove one", ns, k.where(first))
		} else {
			seen[ns] = npath
		}
	}
	if strings.ContainsAny(kc.LabelSelector, "\n\r") {
		k.errorf(path+".label_selector", nil, "label_selector is more than one line: write it as kubectl -l takes it, like team=a,tier!=batch")
	}
}

// kubernetesProjectRefs checks the projects a token or user is scoped to
// when namespaces are the projects: they appear and go while the gateway
// runs, so they need not exist now, but each must be a name a namespace
// can have, and one of namespaces: when that is set.
func (k *checker) kubernetesProjectRefs(path, what, name string, projects []string) {
	for j, p := range projects {
		ppath := path + ".projects[" + strconv.Itoa(j) + "]"
		switch {
		case p == "*":
		case labelProblem(p) != "":
			k.errorf(ppath, nil, "%s %q names project %q, which cannot be a namespace: it %s", what, name, p, labelProblem(p))
		case len(k.kube.Namespaces) > 0 && !contains(k.kube.Namespaces, p):
			k.referrorf(ppath, nil, `%s %q names project %q, which is not in catalog.kubernetes.namespaces (%s): add it there, or use one of them, or "*"`,
				what, name, p, strings.Join(k.kube.Namespaces, ", "))
		}
	}
}

// CheckLiveResource checks one service or addon of a catalog that a live
// source builds as it goes, such as the gateway's Services from Kubernetes,
// by the rules projects: in a file follows (names, ports, protocols,
// targets, hostnames under suffixes), except that a port may have no
// targets: a Service with no ready endpoints is still in the catalog, and
// a dial to it fails. r's Kind and Project must be set. Rules between
// resources (a name or hostname used twice) are the source's to keep. The
// error, if any, is the first problem, in the words Parse would use.
func CheckLiveResource(r catalog.Resource, suffixes []string) error {
	p := catalog.Project{Name: r.Project}
	if r.Kind == catalog.Addon {
		p.Addons = []catalog.Resource{r}
	} else {
		p.Services = []catalog.Resource{r}
	}
	k := &checker{noTargetsOK: true}
	k.catalog(&catalog.Catalog{Projects: []catalog.Project{p}}, suffixes)
	if err := k.first(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return errors.New(e.Msg)
		}
		return err
	}
	return nil
}
