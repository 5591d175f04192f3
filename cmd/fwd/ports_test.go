package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// TestPortsDetectOfficialDockerfiles runs fwd ports detect as a new user
// would, on the official postgres and nginx Dockerfiles (retyped into
// testdata).
func TestPortsDetectOfficialDockerfiles(t *testing.T) {
	r := runFwd(t, nil, "ports", "detect", "testdata/dockerfiles/postgres.Dockerfile", "--service", "db")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	t.Logf("fwd ports detect testdata/dockerfiles/postgres.Dockerfile --service db:\n%s", r.out)
	for _, want := range []string{"  - name: postgres\n    port: 5432\n    protocol: HTTP\n    targets: [db:5432]\n", "# note: EXPOSE 5432 has no /tcp"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	r = runFwd(t, nil, "ports", "detect", "testdata/dockerfiles/nginx.Dockerfile", "-o", "json")
	var out struct {
		Ports []portJSON
		Notes []string
	}
	if err := json.Unmarshal([]byte(r.out), &out); err != nil || r.code != exitOK {
		t.Fatalf("exit %d, %v: %s %s", r.code, err, r.out, r.err)
	}
	if len(out.Ports) != 1 || fmt.Sprint(out.Ports[0]) != fmt.Sprint(portJSON{"http", 80, "HTTP", []string{"localhost:80"}}) || len(out.Notes) != 0 {
		t.Errorf("nginx: %+v", out)
	}
}

func TestPortsDetectErrors(t *testing.T) {
	bad := writeFile(t, "Dockerfile", "FROM alpine\nRUN true\nEXPOSEE 80\n")
	dir := filepath.Dir(bad)
	none := writeFile(t, "none.Dockerfile", "FROM alpine\n")
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "docker.sock"))
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"syntax error", []string{bad}, exitUsage, bad + ":3: unknown instruction: EXPOSEE"},
		{"directory", []string{dir}, exitUsage, "unknown instruction"},
		{"no EXPOSE", []string{none}, exitError, "exposes no ports: add EXPOSE lines"},
		{"missing file", []string{filepath.Join(dir, "nope")}, exitUsage, "does not exist"},
		{"no daemon", []string{"--image", "nginx:1.29"}, exitError, "no Docker daemon at unix://"},
		{"write without a project", []string{bad, "--write", "gateway.yaml", "--service", "api"}, exitUsage, "--write needs --project"},
		{"bad build-arg", []string{bad, "--build-arg", "PORT"}, exitUsage, "use NAME=VALUE"},
	} {
		r := runFwd(t, nil, append([]string{"ports", "detect"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.err, c.want) || strings.Count(strings.TrimSpace(r.err), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want %d with %q on one line", c.name, r.code, r.err, c.code, c.want)
		}
	}
}

// TestPortsDetectWrite adds a Dockerfile's ports to a gateway.yaml: every
// byte outside the new lines stays, and the gateway loads the result.
func TestPortsDetectWrite(t *testing.T) {
	orig, err := os.ReadFile("../../testdata/config/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "gateway.yaml", string(orig))
	docker := writeFile(t, "Dockerfile", "FROM node:22 AS base\nARG PORT=3000\nEXPOSE $PORT 9229/tcp\nFROM base\nEXPOSE 8125/udp\n")
	r := runFwd(t, nil, "ports", "detect", docker, "--write", cfg, "--project", "shop", "--service", "api", "--target-host", "10.0.0.5")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	t.Logf("fwd ports detect --write:\n%s", r.out)
	got, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inserted := "          - name: \"3000\"\n            port: 3000\n            protocol: HTTP\n            targets: [10.0.0.5:3000]\n" +
		"          - name: \"8125\"\n            port: 8125\n            protocol: UDP\n            targets: [10.0.0.5:8125]\n" +
		"          - name: \"9229\"\n            port: 9229\n            protocol: TCP\n            targets: [10.0.0.5:9229]\n"
	i := strings.Index(string(got), inserted)
	if i < 0 || string(got[:i])+string(got[i+len(inserted):]) != string(orig) {
		t.Fatalf("the config is not the original with the ports inserted:\n%s", got)
	}
	c, err := config.Parse(cfg, got)
	if err != nil {
		t.Fatalf("the gateway does not load the result: %v", err)
	}
	api, err := c.Catalog.Lookup(catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"})
	if err != nil || len(api.Ports) != 5 {
		t.Fatalf("shop/api after the write: %+v %v", api, err)
	}
	// Again: nothing new to add, nothing written.
	r = runFwd(t, nil, "ports", "detect", docker, "--write", cfg, "--project", "shop", "--service", "api", "--target-host", "10.0.0.5")
	again, _ := os.ReadFile(cfg)
	if r.code != exitOK || string(again) != string(got) || !strings.Contains(r.out, "nothing to add") {
		t.Errorf("second write: exit %d, %s %s; changed: %v", r.code, r.out, r.err, string(again) != string(got))
	}
}
