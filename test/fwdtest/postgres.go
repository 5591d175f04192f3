package fwdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// PostgresUser is the system user PostgreSQL runs as when the caller is root
// (initdb and postgres refuse to run as root). StartPostgres creates it if it
// is missing.
const PostgresUser = "fwdtest"

// Postgres is a running PostgreSQL server with trust authentication for the
// superuser "postgres" on 127.0.0.1.
type Postgres struct {
	Addr      string // 127.0.0.1:PORT
	Host      string // 127.0.0.1
	Port      int
	User      string // "postgres"
	Database  string // "postgres"
	DataDir   string
	SocketDir string // the server's unix socket directory

	proc *Process
}

// DSN returns a libpq URL for the server's database at addr (host:port), which
// may be another address that leads to this server, such as a forward.
func (p *Postgres) DSN(addr string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&connect_timeout=10", p.User, addr, p.Database)
}

// Close stops the server (fast shutdown) and waits for it.
func (p *Postgres) Close() error { return p.proc.Stop() }

// StartPostgres creates a cluster in dir/pg and starts it on a free port of
// 127.0.0.1. As root it runs as PostgresUser, creating that user with
// useradd if needed and making dir's temporary parents traversable by it.
func StartPostgres(ctx context.Context, dir string, start ...StartOption) (*Postgres, error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(binDir, "postgres")
	initdb := filepath.Join(binDir, "initdb")
	isready := filepath.Join(binDir, "pg_isready")
	cred, err := postgresCredential(ctx)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "pg")
	dataDir := filepath.Join(base, "data")
	sockDir := filepath.Join(base, "sock")
	for _, d := range []string{base, sockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("fwdtest: postgres: %w", err)
		}
	}
	if cred != nil {
		if err := traversable(dir, cred.Uid); err != nil {
			return nil, err
		}
		for _, d := range []string{base, sockDir} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("fwdtest: postgres: %w", err)
			}
		}
	}
	env := baseEnv("HOME=" + base)
	if _, err := runQuiet(ctx, cred, env, initdb, "-D", dataDir, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return nil, err
	}
	return withPorts(newStartConfig(start), 1, []string{"tcp"}, func(ports []int) (*Postgres, error) {
		port := ports[0]
		proc, err := StartProcess("postgres", ProcessOptions{LogPath: filepath.Join(base, "postgres.log"),
			StopSignal: syscall.SIGINT, Credential: cred, Env: env, OwnGroup: true},
			bin, "-D", dataDir, "-p", strconv.Itoa(port), "-k", sockDir,
			"-c", "listen_addresses=127.0.0.1",
			"-c", "max_connections=100",
			"-c", "shared_buffers=32MB",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "logging_collector=off", "-c", "log_min_messages=warning")
		if err != nil {
			return nil, err
		}
		// The unix socket is ours alone, and postgres creates it only after
		// it has bound its TCP port, so this cannot be fooled by another
		// server on the same port.
		err = proc.WaitReady(ctx, func() (bool, error) {
			if _, err := os.Stat(filepath.Join(sockDir, ".s.PGSQL."+strconv.Itoa(port))); err != nil {
				return false, nil
			}
			cmd := exec.CommandContext(ctx, isready, "-q", "-h", sockDir, "-p", strconv.Itoa(port), "-U", "postgres", "-d", "postgres")
			cmd.Env = env
			return cmd.Run() == nil, nil
		})
		if err != nil {
			return nil, err
		}
		return &Postgres{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Host: "127.0.0.1", Port: port,
			User: "postgres", Database: "postgres", DataDir: dataDir, SocketDir: sockDir, proc: proc,
		}, nil
	})
}

// postgresBinDir is the directory of the newest installed PostgreSQL's
// server tools (Debian puts them in /usr/lib/postgresql/N/bin, off PATH).
// A postgres found on PATH is followed through symlinks to its directory.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	bin, err := LookPath("postgres")
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		bin = real
	}
	return filepath.Dir(bin), nil
}

// postgresCredential returns nil when not root, else PostgresUser's ids,
// creating the user if it does not exist.
func postgresCredential(ctx context.Context) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(PostgresUser)
	if err != nil {
		useradd, lerr := LookPath("useradd")
		if lerr != nil {
			return nil, lerr
		}
		out, err := runQuiet(ctx, nil, baseEnv(), useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", "--user-group", PostgresUser)
		// Another test process may have created it meanwhile (exit 9).
		if err != nil && !strings.Contains(string(out), "already exists") {
			return nil, err
		}
		if u, err = user.Lookup(PostgresUser); err != nil {
			return nil, fmt.Errorf("fwdtest: user %s: %w", PostgresUser, err)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("fwdtest: user %s has ids %q/%q", PostgresUser, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// traversable lets uid reach dir: directories on the way that others cannot
// search get o+x, but only those below the system's temporary directory
// (where t.TempDir and os.MkdirTemp put them); anything else is an error.
func traversable(dir string, uid uint32) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		tmp = os.TempDir()
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	for p := abs; p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("fwdtest: %w", err)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == uid {
			continue
		}
		if st.Mode().Perm()&0o001 != 0 {
			continue
		}
		if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
			return fmt.Errorf("fwdtest: user %s cannot reach %s: %s is not searchable by others (use a directory under %s)", PostgresUser, dir, p, tmp)
		}
		if err := os.Chmod(p, st.Mode().Perm()|0o001); err != nil {
			return fmt.Errorf("fwdtest: %w", err)
		}
	}
	return nil
}
