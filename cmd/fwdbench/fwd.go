package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

const (
	// benchProject is the project in the gateway config; its one addon
	// points at the benchmark's target server.
	benchProject = "bench"
	// catalogPort is the addon's port number in the catalog. fwd binds it on
	// the addon's own loopback address, or a free port if it is taken.
	catalogPort = 15201
	// readyWait bounds waiting for a fwd process's first line.
	readyWait = 30 * time.Second
)

// fwdTool is a built fwd binary and the token its gateways accept.
type fwdTool struct {
	bin    string
	token  string
	sha256 string
	tmp    string
	// sshUserKey, when set, is a public key file the gateways accept as
	// user bench on an SSH listener of their own (ssh_listen), for the
	// stock ssh -L peer that logs in to fwd's gateway.
	sshUserKey string
}

// buildFwd builds ./cmd/fwd of the module at src into dir. The benchmark
// measures the working tree as it is, so it builds rather than trusting
// whatever fwd is on PATH.
func buildFwd(ctx context.Context, src, dir string) (string, error) {
	bin := filepath.Join(dir, "fwd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/fwd")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/fwd in %s: %w\n%s", src, err, out)
	}
	return bin, nil
}

// newFwdTool makes a token with the fwd binary itself, as an operator would.
func newFwdTool(ctx context.Context, bin, tmp string) (*fwdTool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "gateway", "token", "--name", "bench", "--projects", "*", "--output", "json").Output()
	if err != nil {
		return nil, fmt.Errorf("fwd gateway token: %w%s", err, stderrOf(err))
	}
	var tok struct {
		Token  string `json:"token"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &tok); err != nil {
		return nil, fmt.Errorf("fwd gateway token: output %q: %w", out, err)
	}
	if tok.Token == "" || tok.SHA256 == "" {
		return nil, fmt.Errorf("fwd gateway token: no token or sha256 in %q", out)
	}
	return &fwdTool{bin: bin, token: tok.Token, sha256: tok.SHA256, tmp: tmp}, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + string(bytes.TrimSpace(ee.Stderr))
	}
	return ""
}

// gatewayConfig is the YAML of a gateway that serves the bench project.
// Port 0 lets the OS pick the listening port, which the gateway reports.
// max_streams_per_session is raised above the default (4096) because the
// memory test holds 10,000 connections through one session; shutdown_grace
// is short so that stopping between phases is quick.
func (t *fwdTool) gatewayConfig(listenHost, target string, maxStreams int) string {
	return fmt.Sprintf(`listen: %s
tokens:
  - name: bench
    sha256: %s
    projects: ["*"]
projects:
  - name: %s
    addons:
      - name: target
        ports:
          - {name: bench, port: %d, protocol: TCP, targets: [%s]}
limits:
  max_streams_per_session: %d
  shutdown_grace: 1s
`, net.JoinHostPort(listenHost, "0"), t.sha256, benchProject, catalogPort, target, maxStreams) + t.sshConfig(listenHost)
}

// sshConfig is the gateway config's SSH part: user bench with sshUserKey,
// and an SSH listener on a port the OS picks. Empty without sshUserKey.
func (t *fwdTool) sshConfig(listenHost string) string {
	if t.sshUserKey == "" {
		return ""
	}
	return fmt.Sprintf(`users:
  - name: bench
    authorized_keys: %s
    projects: ["*"]
ssh_listen: %s
`, strconv.Quote(t.sshUserKey), net.JoinHostPort(listenHost, "0"))
}

// gateway is a running fwd gateway.
type gateway struct {
	*fwdtest.Process
	listen      string
	fingerprint string
	// sshListen is the SSH listener's address, when the config has one;
	// hostKey is its public host key, from the file beside the config.
	sshListen string
	hostKey   string
}

// startGateway writes a config into its own directory (the gateway keeps
// its self-signed certificate beside it) and starts the gateway.
func (t *fwdTool) startGateway(name, target string, maxStreams int, env []string) (*gateway, error) {
	return t.startGatewayAt(hostPlace, name, target, maxStreams, env)
}

// startGatewayAt is startGateway with the gateway running, and listening,
// at pl.
func (t *fwdTool) startGatewayAt(pl place, name, target string, maxStreams int, env []string) (*gateway, error) {
	dir := filepath.Join(t.tmp, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(t.gatewayConfig(pl.host, target, maxStreams)), 0o600); err != nil {
		return nil, err
	}
	argv := pl.command(t.bin, "gateway", "--config", cfg, "--output", "json")
	p, line, err := startReady(name, filepath.Join(dir, "gateway.log"), env, argv...)
	if err != nil {
		return nil, err
	}
	ann, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	gw := &gateway{Process: p, listen: ann.Listen, fingerprint: ann.Fingerprint, sshListen: ann.SSHListen}
	if gw.sshListen != "" {
		if gw.hostKey, err = hostPublicKey(filepath.Join(dir, "ssh_host_ed25519_key"), ann.SSHFingerprint); err != nil {
			p.Stop()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return gw, nil
}

// client is a running fwd client and the local address of the forward.
type client struct {
	*fwdtest.Process
	addr string
}

// startClient runs fwd all for the bench project against gatewayAddr (the
// gateway itself, or a delay relay in front of it).
func (t *fwdTool) startClient(name, gatewayAddr, fingerprint string, env []string) (*client, error) {
	return t.startClientAt(hostPlace, name, gatewayAddr, fingerprint, env)
}

// startClientAt is startClient with the client running at pl; its forward
// listens on pl's loopback.
func (t *fwdTool) startClientAt(pl place, name, gatewayAddr, fingerprint string, env []string) (*client, error) {
	env = append([]string{"FWD_GATEWAY=" + gatewayAddr, "FWD_TOKEN=" + t.token, "FWD_FINGERPRINT=" + fingerprint}, env...)
	argv := pl.command(t.bin, "all", "--project", benchProject, "--skipHostnames", "--output", "json")
	p, line, err := startReady(name, filepath.Join(t.tmp, name+".log"), env, argv...)
	if err != nil {
		return nil, err
	}
	addr, err := forwardAddr(line)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: %w; its log:\n%s", name, err, p.LogTail())
	}
	return &client{Process: p, addr: addr}, nil
}

// forwardAddr finds the bench forward in fwd's JSON results line.
func forwardAddr(line string) (string, error) {
	var results []struct {
		Data *struct {
			ProjectID string `json:"projectId"`
			Address   string `json:"address"`
			Port      int    `json:"port"`
		} `json:"data"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &results); err != nil {
		return "", fmt.Errorf("results line %q: %w", line, err)
	}
	for _, r := range results {
		if r.Error != nil {
			return "", fmt.Errorf("forward failed: %s", r.Error.Message)
		}
		if r.Data != nil && r.Data.ProjectID == benchProject {
			return net.JoinHostPort(r.Data.Address, strconv.Itoa(r.Data.Port)), nil
		}
	}
	return "", fmt.Errorf("no %s forward in results line %q", benchProject, line)
}
