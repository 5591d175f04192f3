package forward_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestEnvPlainAndTemplated: every port gets FWD_* variables with its real
// local port, and a resource's env templates are rendered with the
// secrets the gateway sent.
func TestEnvPlainAndTemplated(t *testing.T) {
	t.Setenv("FWD_TEST_DB_PASSWORD", "p@ss word")
	db := addon("shop", "db-main", tcpPort("postgres", 25451, catalog.TCP, startEcho(t)))
	db.Env = map[string]string{"DATABASE_URL": `postgres://app:{{secret "pw"}}@{{.Address}}:{{.Port "postgres"}}/app`}
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{db}}}}
	env := startGateway(t, cat, fwdtest.WithSecrets(map[string]tunnel.SecretSource{"pw": {Env: "FWD_TEST_DB_PASSWORD"}}))
	client := newClient(t, env, nil)
	rs, err := client.ForwardAddon(context.Background(), "shop", "db-main")
	if err != nil {
		t.Fatal(err)
	}
	d := rs[0].Data
	vars, err := client.Env()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vars {
		got[v.Key] = v.Value
	}
	port := strconv.Itoa(d.Port)
	want := map[string]string{
		"FWD_SHOP_DB_MAIN_POSTGRES_HOST": d.Address,
		"FWD_SHOP_DB_MAIN_POSTGRES_PORT": port,
		"FWD_SHOP_DB_MAIN_POSTGRES_ADDR": d.Address + ":" + port,
		"DATABASE_URL":                   "postgres://app:p@ss word@" + d.Address + ":" + port + "/app",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("variables %v, want exactly %v", got, want)
	}
}
