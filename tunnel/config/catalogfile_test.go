package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// catalogYAML is a catalog file with a hostname under a declared suffix,
// a UDP port, and env templates using a secret from the environment and
// one from a file beside it.
const catalogYAML = `hostname_suffixes: [.Shop.Internal]
secrets:
  pw: {env: FWD_TEST_CATALOG_PW}
  key: {file: key.txt}
projects:
  - name: shop
    services:
      - name: api
        hostnames: [api.shop.internal]
        ports:
          - {name: http, port: 8080, targets: [10.0.0.5:8080, 10.0.0.6:8080]}
    addons:
      - name: dns
        ports:
          - {port: 53, protocol: UDP, targets: [10.0.0.53:53]}
      - name: db
        env:
          DATABASE_URL: "postgres://app:{{secret \"pw\"}}@{{.Address}}:{{.Port \"5432\"}}/app?key={{secret \"key\"}}"
        ports:
          - {port: 5432, targets: [db.internal:5432]}
`

func writeCatalog(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadCatalog checks a catalog file without tokens: its projects with
// targets, normalised suffixes, and the secrets its templates use, read
// from the environment and from a file relative to the catalog.
func TestLoadCatalog(t *testing.T) {
	path := writeCatalog(t, catalogYAML)
	mustDo(t, os.WriteFile(filepath.Join(filepath.Dir(path), "key.txt"), []byte("k3y\n"), 0o600))
	t.Setenv("FWD_TEST_CATALOG_PW", "s3cret")
	f, err := LoadCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path || strings.Join(f.HostnameSuffixes, ",") != "shop.internal" {
		t.Errorf("path %q, suffixes %q", f.Path, f.HostnameSuffixes)
	}
	api, err := f.Catalog.Lookup(catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(api.Ports[0].Targets, " "); got != "10.0.0.5:8080 10.0.0.6:8080" {
		t.Errorf("api targets %q: a catalog file keeps them, the SSH server dials them", got)
	}
	db, err := f.Catalog.Lookup(catalog.ID{Project: "shop", Kind: catalog.Addon, Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if db.Secrets["pw"] != "s3cret" || db.Secrets["key"] != "k3y" {
		t.Errorf("db secrets = %v, want pw from the environment and key from key.txt", db.Secrets)
	}
	dns, _ := f.Catalog.Lookup(catalog.ID{Project: "shop", Kind: catalog.Addon, Name: "dns"})
	if dns == nil || dns.Ports[0].Protocol != catalog.UDP {
		t.Errorf("dns = %+v, want its UDP port kept", dns)
	}
}

// TestLoadCatalogGatewayFile checks that a whole gateway.yaml is a catalog
// file too.
func TestLoadCatalogGatewayFile(t *testing.T) {
	f, err := LoadCatalog(writeCatalog(t, "listen: 127.0.0.1:7443\n"+good))
	if err != nil {
		t.Fatal(err)
	}
	if names := f.Catalog.ProjectNames(); len(names) != 1 || names[0] != "shop" {
		t.Errorf("projects %v", names)
	}
}

// TestLoadCatalogErrors checks that problems come back as the gateway's do,
// file:line:column first, and that a missing file names --catalog.
func TestLoadCatalogErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", ":1: the catalog file is empty: it needs projects:"},
		{"no projects", "hostname_suffixes: [shop.internal]\n", "no projects: add projects:"},
		{"typo", "projets: []\n", `:1:1: unknown key "projets" in the config: did you mean "projects"?`},
		{"no targets", shop + "          - {port: 8080}\n", ":6:13: port 8080 has no targets"},
		{"hostname without suffix", shop + port + "        hostnames: [api.example.com]\n", `:7:21: hostname "api.example.com" needs hostname_suffixes`},
		{"undefined secret", withEnv(`URL: "{{secret \"pw\"}}"`), `uses secret "pw", which secrets: does not define`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeCatalog(t, tc.yaml)
			_, err := LoadCatalog(path)
			if err == nil || !strings.HasPrefix(err.Error(), path+":") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %s... containing %q", err, path, tc.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := LoadCatalog(missing); err == nil || !strings.Contains(err.Error(), "no such file: check --catalog") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadCatalog(""); err == nil || !strings.Contains(err.Error(), "pass --catalog FILE") {
		t.Errorf("no path: %v", err)
	}
}
