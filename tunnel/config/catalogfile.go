package config

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/fwd-dev/fwd/internal/yamlnode"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// CatalogFile is a catalog read from a file of its own, for a client that
// forwards without a gateway (fwd --via ssh://host --catalog FILE): the
// projects it may forward, with their targets, and the hostname suffixes
// their hostnames may be written under.
type CatalogFile struct {
	Path             string
	Catalog          catalog.Catalog
	HostnameSuffixes []string
}

// LoadCatalog reads and checks a catalog file: gateway.yaml's projects:,
// with hostname_suffixes: and secrets: if its hostnames and env templates
// need them. A whole gateway.yaml will do; its other keys are decoded as
// the gateway decodes them (so a typo is still an error) and otherwise
// left alone, and no tokens are needed. The secrets that env templates use
// are read now, from this process's environment and files (a relative
// file name is relative to the catalog file); one that cannot be read is
// left out, and rendering the template says which. Errors are *Error,
// with file:line:column.
func LoadCatalog(path string) (*CatalogFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, catalogReadError(path, err)
	}
	root, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	if root == nil || yamlnode.IsNull(root) {
		return nil, &Error{File: path, Line: 1, Msg: "the catalog file is empty: it needs projects:, as in gateway.yaml"}
	}
	dir := filepath.Dir(path)
	d := &decoder{file: path, dir: dir, pos: map[string]position{}, budget: maxNodes}
	c := &Config{Listen: DefaultListen, GatewayConfig: tunnel.GatewayConfig{Limits: DefaultLimits()}}
	if err := d.config(root, c); err != nil {
		return nil, err
	}
	if err := c.checkCatalog(path, d.pos); err != nil {
		return nil, err
	}
	cat := c.Catalog
	fillSecrets(&cat, c.Secrets, dir)
	return &CatalogFile{Path: path, Catalog: cat, HostnameSuffixes: c.HostnameSuffixes}, nil
}

// catalogReadError is readError with the advice naming --catalog, the flag
// that gives a catalog file's path.
func catalogReadError(path string, err error) *Error {
	e := readError(path, err)
	if path == "" {
		e.Msg = "no catalog file given: pass --catalog FILE"
	}
	e.Msg = strings.ReplaceAll(e.Msg, "--config", "--catalog")
	return e
}

// checkCatalog applies the gateway's checks of projects:, hostname_suffixes:
// and secrets: (and env templates) to a catalog file; tokens, TLS and
// limits are a gateway's business, not checked here.
func (c *Config) checkCatalog(file string, pos map[string]position) error {
	k := &checker{file: file, pos: pos}
	if len(c.Catalog.Projects) == 0 {
		k.errorf("projects", nil, "no projects: add projects: [{name: shop, services: [...]}], as in gateway.yaml")
	}
	k.suffixes(c.HostnameSuffixes)
	k.catalog(&c.Catalog, c.HostnameSuffixes)
	k.secrets(c.Secrets)
	k.envs(&c.Catalog, c.Secrets)
	return k.first()
}

// fillSecrets sets each resource's Secrets to the values of the secrets its
// env templates use, as a gateway sends them to its clients. Unreadable
// ones are left out: RenderEnv then names the one missing.
func fillSecrets(cat *catalog.Catalog, secrets map[string]tunnel.SecretSource, dir string) {
	for i := range cat.Projects {
		p := &cat.Projects[i]
		for _, rs := range [][]catalog.Resource{p.Services, p.Addons} {
			for j := range rs {
				rs[j].Secrets = readSecrets(&rs[j], secrets, dir)
			}
		}
	}
}

func readSecrets(r *catalog.Resource, secrets map[string]tunnel.SecretSource, dir string) map[string]string {
	var out map[string]string
	for key, text := range r.Env {
		names, err := catalog.SecretsIn(key, text)
		if err != nil {
			continue // checkCatalog has rendered every template once
		}
		for _, name := range names {
			src, ok := secrets[name]
			if !ok {
				continue
			}
			if src.File != "" && !filepath.IsAbs(src.File) {
				src.File = filepath.Join(dir, src.File)
			}
			v, err := src.Value()
			if err != nil {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}
