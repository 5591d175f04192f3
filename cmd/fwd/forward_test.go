package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

func TestForwardFlags(t *testing.T) {
	cases := []struct {
		name    string
		kind    forwardKind
		args    []string
		env     map[string]string
		wantErr string
		check   func(*forwardOptions) bool
	}{
		{name: "service", kind: forwardService, args: []string{"--project", "shop", "--service", "api", "--gateway", "gw:7443", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.project == "shop" && o.name == "api" && !o.skipHostnames }},
		{name: "skipHostnames spellings", kind: forwardAddon, args: []string{"-p", "shop", "--addon", "db", "--skip-hostnames", "--gateway", "gw:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.skipHostnames && o.name == "db" }},
		{name: "camelCase", kind: forwardAll, args: []string{"--skipHostnames", "--gateway", "gw:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.skipHostnames && o.project == "" }},
		{name: "env", kind: forwardAll, env: map[string]string{"FWD_GATEWAY": "env:9", "FWD_TOKEN": "secret", "FWD_PROJECT": "p"},
			check: func(o *forwardOptions) bool { return o.gateway == "env:9" && o.token == "secret" && o.project == "p" }},
		{name: "flag beats env", kind: forwardAll, args: []string{"--gateway", "flag:1"}, env: map[string]string{"FWD_GATEWAY": "env:9", "FWD_TOKEN": "t"},
			check: func(o *forwardOptions) bool { return o.gateway == "flag:1" }},
		{name: "json", kind: forwardAll, args: []string{"-o", "json", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.output.json() }},
		{name: "Northflank names", kind: forwardService, args: []string{"--projectId", "shop", "--serviceId", "api", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.project == "shop" && o.name == "api" }},
		{name: "addonId", kind: forwardAddon, args: []string{"--projectId", "shop", "--addonId", "db", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.project == "shop" && o.name == "db" }},
		{name: "service as argument", kind: forwardService, args: []string{"api", "-p", "shop", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.project == "shop" && o.name == "api" }},
		{name: "addon as argument", kind: forwardAddon, args: []string{"db", "--project", "shop", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.name == "db" }},
		{name: "project as argument of all", kind: forwardAll, args: []string{"shop", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.project == "shop" }},
		{name: "argument and flag agree", kind: forwardService, args: []string{"api", "--service", "api", "-p", "shop", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.name == "api" }},
		{name: "argument and flag differ", kind: forwardService, args: []string{"api", "--service", "web", "-p", "shop", "--gateway", "g:1", "--token", "t"}, wantErr: "two different things"},
		{name: "timeout", kind: forwardAll, args: []string{"--timeout", "3s", "--gateway", "g:1", "--token", "t"},
			check: func(o *forwardOptions) bool { return o.timeout == 3*time.Second }},
		{name: "negative connect-wait", kind: forwardAll, args: []string{"--connect-wait", "-5s", "--gateway", "g:1", "--token", "t"}, wantErr: "positive duration"},
		{name: "zero timeout", kind: forwardAll, args: []string{"--timeout", "0s", "--gateway", "g:1", "--token", "t"}, wantErr: "positive duration"},
		{name: "space in gateway host", kind: forwardAll, args: []string{"--gateway", "127.0.0.1 :17443", "--token", "t"}, wantErr: "neither an IP address nor a host name"},
		{name: "no project", kind: forwardService, args: []string{"--service", "api", "--gateway", "g:1", "--token", "t"}, wantErr: "no project"},
		{name: "no service", kind: forwardService, args: []string{"--project", "p", "--gateway", "g:1", "--token", "t"}, wantErr: "no service"},
		{name: "no addon", kind: forwardAddon, args: []string{"--project", "p", "--gateway", "g:1", "--token", "t"}, wantErr: "no addon"},
		{name: "no gateway", kind: forwardAll, args: []string{"--token", "t"}, wantErr: "no gateway"},
		{name: "no token: SSH keys at run time", kind: forwardAll, args: []string{"--gateway", "g:1", "--ssh-key", "k1", "--ssh-key", "k2"},
			check: func(o *forwardOptions) bool { return o.token == "" && len(o.ssh.keyFiles) == 2 }},
		{name: "port out of range", kind: forwardAll, args: []string{"--gateway", "g:70000", "--token", "t"}, wantErr: "out of range"},
		{name: "not host:port", kind: forwardAll, args: []string{"--gateway", "g", "--token", "t"}, wantErr: "not host:port"},
		{name: "bad output", kind: forwardAll, args: []string{"-o", "yaml", "--gateway", "g:1", "--token", "t"}, wantErr: "use table, json, env or dotenv"},
		{name: "bad fingerprint", kind: forwardAll, args: []string{"--fingerprint", "md5:00", "--gateway", "g:1", "--token", "t"}, wantErr: "sha256"},
		{name: "ca and fingerprint", kind: forwardAll, args: []string{"--ca", "x.pem", "--fingerprint", "sha256:" + strings.Repeat("ab", 32), "--gateway", "g:1", "--token", "t"}, wantErr: "choose one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"FWD_GATEWAY", "FWD_TOKEN", "FWD_PROJECT", "FWD_CA", "FWD_FINGERPRINT"} {
				t.Setenv(k, tc.env[k])
			}
			var got *forwardOptions
			cmd := newForwardCmd(streams{Out: io.Discard, Err: io.Discard}, &globalOptions{}, tc.kind, func(_ context.Context, o *forwardOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(tc.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if tc.wantErr != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want usage error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got == nil || !tc.check(got) {
				t.Fatalf("err %v, options %+v", err, got)
			}
		})
	}
}

// TestBadInputs runs whole command lines that must fail: each gives one line
// on stderr, the documented exit code, and nothing on stdout.
func TestBadInputs(t *testing.T) {
	env, vars := testGateway(t)
	closed, release, err := fwdtest.RefusingAddr()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cfg := writeFile(t, "bad.yaml", "listen: 127.0.0.1:0\nprojects:\n  - name: shop\n    services:\n      - name: api\n        ports:\n          - {port: 70000, protocol: TCP, targets: [127.0.0.1:1]}\n")
	okCfg := writeFile(t, "ok.yaml", "tokens:\n  - {name: a, sha256: "+strings.Repeat("ab", 32)+", projects: [shop]}\nprojects:\n  - name: shop\n    addons:\n      - name: db\n        ports:\n          - {port: 5432, targets: [127.0.0.1:1]}\n")
	tabCfg := writeFile(t, "tab.yaml", "listen: 127.0.0.1:0\nprojects:\n\t- name: shop\n")
	tlsCfg := writeFile(t, "tls.yaml", "listen: 127.0.0.1:0\ntls: {cert: missing.crt, key: missing.key}\ntokens:\n  - {name: a, sha256: "+strings.Repeat("ab", 32)+", projects: [shop]}\nprojects:\n  - name: shop\n    addons:\n      - name: db\n        ports:\n          - {port: 5432, targets: [127.0.0.1:1]}\n")
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"unknown project", vars, []string{"all", "--project", "shoe", "--skipHostnames"}, exitError, `unknown project "shoe" (projects: shop)`},
		{"unknown service", vars, []string{"service", "--project", "shop", "--service", "apx", "--skipHostnames"}, exitError, "services: api, web"},
		{"unknown addon", vars, []string{"addon", "--project", "shop", "--addon", "redis", "--skipHostnames"}, exitError, "addons: db"},
		{"wrong token", append(vars, "FWD_TOKEN=fwd_nope"), []string{"all", "--skipHostnames"}, exitAuth, "does not know this token"},
		{"untrusted certificate", append(vars, "FWD_FINGERPRINT="), []string{"all", "--skipHostnames"}, exitAuth, "--fingerprint " + env.Fingerprint},
		{"gateway not listening", append(vars, "FWD_GATEWAY="+closed), []string{"all", "--skipHostnames"}, exitUnreachable, "unreachable"},
		{"malformed config", nil, []string{"gateway", "--config", cfg}, exitUsage, cfg + ":7:"},
		{"missing config", nil, []string{"gateway", "--config", cfg + ".missing"}, exitUsage, "no such file: check --config"},
		{"port out of range", vars, []string{"all", "--gateway", "127.0.0.1:65536"}, exitUsage, "out of range"},
		{"missing project", vars, []string{"service", "--service", "api"}, exitUsage, "--project"},
		{"hosts file under a file", vars, []string{"service", "--project", "shop", "--service", "api", "--hosts-file", writeFile(t, "f", "") + "/hosts"}, exitError, "not a directory: check --hosts-file"},
		{"hosts file in a missing directory", vars, []string{"service", "--project", "shop", "--service", "api", "--hosts-file", "/nonexistent/hosts"}, exitError, "check --hosts-file"},
		{"config is a directory", nil, []string{"gateway", "--config", t.TempDir()}, exitUsage, "is a directory, not a config file"},
		{"config link loops", nil, []string{"gateway", "--config", loopLink(t)}, exitUsage, "too many levels of symbolic links: fix the link"},
		{"tab in config", nil, []string{"gateway", "--config", tabCfg}, exitUsage, tabCfg + ":3:1:"},
		{"tls files missing", nil, []string{"gateway", "--config", tlsCfg}, exitUsage, "fix tls.cert and tls.key"},
		{"negative connect-wait", vars, []string{"all", "--connect-wait", "-5s"}, exitUsage, "--connect-wait -5s: use a positive duration"},
		{"gateway port taken", nil, []string{"gateway", "--config", okCfg, "--listen", silentListener(t)}, exitError, "address already in use: free that port or choose another with --listen"},
		{"silent gateway", append(vars, "FWD_GATEWAY="+silentListener(t)), []string{"all", "--timeout", "1s"}, exitUnreachable, "did not finish in 1s: is it a fwd gateway, and is --gateway right?"},
		{"space in gateway", vars, []string{"all", "--gateway", "127.0.0.1 :17443"}, exitUsage, "neither an IP address nor a host name"},
		{"unknown command", nil, []string{"forward"}, exitUsage, "unknown command"},
		{"unknown flag", nil, []string{"all", "--colour"}, exitUsage, "--colour"},
		{"stray argument", vars, []string{"all", "shop", "extra"}, exitUsage, "accepts at most 1 arg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FWD_PROJECT", "")
			r := runFwd(t, tc.env, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", r.code, tc.code, r.err)
			}
			if lines := strings.Count(strings.TrimSpace(r.err), "\n") + 1; lines != 1 || !strings.HasPrefix(r.err, "fwd: ") {
				t.Errorf("stderr is not one 'fwd: ' line: %q", r.err)
			}
			if !strings.Contains(r.err, tc.want) {
				t.Errorf("stderr %q lacks %q", r.err, tc.want)
			}
			if r.out != "" {
				t.Errorf("stdout not empty: %q", r.out)
			}
		})
	}
}

func TestAllJSONOutput(t *testing.T) {
	_, vars := testGateway(t)
	setEnv(t, vars)
	first := func() []forward.Result {
		r, line := startFwd(t, "all", "--project", "shop", "--skipHostnames", "--output", "json")
		var results []forward.Result
		if err := json.Unmarshal([]byte(line), &results); err != nil {
			t.Fatalf("first stdout line is not a JSON array of results: %q: %v", line, err)
		}
		if len(results) != 4 {
			t.Fatalf("got %d results, want 4: %s", len(results), line)
		}
		for _, res := range results {
			d := res.Data
			addr := net.JoinHostPort(d.Address, strconv.Itoa(d.Port))
			if d.Protocol == "HTTP" {
				resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + addr + "/ok")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hello /ok" {
					t.Fatalf("%s: got %q", addr, b)
				}
				continue
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("ping"))
			buf := make([]byte, 4)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("%s: echo %q, %v", addr, buf, err)
			}
			c.Close()
		}
		// Idle keep-alive connections would wait out the shutdown grace.
		http.DefaultClient.CloseIdleConnections()
		if code := r.stop(); code != exitOK {
			t.Fatalf("exit code after interrupt %d, want 0; stderr %s", code, r.stderr)
		}
		return results
	}
	a, b := first(), first()
	for i := range a {
		if a[i].Data.Address != b[i].Data.Address || a[i].Data.Port != b[i].Data.Port {
			t.Errorf("second run moved %s from %s:%d to %s:%d", a[i].Data.ID, a[i].Data.Address, a[i].Data.Port, b[i].Data.Address, b[i].Data.Port)
		}
	}
}

