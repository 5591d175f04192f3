package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/fwd-dev/fwd/tunnel"
)

// DefaultListen is the address a gateway listens on when the config has no
// listen key: loopback, so that nothing is exposed unless asked for.
const DefaultListen = "127.0.0.1:7443"

// Config is a gateway's configuration file: where it listens, its
// certificate, and the tunnel.GatewayConfig it serves (embedded: c.Tokens,
// c.Catalog, c.Limits...).
type Config struct {
	// Path is the file the config was loaded from, "" if it was parsed from
	// bytes.
	Path string
	// Listen is the host:port the gateway listens on.
	Listen string
	// TLS names the gateway's certificate; both empty means self-signed.
	TLS TLS
	// SSHListen, if set, is the host:port where the gateway also speaks
	// SSH, for stock ssh -L (tunnel.Gateway.ServeSSH).
	SSHListen string
	// SSHHostKey is the SSH host key file; Load makes it
	// DefaultSSHHostKey beside the config when SSHListen is set and it is
	// not.
	SSHHostKey string
	// MetricsListen, if set, is the host:port of the health and metrics
	// server: /healthz, /readyz and Prometheus's /metrics.
	MetricsListen string
	// Kubernetes, if set, is where the catalog comes from (catalog:
	// {kubernetes: ...}): GatewayConfig.Catalog is then empty, and the
	// gateway fills it from the cluster as it runs.
	Kubernetes *KubernetesCatalog
	// ExposeListen is where the public side of exposures listens, when
	// the config has an expose: section (GatewayConfig.Expose).
	ExposeListen ExposeListeners
	tunnel.GatewayConfig
}

// ExposeListeners are the expose: section's listeners and certificate.
type ExposeListeners struct {
	// HTTPS serves exposures' URLs; HTTP, if set, redirects to them.
	HTTPS string
	HTTP  string
	// TLS is the wildcard certificate for *.domain; both empty means a
	// self-signed one, made beside the config (DefaultExposeCert).
	TLS TLS
}

// Default names of what Load puts beside the config for exposing.
const (
	DefaultExposeCert = "expose.crt"
	DefaultExposeKey  = "expose.key"
	DefaultLeaseFile  = "expose-leases.json"
)

// TLS names the gateway's certificate and key, PEM files. Load resolves
// relative paths against the config file's directory.
type TLS struct {
	Cert string
	Key  string
}

// DefaultLimits returns the limits used for keys the config leaves out:
// tunnel.DefaultLimits.
func DefaultLimits() tunnel.Limits { return tunnel.DefaultLimits() }

// Error is a problem with a config. It prints on one line, starting with
// "file:line:column:" when the position is known, so that editors can jump to
// it; otherwise it names the place by Path.
type Error struct {
	File   string // the name given to Parse or the path given to Load
	Line   int    // 1-based; 0 if unknown
	Column int    // 1-based; 0 if unknown
	Path   string // where in the config, like "projects[0].services[1]"; may be ""
	Msg    string // what is wrong and how to fix it
	Err    error  // the underlying error, if any
}

func (e *Error) Error() string {
	file := e.File
	if file == "" {
		file = "config"
	}
	switch {
	case e.Line > 0 && e.Column > 0:
		return file + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column) + ": " + e.Msg
	case e.Line > 0:
		return file + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	case e.Path != "":
		return file + ": " + e.Path + ": " + e.Msg
	}
	return file + ": " + e.Msg
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Load reads and checks the config file at path. Relative TLS paths are
// resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, readError(path, err)
	}
	dir := filepath.Dir(path)
	c, err := parse(path, dir, data)
	if err != nil {
		return nil, err
	}
	c.Path = path
	if c.SSHListen != "" && c.SSHHostKey == "" {
		c.SSHHostKey = DefaultSSHHostKey
	}
	if c.Expose != nil {
		if c.ExposeListen.TLS.Cert == "" {
			c.ExposeListen.TLS = TLS{Cert: DefaultExposeCert, Key: DefaultExposeKey}
		}
		if c.Expose.LeaseFile == "" {
			c.Expose.LeaseFile = DefaultLeaseFile
		}
	}
	paths := []*string{&c.TLS.Cert, &c.TLS.Key, &c.SSHHostKey, &c.ExposeListen.TLS.Cert, &c.ExposeListen.TLS.Key}
	if c.Expose != nil {
		paths = append(paths, &c.Expose.LeaseFile)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for name, src := range c.Secrets {
		if src.File != "" && !filepath.IsAbs(src.File) {
			src.File = filepath.Join(dir, src.File)
			c.Secrets[name] = src
		}
	}
	return c, nil
}

// readError says why the file at path could not be read, and what to do.
// The advice names --config, the flag of fwd gateway that gives the path.
func readError(path string, err error) *Error {
	var msg string
	switch {
	case path == "":
		msg = "no config file given: pass --config gateway.yaml"
	case errors.Is(err, fs.ErrNotExist):
		msg = `no such file: check --config, or create it (see the README's "Gateway config")`
		if target, lerr := os.Readlink(path); lerr == nil {
			msg = "is a symbolic link to " + strconv.Quote(target) + ", which does not exist: fix the link"
		}
	case errors.Is(err, syscall.EISDIR):
		msg = "is a directory, not a config file: pass the YAML file inside it"
	case errors.Is(err, syscall.ENOTDIR):
		msg = "part of the path is a file, not a directory: check --config"
	case errors.Is(err, syscall.ELOOP):
		msg = "too many levels of symbolic links: fix the link"
	case errors.Is(err, fs.ErrPermission):
		msg = "cannot read it: permission denied: run as a user that can read it"
	default:
		msg = "cannot read it: " + cause(err) + ": check the file and the disk it is on"
	}
	return &Error{File: path, Msg: msg, Err: err}
}

// cause returns the reason in err without the operation and path, which the
// *Error already names.
func cause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse checks a config held in memory. name is used in errors, as a file
// name; relative TLS paths are left as they are.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, "", data)
}

// parse is Parse reading the files the config names (authorized_keys,
// ssh_user_ca) relative to dir.
func parse(name, dir string, data []byte) (*Config, error) {
	if name == "" {
		name = "config"
	}
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: name, dir: dir, pos: map[string]position{}, budget: maxNodes}
	c := &Config{Listen: DefaultListen, GatewayConfig: tunnel.GatewayConfig{Limits: DefaultLimits()}}
	if err := d.config(root, c); err != nil {
		return nil, err
	}
	c.kubernetesSuffixes()
	if err := c.check(name, d.pos); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks a Config built in code (as an embedded gateway does) by the
// rules Load and Parse apply to a file. It fills in nothing: start from
// DefaultListen and DefaultLimits, and set each resource's Kind and Project.
// Its errors name places by path, like "projects[0].services[1]".
func (c *Config) Validate() error {
	return c.check(c.Path, nil)
}
