package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/tunnel"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGatewayTokenOutput(t *testing.T) {
	r := runFwd(t, nil, "gateway", "token", "--name", "alice", "--projects", "shop,billing", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var tok struct {
		Name, Token, SHA256 string
		Projects            []string
	}
	if err := json.Unmarshal([]byte(r.out), &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Name != "alice" || tunnel.HashToken(tok.Token) != tok.SHA256 || strings.Join(tok.Projects, ",") != "shop,billing" {
		t.Fatalf("token output %+v", tok)
	}
	plain := runFwd(t, nil, "gateway", "token", "--name", "bob", "--projects", "*")
	if plain.code != 0 || !strings.Contains(plain.out, "name: bob") || !strings.Contains(plain.out, "sha256: ") {
		t.Fatalf("plain output %q (exit %d)", plain.out, plain.code)
	}
	if r := runFwd(t, nil, "gateway", "token", "--name", "x"); r.code != exitUsage {
		t.Fatalf("token without --projects: exit %d", r.code)
	}
}

// TestGatewayCommandServes starts fwd gateway from a config file with a token
// made by fwd gateway token, and forwards through it with fwd service.
func TestGatewayCommandServes(t *testing.T) {
	tokenRun := runFwd(t, nil, "gateway", "token", "--name", "dev", "--projects", "shop", "-o", "json")
	var tok struct{ Token, SHA256 string }
	json.Unmarshal([]byte(tokenRun.out), &tok)
	echo := serveEcho(t)
	cfg := writeFile(t, "gateway.yaml", `listen: 127.0.0.1:0
tokens:
  - name: dev
    sha256: `+tok.SHA256+`
    projects: [shop]
projects:
  - name: shop
    addons:
      - name: db
        ports:
          - {name: postgres, port: 25433, protocol: TCP, targets: [`+echo+`]}
`)
	startGateway := func() (*running, map[string]any) {
		gw, line := startFwd(t, "gateway", "--config", cfg, "-o", "json")
		var info map[string]any
		if err := json.Unmarshal([]byte(line), &info); err != nil {
			t.Fatalf("gateway first line %q: %v (stderr %s)", line, err, gw.stderr)
		}
		return gw, info
	}
	gw, info := startGateway()
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "gateway.key")); err != nil {
		t.Fatalf("self-signed key not kept beside the config: %v", err)
	}
	setEnv(t, []string{"FWD_GATEWAY=" + info["listen"].(string), "FWD_TOKEN=" + tok.Token, "FWD_FINGERPRINT=" + info["fingerprint"].(string)})
	client, line := startFwd(t, "addon", "--project", "shop", "--addon", "db", "--skipHostnames", "-o", "json")
	if !strings.Contains(line, `"id":"db"`) || !strings.Contains(line, `"port":25433`) {
		t.Fatalf("client line %q (stderr %s)", line, client.stderr)
	}
	client.stop()
	if code := gw.stop(); code != 0 {
		t.Fatalf("gateway exit %d: %s", code, gw.stderr)
	}
	// Its JSON log gives durations as text, not nanoseconds.
	if logs := gw.stderr.String(); !strings.Contains(logs, `"grace":"`) || strings.Contains(logs, `"grace":1`) {
		t.Fatalf("gateway JSON log without a textual grace duration:\n%s", logs)
	}
	// Restarting keeps the certificate, so pinned clients keep working.
	_, again := startGateway()
	if again["fingerprint"] != info["fingerprint"] {
		t.Fatalf("fingerprint changed across restarts: %v then %v", info["fingerprint"], again["fingerprint"])
	}
}

func TestDemoJSON(t *testing.T) {
	r, line := startFwd(t, "demo", "-o", "json")
	if !strings.Contains(line, `"projectId":"demo"`) || !strings.Contains(line, `"id":"web"`) || !strings.Contains(line, `"id":"echo"`) {
		t.Fatalf("demo line %q (stderr %s)", line, r.stderr)
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("demo exit %d", code)
	}
	// The demo writes no hostnames, so it does not claim to remove any.
	if logs := r.stderr.String(); !strings.Contains(logs, "closing listeners") || strings.Contains(logs, "hostnames") {
		t.Fatalf("demo's stop message:\n%s", logs)
	}
}
