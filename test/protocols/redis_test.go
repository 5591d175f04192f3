package protocols_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

func startRedis(t *testing.T) (*fwdtest.Redis, forwarded) {
	t.Helper()
	fwdtest.NeedBinaries(t, "redis", "redis-cli")
	r, err := fwdtest.StartRedis(testCtx(t, 30*time.Second), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, fwdTo(t, "cache", port{"redis", 6379, catalog.TCP, r.Addr})["redis"]
}

// TestRedisCLI runs redis-cli commands through fwd: SET/GET/INCR, a 1 MiB
// binary value, and a mass insert with --pipe.
func TestRedisCLI(t *testing.T) {
	r, fw := startRedis(t)
	cli := []string{"-h", fw.Data.Address, "-p", strconv.Itoa(fw.Data.Port)}
	redis := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(run(t, 30*time.Second, "redis-cli", append(cli, args...)...))
	}

	mustEqual(t, "SET", redis("SET", "greeting", "hello through fwd"), "OK")
	mustEqual(t, "GET", redis("GET", "greeting"), "hello through fwd")
	for i := 1; i <= 3; i++ {
		mustEqual(t, "INCR", redis("INCR", "counter"), strconv.Itoa(i))
	}
	mustEqual(t, "INCRBY", redis("INCRBY", "counter", "39"), "42")
	mustEqual(t, "server port", redis("CONFIG", "GET", "port"), "port\n"+strconv.Itoa(r.Port))

	// A 1 MiB binary value in through stdin (-x) and back out.
	val, _ := io.ReadAll(fwdtest.PRNG(7, 1<<20))
	mustEqual(t, "SET -x", strings.TrimSpace(runIn(t, 30*time.Second, bytes.NewReader(val), "redis-cli", append(cli, "-x", "SET", "blob")...)), "OK")
	mustEqual(t, "STRLEN", redis("STRLEN", "blob"), strconv.Itoa(len(val)))
	got := run(t, 30*time.Second, "redis-cli", append(cli, "GET", "blob")...)
	// redis-cli prints the raw value and a newline.
	if want := sha256.Sum256(val); sha256.Sum256([]byte(strings.TrimSuffix(got, "\n"))) != want {
		t.Fatalf("GET blob returned %d bytes that differ from the %d set", len(got), len(val))
	}

	// Mass insertion in the Redis protocol, as redis-cli --pipe does it.
	var pipe bytes.Buffer
	const keys = 10000
	for i := range keys {
		k, v := fmt.Sprintf("k:%d", i), fmt.Sprintf("v:%d", i*i)
		fmt.Fprintf(&pipe, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	out := runIn(t, 60*time.Second, &pipe, "redis-cli", append(cli, "--pipe")...)
	if !strings.Contains(out, fmt.Sprintf("errors: 0, replies: %d", keys)) {
		t.Fatalf("redis-cli --pipe: %q", out)
	}
	mustEqual(t, "DBSIZE", redis("DBSIZE"), strconv.Itoa(keys+3))
	mustEqual(t, "GET k:9999", redis("GET", "k:9999"), "v:99980001")
}

var benchLine = regexp.MustCompile(`(?m)(SET|GET): ([0-9.]+) requests per second`)

// TestRedisBenchmark runs redis-benchmark (20 clients, 20000 SETs and 20000
// GETs) through fwd; every request must reach the server.
func TestRedisBenchmark(t *testing.T) {
	fwdtest.NeedBinaries(t, "redis-benchmark")
	_, fw := startRedis(t)
	cli := []string{"-h", fw.Data.Address, "-p", strconv.Itoa(fw.Data.Port)}
	statsBefore := redisStat(t, cli, "total_commands_processed")

	out := run(t, 120*time.Second, "redis-benchmark", append(cli, "-q", "-n", "20000", "-c", "20", "-t", "set,get")...)
	t.Logf("redis-benchmark through fwd:\n%s", lastLines(out))
	rps := map[string]float64{}
	for _, m := range benchLine.FindAllStringSubmatch(out, -1) {
		rps[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	for _, op := range []string{"SET", "GET"} {
		if rps[op] <= 0 {
			t.Fatalf("no %s requests per second in redis-benchmark output:\n%s", op, out)
		}
	}
	// 40000 commands plus the benchmark's own CONFIG GETs and our INFO.
	if n := redisStat(t, cli, "total_commands_processed") - statsBefore; n < 40000 {
		t.Fatalf("server processed %d commands during the benchmark, want >= 40000", n)
	}
}

// redisStat reads one counter from INFO stats.
func redisStat(t *testing.T, cli []string, name string) int {
	t.Helper()
	out := run(t, 30*time.Second, "redis-cli", append(cli, "INFO", "stats")...)
	m := regexp.MustCompile(`(?m)^` + name + `:(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in INFO stats:\n%s", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// lastLines drops redis-benchmark's carriage-return progress lines.
func lastLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.LastIndexByte(l, '\r'); i >= 0 {
			l = l[i+1:]
		}
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
