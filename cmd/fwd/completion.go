package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// Completion asks the gateway for names, but a shell must not hang on a
// slow one: the catalog is fetched within completionTimeout and kept for
// completionTTL, and a stale copy is used when the gateway does not answer.
const (
	completionTimeout = 2 * time.Second
	completionTTL     = time.Minute
)

// completeContexts offers the saved contexts' names.
func completeContexts(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	_, cfg, err := loadContexts()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, c := range cfg.Contexts {
		names = append(names, c.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// registerCompletion makes a forward command's names complete from its
// gateway's catalog: --project, --service or --addon, and the argument.
func registerCompletion(cmd *cobra.Command, opts *forwardOptions) {
	names := func(pick func(*forwardOptions, catalog.Catalog) []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			cat, ok := completionCatalog(opts)
			if !ok {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return pick(opts, cat), cobra.ShellCompDirectiveNoFileComp
		}
	}
	cmd.RegisterFlagCompletionFunc("project", names(projectNames))
	switch opts.kind {
	case forwardService:
		cmd.RegisterFlagCompletionFunc("service", names(resourceNames(catalog.Service)))
		cmd.ValidArgsFunction = names(resourceNames(catalog.Service))
	case forwardAddon:
		cmd.RegisterFlagCompletionFunc("addon", names(resourceNames(catalog.Addon)))
		cmd.ValidArgsFunction = names(resourceNames(catalog.Addon))
	default:
		cmd.ValidArgsFunction = names(projectNames)
	}
}

func projectNames(_ *forwardOptions, cat catalog.Catalog) []string { return cat.ProjectNames() }

// resourceNames are the services or addons of the project given so far,
// or of every project.
func resourceNames(kind catalog.Kind) func(*forwardOptions, catalog.Catalog) []string {
	return func(o *forwardOptions, cat catalog.Catalog) []string {
		var out []string
		for i := range cat.Projects {
			p := &cat.Projects[i]
			if o.project != "" && p.Name != o.project {
				continue
			}
			for _, r := range p.Resources(kind) {
				out = append(out, r.Name)
			}
		}
		return out
	}
}

// completionCatalog is the catalog for completing names: a fresh cached
// copy, else the gateway's within completionTimeout, else a stale copy.
func completionCatalog(o *forwardOptions) (catalog.Catalog, bool) {
	o.project = envOr(o.project, "FWD_PROJECT")
	o.gateway = envOr(o.gateway, "FWD_GATEWAY")
	o.token = envOr(o.token, "FWD_TOKEN")
	o.caFile = envOr(o.caFile, "FWD_CA")
	o.fingerprint = envOr(o.fingerprint, "FWD_FINGERPRINT")
	if o.fromContext() != nil || o.gateway == "" || o.token == "" {
		return catalog.Catalog{}, false
	}
	path := completionCachePath(o.gateway, o.token)
	cached, age, ok := readCachedCatalog(path)
	if ok && age < completionTTL {
		return cached, true
	}
	o.timeout = completionTimeout
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	cat, err := fetchCatalog(ctx, o, streams{}) // no terminal: nothing is asked
	if err != nil {
		return cached, ok
	}
	writeCachedCatalog(path, cat)
	return cat, true
}

// completionCachePath is per gateway and token (hashed: no token is
// written), under the user's cache directory.
func completionCachePath(gateway, token string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(gateway + "\x00" + token))
	return filepath.Join(dir, "fwd", "catalog-"+hex.EncodeToString(sum[:8])+".json")
}

func readCachedCatalog(path string) (catalog.Catalog, time.Duration, bool) {
	var cat catalog.Catalog
	info, err := os.Stat(path)
	if path == "" || err != nil {
		return cat, 0, false
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &cat) != nil {
		return cat, 0, false
	}
	return cat, time.Since(info.ModTime()), true
}

// writeCachedCatalog keeps names only: no connection details, no secret.
func writeCachedCatalog(path string, cat catalog.Catalog) {
	if path == "" {
		return
	}
	for i := range cat.Projects {
		for _, rs := range [][]catalog.Resource{cat.Projects[i].Services, cat.Projects[i].Addons} {
			for j := range rs {
				rs[j].Env, rs[j].Secrets = nil, nil
			}
		}
	}
	b, err := json.Marshal(cat)
	if err != nil || os.MkdirAll(filepath.Dir(path), 0o700) != nil {
		return
	}
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, path)
	}
}