func TestServiceTableOutput(t *testing.T) {
	_, vars := testGateway(t)
	setEnv(t, vars)
	t.Setenv("NO_COLOR", "1")
	r, header := startFwd(t, "service", "--project", "shop", "--service", "api", "--skipHostnames")
	for _, col := range []string{"TYPE", "PROJECT", "NAME", "PORT", "PROTOCOL", "LOCAL ADDRESS", "HOSTNAMES"} {
		if !strings.Contains(header, col) {
			t.Errorf("table header %q lacks %s", header, col)
		}
	}
	var rows []string
	for range 2 {
		if !r.lines.Scan() {
			t.Fatal("table ended early")
		}
		rows = append(rows, r.lines.Text())
	}
	if !strings.Contains(rows[0], "service") || !strings.Contains(rows[0], ":28080") || !strings.Contains(rows[1], ":29090") {
		t.Fatalf("rows %q", rows)
	}
	if strings.Contains(strings.Join(rows, ""), "\x1b[") {
		t.Fatalf("styled output although stdout is not a terminal: %q", rows)
	}
}

// loopLink is a symbolic link that points at itself.
func loopLink(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "loop.yaml")
	if err := os.Symlink(p, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// silentListener accepts TCP connections and never says a word, as a
// server that is not a fwd gateway (or a hung one) might.
func silentListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

// TestThrottledLoginSaysSo: after five wrong tokens from this address, the
// right token is refused with one line that says why and how long to wait,
// and exit code 3.
func TestThrottledLoginSaysSo(t *testing.T) {
	_, vars := testGateway(t)
	wrong := append(append([]string(nil), vars...), "FWD_TOKEN=fwd_wrong")
	for i := range 5 {
		if r := runFwd(t, wrong, "all", "--skipHostnames"); r.code != exitAuth {
			t.Fatalf("wrong token %d: exit %d, %q", i+1, r.code, r.err)
		}
	}
	r := runFwd(t, vars, "all", "--skipHostnames")
	if r.code != exitAuth || !strings.Contains(r.err, "too many failed logins") || !strings.Contains(r.err, "try again in") {
		t.Fatalf("right token after five wrong ones: exit %d, %q; want %d saying to wait", r.code, r.err, exitAuth)
	}
	if strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Fatalf("more than one line: %q", r.err)
	}
}
