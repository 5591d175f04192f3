package sshdial

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	sshconfig "github.com/kevinburke/ssh_config"
)

// Spec names one SSH server as ssh://[user@]host[:port] or a ProxyJump
// entry does. An empty User and a zero Port leave them to ssh_config.
type Spec struct {
	User string
	Host string // an alias of ssh_config's, a host name or an IP address
	Port int
}

// ParseURL reads ssh://[user@]host[:port].
func ParseURL(s string) (Spec, error) {
	if !strings.HasPrefix(s, "ssh://") {
		return Spec{}, fmt.Errorf("sshdial: %q is not an ssh:// URL: write ssh://[user@]host[:port]", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Spec{}, fmt.Errorf("sshdial: %q: write ssh://[user@]host[:port]: %w", s, err)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return Spec{}, fmt.Errorf("sshdial: %q has more than ssh://[user@]host[:port]: remove the rest", s)
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return Spec{}, fmt.Errorf("sshdial: %q holds a password: fwd logs in with keys only; remove it", s)
	}
	return specOf(s, u.User.Username(), u.Hostname(), u.Port())
}

// parseJump reads one ProxyJump entry: [user@]host[:port], or an ssh://
// URL.
func parseJump(s string) (Spec, error) {
	if strings.HasPrefix(s, "ssh://") {
		return ParseURL(s)
	}
	user, hostport := "", s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, hostport = s[:i], s[i+1:]
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	return specOf(s, user, host, port)
}

func specOf(s, user, host, port string) (Spec, error) {
	if host == "" {
		return Spec{}, fmt.Errorf("sshdial: %q names no host", s)
	}
	sp := Spec{User: user, Host: host}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Spec{}, fmt.Errorf("sshdial: %q: port %q out of range: use 1-65535", s, port)
		}
		sp.Port = n
	}
	return sp, nil
}

// Config is ssh's configuration as ssh(1) reads it: the user's
// ~/.ssh/config, then the system's ssh_config; for each keyword the first
// value found for a host wins.
type Config struct {
	home      string
	localUser string
	files     []*sshconfig.Config
}

// SystemConfig is where ssh keeps its system-wide configuration.
const SystemConfig = "/etc/ssh/ssh_config"

// LoadConfig reads home/.ssh/config and system (SystemConfig, or "" for
// none); a file that does not exist is no error. localUser is the login
// name used when neither the URL nor ssh_config names one.
func LoadConfig(home, system, localUser string) (*Config, error) {
	c := &Config{home: home, localUser: localUser}
	paths := []string{system}
	if home != "" {
		paths = []string{filepath.Join(home, ".ssh", "config"), system}
	}
	for _, path := range paths {
		if path == "" {
			continue
		}
		cfg, err := readConfig(path)
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			c.files = append(c.files, cfg)
		}
	}
	return c, nil
}

func readConfig(path string) (*sshconfig.Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &ConfigError{Path: path, Err: err}
	}
	cfg, err := sshconfig.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, &ConfigError{Path: path, Err: err}
	}
	return cfg, nil
}

