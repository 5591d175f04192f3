package daily_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestExecEnvArgsAndExitCode: the child sees the forward's variables, its
// arguments' templates are filled in, and fwd exits with its code.
func TestExecEnvArgsAndExitCode(t *testing.T) {
	gw := shop(t)
	sh := newShell(t).with(gatewayEnv(gw)...)
	r := sh.run("", "exec", "addon", "db", "-p", "shop", "--skipHostnames", "--",
		"sh", "-c", `echo "env=$FWD_SHOP_DB_POSTGRES_ADDR arg={{addr "db"}} port={{port "db" "postgres"}}"; exit 7`)
	if r.code != 7 {
		t.Fatalf("exit %d, want the child's 7; stderr:\n%s", r.code, r.stderr)
	}
	out := strings.TrimSpace(r.out)
	fields := strings.Fields(out)
	if len(fields) != 3 || strings.TrimPrefix(fields[0], "env=") != strings.TrimPrefix(fields[1], "arg=") ||
		!strings.HasSuffix(fields[0], ":28302") || fields[2] != "port=28302" {
		t.Fatalf("child printed %q, want the same address:port from the environment and the argument", out)
	}
}

// TestExecCannotStart: a command that does not exist is one line and 127.
func TestExecCannotStart(t *testing.T) {
	gw := shop(t)
	sh := newShell(t).with(gatewayEnv(gw)...)
	r := sh.run("", "exec", "all", "shop", "--skipHostnames", "--", "no-such-command-anywhere")
	if r.code != 127 || !strings.Contains(r.stderr, "cannot run no-such-command-anywhere") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q; want 127 and one line", r.code, r.stderr)
	}
}

// TestExecPsqlDatabaseURL: psql through a real PostgreSQL behind the
// gateway, with DATABASE_URL from the catalog's env template and its
// password from a gateway secret; the child's exit code passes through,
// a failing one's too, and the secret is in no log line.
func TestExecPsqlDatabaseURL(t *testing.T) {
	fwdtest.NeedBinaries(t, "postgres", "psql")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := fwdtest.StartPostgres(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	const secret = "s3cret-do-not-log"
	t.Setenv("FWD_DAILY_DB_PASSWORD", secret)
	db := catalog.Resource{Kind: catalog.Addon, Project: "shop", Name: "db",
		Ports: []catalog.Port{{Name: "postgres", Port: 25490, Protocol: catalog.TCP, Targets: []string{pg.Addr}}},
		Env: map[string]string{"DATABASE_URL": `postgres://` + pg.User + `:{{secret "db_password"}}@{{.Address}}:{{.Port "postgres"}}/` +
			pg.Database + `?sslmode=disable&connect_timeout=10`}}
	gw := fwdtest.NewGateway(t, catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{db}}}},
		fwdtest.WithSecrets(map[string]tunnel.SecretSource{"db_password": {Env: "FWD_DAILY_DB_PASSWORD"}}))
	sh := newShell(t).with(gatewayEnv(gw)...)

	ok := sh.run("", "exec", "all", "shop", "--skipHostnames", "-v", "--", "sh", "-c", `psql "$DATABASE_URL" -tAc "select 40+2"`)
	if ok.code != 0 || strings.TrimSpace(ok.out) != "42" {
		t.Fatalf("psql through fwd exec: exit %d, out %q; stderr:\n%s", ok.code, ok.out, ok.stderr)
	}
	bad := sh.run("", "exec", "all", "shop", "--skipHostnames", "-v", "--", "sh", "-c", `psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -tAc "select nonsense"; exit $?`)
	if bad.code == 0 {
		t.Fatalf("a failing psql's exit code did not pass through: exit %d; stderr:\n%s", bad.code, bad.stderr)
	}
	for _, logs := range []string{ok.stderr, bad.stderr} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the secret is in fwd's log:\n%s", logs)
		}
	}
}
