package fwdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// Redis is a running redis-server without persistence.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	Port int
	Dir  string

	proc *Process
}

// Close stops the server and waits for it.
func (r *Redis) Close() error { return r.proc.Stop() }

// StartRedis starts redis-server on a free port of 127.0.0.1 with a generated
// config in dir/redis: no RDB, no AOF, logs in redis.log.
func StartRedis(ctx context.Context, dir string, start ...StartOption) (*Redis, error) {
	bin, err := LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "redis")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("fwdtest: redis: %w", err)
	}
	return withPorts(newStartConfig(start), 1, []string{"tcp"}, func(ports []int) (*Redis, error) {
		port := ports[0]
		logPath := filepath.Join(base, "redis.log")
		os.Remove(logPath)
		conf := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode yes
daemonize no
supervised no
dir %s
pidfile %s
logfile %s
loglevel notice
save ""
appendonly no
databases 4
maxclients 1000
tcp-backlog 511
timeout 0
`, port, base, filepath.Join(base, "redis.pid"), logPath)
		confPath := filepath.Join(base, "redis.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("fwdtest: redis: %w", err)
		}
		proc, err := StartProcess("redis-server", ProcessOptions{LogPath: logPath, Env: baseEnv(), OwnGroup: true}, bin, confPath)
		if err != nil {
			return nil, err
		}
		// The log is ours alone: "Ready" there means this server bound the
		// port, not some other process that happens to hold it.
		if err := proc.WaitReady(ctx, func() (bool, error) {
			return proc.LogContains("Ready to accept connections"), nil
		}); err != nil {
			return nil, err
		}
		return &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: base, proc: proc}, nil
	})
}
