package deploy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestGatewayCommandMetrics: the real fwd gateway with metrics_listen
// announces the address, is ready once serving, counts its config's
// reloads and failed reloads, and from SIGTERM on answers /readyz with
// 503 while its open stream finishes, as a pod's readiness probe needs.
func TestGatewayCommandMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the fwd binary")
	}
	bin, remove, err := fwdtest.BuildFwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	token, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	cfg := "listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n" +
		"tokens:\n  - {name: ci, sha256: " + tunnel.HashToken(token) + ", projects: [shop]}\n" +
		"projects:\n  - name: shop\n    services:\n      - name: echo\n        ports: [{port: 7, targets: [" + echo.Addr + "]}]\n" +
		"limits:\n  shutdown_grace: 10s\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := fwdtest.StartProcessT(t, "fwd gateway", fwdtest.ProcessOptions{StdoutLines: true, StopGrace: 5 * time.Second},
		bin, "gateway", "--config", path, "--output", "json")
	line, err := p.FirstLine(20 * time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.LogTail())
	}
	a, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		t.Fatal(err)
	}
	if a.MetricsListen == "" {
		t.Fatalf("announcement %s has no metrics_listen", line)
	}
	base := "http://" + a.MetricsListen
	if code := status(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code := status(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d once serving", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := tunnel.Dial(ctx, a.Listen, &tunnel.ClientConfig{Token: token, Trust: tunnel.Trust{Fingerprint: a.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.Open(tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "echo"}, Network: "tcp", Port: 7})
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	msg := []byte("through the gateway")
	if _, err := st.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(st, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}

	// A broken config is a failed reload, the good one again a reload.
	waitMetric := func(name string, labels ...string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if v, _ := sample(scrapeURL(t, base+"/metrics"), name, labels...); v >= 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s%v stayed 0\n%s", name, labels, p.LogTail())
			}
		}
	}
	if err := os.WriteFile(path, []byte(cfg+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitMetric("fwd_gateway_catalog_reload_errors_total")
	if err := os.WriteFile(path, []byte(cfg+"# again\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitMetric("fwd_gateway_catalog_reloads_total")

	fams := scrapeURL(t, base+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"fwd_gateway_sessions_open", []string{"transport", "tls"}, 1},
		{"fwd_gateway_streams_open", []string{"transport", "tls"}, 1},
		{"fwd_gateway_bytes_total", []string{"transport", "tls", "direction", "to_target"}, float64(len(msg))},
		{"fwd_gateway_bytes_total", []string{"transport", "tls", "direction", "from_target"}, float64(len(msg))},
	} {
		if v, ok := sample(fams, c.name, c.labels...); !ok || v < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, v, c.min)
		}
	}

	// SIGTERM: draining, so not ready, while the stream is open.
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); status(t, base+"/readyz") != 503; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 after SIGTERM")
		}
	}
	if p.Exited() {
		t.Fatal("the gateway exited with a stream open, before its grace")
	}
	st.Close()
	sess.Close()
	if !p.Wait(10 * time.Second) {
		t.Fatalf("the gateway did not exit once its stream closed\n%s", p.LogTail())
	}
	if err := p.Err(); err != nil {
		t.Errorf("the gateway exited with %v\n%s", err, p.LogTail())
	}
}
