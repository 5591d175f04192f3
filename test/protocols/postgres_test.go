package protocols_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

func startPostgres(t *testing.T) *fwdtest.Postgres {
	t.Helper()
	fwdtest.NeedBinaries(t, "postgres", "psql")
	pg, err := fwdtest.StartPostgres(testCtx(t, 90*time.Second), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// TestPostgresPsql runs SQL through fwd with psql: DDL, inserts, a query, a
// COPY of 100k rows in and a checksum of them out, and a look at which
// server answered.
func TestPostgresPsql(t *testing.T) {
	pg := startPostgres(t)
	fw := fwdTo(t, "db", port{"postgres", 5432, catalog.TCP, pg.Addr})["postgres"]
	dsn := pg.DSN(fw.Addr)
	psql := func(args ...string) string {
		t.Helper()
		return run(t, 60*time.Second, "psql", append([]string{"-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", dsn}, args...)...)
	}

	// The forward reaches this very server.
	out := psql("-c", "select current_setting('port'), current_setting('data_directory')")
	mustEqual(t, "port|data_directory", strings.TrimSpace(out), fmt.Sprintf("%d|%s", pg.Port, pg.DataDir))

	out = psql(
		"-c", "create table items (id int primary key, name text not null)",
		"-c", "insert into items select g, 'item ' || g from generate_series(1, 1000) g",
		"-c", "update items set name = upper(name) where id % 100 = 0",
		"-c", "select count(*), sum(id), min(name), max(name) from items where id > 10",
		"-c", "select name from items where id = 500")
	mustEqual(t, "query output", strings.TrimSpace(out), "990|500445|ITEM 100|item 999\nITEM 500")

	// 100k rows (about 4 MB) in through COPY FROM STDIN, a checksum out.
	var csv strings.Builder
	var all []string
	for i := range 100000 {
		v := fmt.Sprintf("value-%d-%x", i, i*7919)
		fmt.Fprintf(&csv, "%d,%s\n", i, v)
		all = append(all, v)
	}
	csvPath := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(strings.Join(all, ",")))
	out = psql(
		"-c", "create table bulk (id int primary key, v text)",
		"-c", fmt.Sprintf(`\copy bulk from '%s' with (format csv)`, csvPath),
		"-c", "select count(*), md5(string_agg(v, ',' order by id)) from bulk")
	mustEqual(t, "bulk count|md5", strings.TrimSpace(out), "100000|"+hex.EncodeToString(sum[:]))
}

var (
	pgbenchFailed    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	pgbenchProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	pgbenchTPS       = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
)

// TestPostgresPgbench initialises pgbench's tables and runs its TPC-B-like
// load with 4 clients for 5s, all through fwd: no transaction may fail, and
// every one must be in pgbench_history.
func TestPostgresPgbench(t *testing.T) {
	fwdtest.NeedBinaries(t, "pgbench")
	pg := startPostgres(t)
	fw := fwdTo(t, "db", port{"postgres", 5432, catalog.TCP, pg.Addr})["postgres"]
	host, portStr := fw.Data.Address, strconv.Itoa(fw.Data.Port)
	conn := []string{"-h", host, "-p", portStr, "-U", pg.User}

	run(t, 120*time.Second, "pgbench", append(append([]string{"-i", "-q", "-s", "2"}, conn...), pg.Database)...)
	out := run(t, 60*time.Second, "pgbench", append(append([]string{"-c", "4", "-j", "2", "-T", "5", "-n"}, conn...), pg.Database)...)
	t.Logf("pgbench through fwd:\n%s", out)

	m := pgbenchFailed.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in pgbench output", "number of failed transactions")
	}
	mustEqual(t, "failed transactions", m[1], "0")
	m = pgbenchProcessed.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no transaction count in pgbench output")
	}
	processed, _ := strconv.Atoi(m[1])
	if processed < 100 {
		t.Fatalf("only %d transactions in 5s", processed)
	}
	if pgbenchTPS.FindStringSubmatch(out) == nil {
		t.Fatal("no tps in pgbench output")
	}
	// Each TPC-B transaction inserts one history row: they all arrived.
	hist := run(t, 30*time.Second, "psql", "-X", "-At", "-d", pg.DSN(pg.Addr), "-c", "select count(*) from pgbench_history")
	mustEqual(t, "pgbench_history rows", strings.TrimSpace(hist), strconv.Itoa(processed))
}