// ConfigError is an ssh_config file that cannot be read or parsed.
type ConfigError struct {
	Path string
	Err  error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("sshdial: %s: %v: fix it (ssh -G HOST shows how ssh reads it)", e.Path, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// get is the first value of key for alias, "" if none.
func (c *Config) get(alias, key string) (string, error) {
	for _, f := range c.files {
		v, err := f.Get(alias, key)
		if err != nil {
			return "", fmt.Errorf("sshdial: ssh_config %s for %s: %w", key, alias, err)
		}
		if v != "" {
			return v, nil
		}
	}
	return "", nil
}

// getAll is every value of key for alias, the user's file first.
func (c *Config) getAll(alias, key string) ([]string, error) {
	var all []string
	for _, f := range c.files {
		vs, err := f.GetAll(alias, key)
		if err != nil {
			return nil, fmt.Errorf("sshdial: ssh_config %s for %s: %w", key, alias, err)
		}
		all = append(all, vs...)
	}
	return all, nil
}

// Hop is one SSH server on the way, as ssh_config describes it.
type Hop struct {
	Alias string // the name it was given by
	Host  string // HostName, else Alias
	Port  int
	User  string
	// IdentityFiles are the key files ssh_config names (IdentityFile),
	// tokens and ~ expanded; they may not exist.
	IdentityFiles []string
	// KnownHosts are UserKnownHostsFile's files: the first is where new
	// keys go. GlobalKnownHosts are only read.
	KnownHosts       []string
	GlobalKnownHosts []string
	// HostKeyAlias, if set, is the name its key is known by instead.
	HostKeyAlias string
	// HashKnownHosts writes new known_hosts names hashed.
	HashKnownHosts bool
	// StrictHostKeyChecking is "yes", "ask", "accept-new" or "no".
	StrictHostKeyChecking string
	// jumps are its ProxyJump entries, nil for none.
	jumps []string
}

// Addr is host:port, as dialled.
func (h Hop) Addr() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

// keyName is what known_hosts knows the host's key by, as host:port.
func (h Hop) keyName() string {
	if h.HostKeyAlias != "" {
		return net.JoinHostPort(h.HostKeyAlias, "22") // an alias has no port
	}
	return h.Addr()
}

// maxJumps bounds a chain of ProxyJump hosts, whose configs may loop.
const maxJumps = 8

// Route is every hop from here to the server target names, jump hosts
// first, each resolved through ssh_config as ssh does: the first jump
// host's own ProxyJump is followed too, the others' are not (ssh -J
// a,b target reaches b through a, and a as its own config says).
func (c *Config) Route(target Spec) ([]Hop, error) {
	return c.route(target, 0)
}

func (c *Config) route(sp Spec, depth int) ([]Hop, error) {
	if depth > maxJumps {
		return nil, fmt.Errorf("sshdial: more than %d ProxyJump hosts on the way to %s: do they jump to each other?", maxJumps, sp.Host)
	}
	hop, err := c.Hop(sp)
	if err != nil {
		return nil, err
	}
	if len(hop.jumps) == 0 {
		return []Hop{hop}, nil
	}
	first, err := parseJump(hop.jumps[0])
	if err != nil {
		return nil, fmt.Errorf("%w (ProxyJump of %s)", err, sp.Host)
	}
	route, err := c.route(first, depth+1)
	if err != nil {
		return nil, err
	}
	for _, j := range hop.jumps[1:] {
		js, err := parseJump(j)
		if err != nil {
			return nil, fmt.Errorf("%w (ProxyJump of %s)", err, sp.Host)
		}
		h, err := c.Hop(js)
		if err != nil {
			return nil, err
		}
		route = append(route, h)
	}
	if len(route) > maxJumps {
		return nil, fmt.Errorf("sshdial: more than %d ProxyJump hosts on the way to %s", maxJumps, sp.Host)
	}
	return append(route, hop), nil
}

// Hop resolves one server's settings: what sp says, then ssh_config, then
// ssh's defaults.
func (c *Config) Hop(sp Spec) (Hop, error) {
	h := Hop{Alias: sp.Host, Host: sp.Host, Port: sp.Port, User: sp.User}
	r := resolver{c: c, alias: sp.Host}
	if cmd := r.get("ProxyCommand"); cmd != "" && !strings.EqualFold(cmd, "none") {
		return Hop{}, fmt.Errorf("sshdial: ssh_config gives %s a ProxyCommand, which fwd does not run: use ProxyJump instead", sp.Host)
	}
	if name := r.get("HostName"); name != "" {
		h.Host = expandTokens(name, map[byte]string{'h': sp.Host})
	}
	if h.Port == 0 {
		h.Port = r.port()
	}
	if h.User == "" {
		h.User = r.get("User")
	}
	if h.User == "" {
		h.User = c.localUser
	}
	h.HostKeyAlias = r.get("HostKeyAlias")
	h.HashKnownHosts = strings.EqualFold(r.get("HashKnownHosts"), "yes")
	h.StrictHostKeyChecking = strictness(r.get("StrictHostKeyChecking"))
	if j := r.get("ProxyJump"); j != "" && !strings.EqualFold(j, "none") {
		h.jumps = strings.Split(j, ",")
	}
	tokens := map[byte]string{'h': h.Host, 'r': h.User, 'u': c.localUser, 'd': c.home, 'p': strconv.Itoa(h.Port)}
	for _, f := range r.getAll("IdentityFile") {
		if !strings.EqualFold(f, "none") {
			h.IdentityFiles = append(h.IdentityFiles, c.path(f, tokens))
		}
	}
	h.KnownHosts = c.fileList(r.get("UserKnownHostsFile"), "~/.ssh/known_hosts ~/.ssh/known_hosts2", tokens)
	h.GlobalKnownHosts = c.fileList(r.get("GlobalKnownHostsFile"), "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2", tokens)
	if r.err != nil {
		return Hop{}, r.err
	}
	return h, nil
}

// resolver reads one alias's keywords, keeping the first error.
type resolver struct {
	c     *Config
	alias string
	err   error
}

func (r *resolver) get(key string) string {
	v, err := r.c.get(r.alias, key)
	if r.err == nil {
		r.err = err
	}
	return v
}

func (r *resolver) getAll(key string) []string {
	vs, err := r.c.getAll(r.alias, key)
	if r.err == nil {
		r.err = err
	}
	return vs
}

func (r *resolver) port() int {
	v := r.get("Port")
	if v == "" {
		return 22
	}
	n, err := strconv.Atoi(v)
	if (err != nil || n < 1 || n > 65535) && r.err == nil {
		r.err = fmt.Errorf("sshdial: ssh_config gives %s Port %q: use 1-65535", r.alias, v)
	}
	return n
}

// strictness reads StrictHostKeyChecking: "ask" unless set, "no" for
// "off" as ssh takes it.
func strictness(v string) string {
	switch v = strings.ToLower(v); v {
	case "yes", "accept-new", "no":
		return v
	case "off":
		return "no"
	}
	return "ask"
}

// fileList reads a keyword's list of files (UserKnownHostsFile): def if
// unset, none for "none".
func (c *Config) fileList(v, def string, tokens map[byte]string) []string {
	if v == "" {
		v = def
	}
	if strings.EqualFold(v, "none") {
		return nil
	}
	var out []string
	for _, f := range strings.Fields(v) {
		out = append(out, c.path(f, tokens))
	}
	return out
}

// path expands a file name of ssh_config: ~, then %-tokens. A relative
// name stays relative to the working directory, as ssh leaves it.
func (c *Config) path(f string, tokens map[byte]string) string {
	if f == "~" || strings.HasPrefix(f, "~/") {
		f = c.home + f[1:]
	}
	return expandTokens(f, tokens)
}

// expandTokens replaces ssh_config's %-tokens that tokens has, and %%.
// Unknown tokens are left as they are.
func expandTokens(s string, tokens map[byte]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
		} else if v, ok := tokens[s[i]]; ok {
			b.WriteString(v)
		} else {
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
