package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// reloadSettle is how long the config's directory must be quiet before
// the file is read again: an editor's save is several events (a temp
// file written, renamed over, a backup removed), and one read should see
// the finished file.
const reloadSettle = 50 * time.Millisecond

// liveConfig is what the gateway serves: its config file, read again when
// it changes and on SIGHUP, and, with a Kubernetes catalog, the cluster's
// services in place of the file's projects. Each change goes to the
// gateway with Reload: new logins see it at once, and connected clients
// get their new catalog pushed.
type liveConfig struct {
	gw     *tunnel.Gateway
	path   string
	listen string // --listen, which beats the file's listen
	log    *slog.Logger
	// onReload, if set, hears of every reload of the file: nil error for
	// one applied.
	onReload func(error)

	mu   sync.Mutex
	file *config.Config   // the last good file
	sum  [32]byte         // its bytes' SHA-256, to skip saves that changed nothing
	kube *catalog.Catalog // the cluster's catalog, once it has one
	wake chan struct{}    // SIGHUP: read the file even if it looks the same
}

func newLiveConfig(gw *tunnel.Gateway, cfg *config.Config, listen string, log *slog.Logger) *liveConfig {
	l := &liveConfig{gw: gw, path: cfg.Path, listen: listen, log: log, file: cfg, wake: make(chan struct{}, 1)}
	if data, err := os.ReadFile(cfg.Path); err == nil {
		l.sum = sha256.Sum256(data)
	}
	return l
}

// hangup asks for a reload; it never waits, so a signal handler may call it.
func (l *liveConfig) hangup() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// watch reloads the file whenever its directory changes and the file's
// bytes did, and on every hangup, until ctx ends. The directory is
// watched, not the file: editors replace the file by rename, and a
// Kubernetes ConfigMap volume swaps a symlink beside it.
func (l *liveConfig) watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the config: %w", err)
	}
	if err := w.Add(filepath.Dir(l.path)); err != nil {
		w.Close()
		return fmt.Errorf("watching the config's directory: %w", err)
	}
	go l.watchLoop(ctx, w)
	return nil
}

func (l *liveConfig) watchLoop(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.Events:
			settle.Reset(reloadSettle)
		case err := <-w.Errors:
			l.log.Warn("watching the config", "err", err)
		case <-settle.C:
			l.reload(false)
		case <-l.wake:
			l.log.Info("SIGHUP: reloading the config", "config", l.path)
			l.reload(true)
		}
	}
}

// reload reads the file and, if it is good, serves it; a broken file is
// logged with its file:line:col and the running config stays. Unless
// forced, a file whose bytes did not change is left alone.
func (l *liveConfig) reload(force bool) {
	data, err := os.ReadFile(l.path)
	if err == nil {
		sum := sha256.Sum256(data)
		l.mu.Lock()
		same := bytes.Equal(sum[:], l.sum[:])
		l.sum = sum
		l.mu.Unlock()
		if same && !force {
			return
		}
	}
	cfg, err := config.Load(l.path)
	if err != nil {
		l.log.Error("config not reloaded: still serving the previous one", "err", err)
		l.reloaded(err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warnRestartOnly(cfg)
	l.file = cfg
	l.publishLocked()
	l.log.Info("config reloaded", "tokens", len(cfg.Tokens), "users", len(cfg.Users), "projects", len(l.catalogLocked().Projects))
	l.reloaded(nil)
}

func (l *liveConfig) reloaded(err error) {
	if l.onReload != nil {
		l.onReload(err)
	}
}

// setKubeCatalog serves the cluster's catalog in place of the file's.
func (l *liveConfig) setKubeCatalog(cat catalog.Catalog) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kube = &cat
	l.publishLocked()
}

func (l *liveConfig) catalogLocked() *catalog.Catalog {
	if l.kube != nil {
		return l.kube
	}
	return &l.file.Catalog
}

func (l *liveConfig) publishLocked() {
	gc := l.file.GatewayConfig
	gc.Catalog = *l.catalogLocked()
	l.gw.Reload(&gc)
}

// warnRestartOnly says which changes of cfg a reload cannot apply: the
// listeners and the certificate are set up once, at start.
func (l *liveConfig) warnRestartOnly(cfg *config.Config) {
	old := l.file
	var keys []string
	if l.listen == "" && cfg.Listen != old.Listen {
		keys = append(keys, "listen")
	}
	if cfg.TLS != old.TLS {
		keys = append(keys, "tls")
	}
	if cfg.SSHListen != old.SSHListen {
		keys = append(keys, "ssh_listen")
	}
	if cfg.SSHHostKey != old.SSHHostKey {
		keys = append(keys, "ssh_host_key")
	}
	if cfg.MetricsListen != old.MetricsListen {
		keys = append(keys, "metrics_listen")
	}
	if !reflect.DeepEqual(cfg.Kubernetes, old.Kubernetes) {
		keys = append(keys, "catalog.kubernetes")
	}
	if cfg.ExposeListen != old.ExposeListen || (cfg.Expose == nil) != (old.Expose == nil) {
		keys = append(keys, "expose listeners and tls")
	}
	if cfg.Expose != nil && old.Expose != nil && cfg.Expose.HTTPSPort == 0 {
		// The port in URLs was the listener's, resolved at start.
		cfg.Expose.HTTPSPort = old.Expose.HTTPSPort
	}
	if len(keys) > 0 {
		l.log.Warn("config reloaded, but these keys take effect only when the gateway restarts", "keys", keys)
	}
}
