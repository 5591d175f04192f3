package config

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/internal/yamlnode"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// maxNodes bounds the nodes the decoder visits, so that aliases that expand
// exponentially (or into themselves) cannot make Parse run for ever.
const maxNodes = 1 << 18

type position struct{ line, col int }

// decoder turns YAML nodes into a Config, checking shapes and types. It
// records the position of every value by its path, for check to use.
type decoder struct {
	file    string
	dir     string // where relative file names are read from; "" is the working directory
	pos     map[string]position
	budget  int
	aliases bool
}

func (d *decoder) errorf(n *yaml.Node, err error, format string, args ...any) error {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...), Err: err}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	if e.Line <= 0 {
		e.Line, e.Column = 1, 0
	}
	return e
}

// resolve follows aliases and charges n against the budget.
func (d *decoder) resolve(n *yaml.Node) (*yaml.Node, error) {
	orig := n
	for n != nil && n.Kind == yaml.AliasNode {
		d.aliases = true
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		why := "the config is too large"
		if d.aliases {
			why = "aliases expand to too many values (is an alias inside its own anchor?)"
		}
		return nil, d.errorf(orig, nil, "%s: stopped after %d values", why, maxNodes)
	}
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: orig.Line, Column: orig.Column}, nil
	}
	return n, nil
}

func (d *decoder) record(path string, n *yaml.Node) {
	if n != nil && n.Line > 0 {
		d.pos[path] = position{n.Line, n.Column}
	}
}

// field is a key a mapping may have.
type field struct {
	key    string
	decode func(v *yaml.Node, path string) error
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping decodes the mapping n, which describes what (e.g. "a port"), by
// calling each key's field. A null n is an empty mapping.
func (d *decoder) mapping(at *yaml.Node, what, path string, example string, fields []field) error {
	return d.eachKey(at, what, path, example, fields[0].key, func(k, v *yaml.Node, p string) error {
		for j := range fields {
			if fields[j].key == k.Value {
				return fields[j].decode(v, p)
			}
		}
		return d.errorf(k, nil, "unknown key %q in %s: %s", k.Value, what, suggest(k.Value, fields))
	})
}

// eachKey calls each for every key of the mapping at (a null one has
// none), refusing merge keys, non-scalar keys and duplicates; wordLike is
// an example key for messages. It records each value's position.
func (d *decoder) eachKey(at *yaml.Node, what, path, example, wordLike string, each func(k, v *yaml.Node, path string) error) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.errorf(at, nil, "%s must be a mapping of keys, like %s, not %s", what, example, yamlnode.Describe(n))
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := d.resolve(n.Content[i])
		if err != nil {
			return err
		}
		v := n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			return d.errorf(k, nil, "merge keys (<<) are not supported: write the keys out")
		}
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k, nil, "a key in %s is %s: keys must be plain words like %s", what, yamlnode.Describe(k), wordLike)
		}
		if first, ok := seen[k.Value]; ok {
			return d.errorf(k, nil, "duplicate key %q in %s (first at line %d): remove one", k.Value, what, first.Line)
		}
		seen[k.Value] = k
		p := join(path, k.Value)
		d.record(p, v)
		if err := each(k, v, p); err != nil {
			return err
		}
	}
	return nil
}

// stringMap decodes a mapping of names to strings, such as env:.
func (d *decoder) stringMap(at *yaml.Node, key, path, example string, out *map[string]string) error {
	return d.eachKey(at, key, path, example, "NAME", func(k, v *yaml.Node, _ string) error {
		s, err := d.str(v, key+"."+k.Value)
		if err != nil {
			return err
		}
		if *out == nil {
			*out = map[string]string{}
		}
		(*out)[k.Value] = s
		return nil
	})
}

// secrets decodes secrets: a mapping of names to {env: VAR} or {file: PATH}.
func (d *decoder) secrets(at *yaml.Node, path string, out *map[string]tunnel.SecretSource) error {
	return d.eachKey(at, "secrets", path, "{db_password: {env: DB_PASSWORD}}", "db_password", func(k, v *yaml.Node, p string) error {
		var src tunnel.SecretSource
		err := d.mapping(v, "secret "+k.Value, p, "{env: DB_PASSWORD} or {file: /run/secrets/db}", []field{
			{"env", func(v *yaml.Node, _ string) (err error) {
				src.Env, err = d.str(v, "secret "+k.Value+"'s env")
				return err
			}},
			{"file", func(v *yaml.Node, _ string) (err error) {
				src.File, err = d.str(v, "secret "+k.Value+"'s file")
				return err
			}},
		})
		if err != nil {
			return err
		}
		if *out == nil {
			*out = map[string]tunnel.SecretSource{}
		}
		(*out)[k.Value] = src
		return nil
	})
}

// suggest names the closest known key, or lists them all.
func suggest(key string, fields []field) string {
	best, bestDist := "", 3
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
		dist := yamlnode.EditDistance(strings.ToLower(key), f.key)
		if dist < bestDist {
			best, bestDist = f.key, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "expected one of " + strings.Join(keys, ", ")
}

// list decodes the list n by calling item for each element. A null n is an
// empty list.
func (d *decoder) list(at *yaml.Node, key, path, example string, item func(i int, v *yaml.Node, path string) error) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode {
			return d.errorf(at, nil, "%s must be a list: write %s: [%s]", key, key, n.Value)
		}
		return d.errorf(at, nil, "%s must be a list, like %s: %s", key, key, example)
	}
	for i, v := range n.Content {
		p := path + "[" + strconv.Itoa(i) + "]"
		d.record(p, v)
		if err := item(i, v, p); err != nil {
			return err
		}
	}
	return nil
}

// str decodes a scalar as a string; null is "".
func (d *decoder) str(at *yaml.Node, what string) (string, error) {
	n, err := d.resolve(at)
	if err != nil {
		return "", err
	}
	if n.Kind != yaml.ScalarNode {
		return "", d.errorf(at, nil, "%s must be a single value, not %s", what, yamlnode.Describe(n))
	}
	if yamlnode.IsNull(n) {
		return "", nil
	}
	return n.Value, nil
}

// stringList decodes a list of strings.
func (d *decoder) stringList(n *yaml.Node, key, path, example string, out *[]string) error {
	return d.list(n, key, path, example, func(_ int, v *yaml.Node, _ string) error {
		s, err := d.str(v, "each of "+key)
		if err != nil {
			return err
		}
		*out = append(*out, s)
		return nil
	})
}

// integer decodes a scalar as a whole number.
func (d *decoder) integer(at *yaml.Node, what string) (int64, error) {
	n, err := d.resolve(at)
	if err != nil {
		return 0, err
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, d.errorf(at, nil, "%s must be a whole number, not %s", what, yamlnode.Describe(n))
	}
	i, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil {
		return 0, d.errorf(at, err, "%s %s is out of range", what, n.Value)
	}
	return i, nil
}

// duration decodes a scalar such as "5s".
func (d *decoder) duration(at *yaml.Node, what string) (time.Duration, error) {
	n, err := d.resolve(at)
	if err != nil {
		return 0, err
	}
	if n.Kind != yaml.ScalarNode || yamlnode.IsNull(n) {
		return 0, d.errorf(at, nil, "%s must be a duration like 5s, not %s", what, yamlnode.Describe(n))
	}
	t, err := time.ParseDuration(n.Value)
	if err != nil {
		hint := "use a number with a unit, like 500ms, 5s or 2m"
		if _, nerr := strconv.ParseFloat(n.Value, 64); nerr == nil {
			hint = "add a unit: " + n.Value + "s for seconds"
		}
		return 0, d.errorf(at, err, "%s %q is not a duration: %s", what, n.Value, hint)
	}
	return t, nil
}

func (d *decoder) config(root *yaml.Node, c *Config) error {
	if root == nil || yamlnode.IsNull(root) {
		return &Error{File: d.file, Line: 1, Msg: "the config is empty: it needs at least tokens: and projects:"}
	}
	d.record("", root)
	return d.mapping(root, "the config", "", "listen: host:port", []field{
		{"listen", func(v *yaml.Node, _ string) (err error) {
			c.Listen, err = d.str(v, "listen")
			return err
		}},
		{"tls", func(v *yaml.Node, path string) error {
			return d.mapping(v, "tls", path, "{cert: gateway.crt, key: gateway.key}", []field{
				{"cert", func(v *yaml.Node, _ string) (err error) {
					c.TLS.Cert, err = d.str(v, "tls.cert")
					return err
				}},
				{"key", func(v *yaml.Node, _ string) (err error) {
					c.TLS.Key, err = d.str(v, "tls.key")
					return err
				}},
			})
		}},
		{"tokens", func(v *yaml.Node, path string) error {
			return d.list(v, "tokens", path, "[{name: alice, sha256: <hex>, projects: [shop]}]", func(_ int, v *yaml.Node, path string) error {
				var t tunnel.Token
				if err := d.token(v, path, &t); err != nil {
					return err
				}
				c.Tokens = append(c.Tokens, t)
				return nil
			})
		}},
		{"projects", func(v *yaml.Node, path string) error {
			return d.list(v, "projects", path, "[{name: shop, services: [...]}]", func(_ int, v *yaml.Node, path string) error {
				var p catalog.Project
				if err := d.project(v, path, &p); err != nil {
					return err
				}
				c.Catalog.Projects = append(c.Catalog.Projects, p)
				return nil
			})
		}},
		{"limits", func(v *yaml.Node, path string) error {
			return d.limits(v, path, &c.Limits)
		}},
		{"users", func(v *yaml.Node, path string) error {
			return d.list(v, "users", path, "[{name: alice, ssh_keys: [ssh-ed25519 AAAA...], projects: [shop]}]", func(_ int, v *yaml.Node, path string) error {
				var u tunnel.User
				if err := d.user(v, path, &u); err != nil {
					return err
				}
				c.Users = append(c.Users, u)
				return nil
			})
		}},
		{"ssh_user_ca", func(v *yaml.Node, path string) error {
			return d.sshUserCA(v, path, &c.SSHUserCAs)
		}},
		{"ssh_listen", func(v *yaml.Node, _ string) (err error) {
			c.SSHListen, err = d.str(v, "ssh_listen")
			return err
		}},
		{"ssh_host_key", func(v *yaml.Node, _ string) (err error) {
			c.SSHHostKey, err = d.str(v, "ssh_host_key")
			return err
		}},
		{"metrics_listen", func(v *yaml.Node, _ string) (err error) {
			c.MetricsListen, err = d.str(v, "metrics_listen")
			return err
		}},
		{"secrets", func(v *yaml.Node, path string) error {
			return d.secrets(v, path, &c.Secrets)
		}},
		{"hostname_suffixes", func(v *yaml.Node, path string) error {
			if err := d.stringList(v, "hostname_suffixes", path, "[svc.cluster.local]", &c.HostnameSuffixes); err != nil {
				return err
			}
			for i, s := range c.HostnameSuffixes {
				c.HostnameSuffixes[i] = normalizeSuffix(s)
			}
			return nil
		}},
		{"catalog", func(v *yaml.Node, path string) error {
			return d.catalogSource(v, path, c)
		}},
		{"expose", func(v *yaml.Node, path string) error {
			return d.expose(v, path, c)
		}},
	})
}

// normalizeSuffix writes a hostname suffix as it is compared: in lower case,
// as DNS compares names, and without the leading dot that people often
// write (".svc.cluster.local").
func normalizeSuffix(s string) string {
	return strings.ToLower(strings.TrimPrefix(s, "."))
}

func (d *decoder) token(n *yaml.Node, path string, t *tunnel.Token) error {
	return d.mapping(n, "a token", path, "{name: alice, sha256: <hex>, projects: [shop]}", []field{
		{"name", func(v *yaml.Node, _ string) (err error) {
			t.Name, err = d.str(v, "the token's name")
			return err
		}},
		{"sha256", func(v *yaml.Node, _ string) error {
			s, err := d.str(v, "sha256")
			if err != nil {
				return err
			}
			sum, err := parseSHA256(s)
			if err != nil {
				return d.errorf(v, err, "%s", err.Error())
			}
			t.SHA256 = sum
			return nil
		}},
		{"projects", func(v *yaml.Node, path string) error {
			return d.stringList(v, "projects", path, `[shop] or ["*"]`, &t.Projects)
		}},
		{"expose", func(v *yaml.Node, _ string) (err error) {
			t.Expose, err = d.boolean(v, "expose")
			return err
		}},
	})
}

// parseSHA256 reads a token hash: 64 hex digits, optionally after "sha256:".
func parseSHA256(s string) ([32]byte, error) {
	var sum [32]byte
	h := strings.TrimPrefix(strings.TrimSpace(s), "sha256:")
	switch {
	case strings.HasPrefix(h, "fwd_"):
		return sum, fmt.Errorf("sha256 holds a token, not its hash: store only printf %%s \"$TOKEN\" | sha256sum, and treat this token as leaked")
	case len(h) != 64:
		return sum, fmt.Errorf("sha256 must be 64 hex characters, not %d: use printf %%s \"$TOKEN\" | sha256sum", len(h))
	}
	if _, err := hex.Decode(sum[:], []byte(h)); err != nil {
		return sum, fmt.Errorf("sha256 must be 64 hex characters (0-9, a-f): %w", err)
	}
	return sum, nil
}

func (d *decoder) project(n *yaml.Node, path string, p *catalog.Project) error {
	err := d.mapping(n, "a project", path, "{name: shop, services: [...], addons: [...]}", []field{
		{"name", func(v *yaml.Node, _ string) (err error) {
			p.Name, err = d.str(v, "the project's name")
			return err
		}},
		{"services", func(v *yaml.Node, path string) error {
			return d.resources(v, path, catalog.Service, &p.Services)
		}},
		{"addons", func(v *yaml.Node, path string) error {
			return d.resources(v, path, catalog.Addon, &p.Addons)
		}},
	})
	for i := range p.Services {
		p.Services[i].Project = p.Name
	}
	for i := range p.Addons {
		p.Addons[i].Project = p.Name
	}
	return err
}

func (d *decoder) resources(n *yaml.Node, path string, kind catalog.Kind, out *[]catalog.Resource) error {
	key := string(kind) + "s"
	return d.list(n, key, path, "[{name: api, ports: [...]}]", func(_ int, v *yaml.Node, path string) error {
		r := catalog.Resource{Kind: kind}
		err := d.mapping(v, "a "+string(kind), path, "{name: api, ports: [{port: 8080, targets: [10.0.0.5:8080]}]}", []field{
			{"name", func(v *yaml.Node, _ string) (err error) {
				r.Name, err = d.str(v, "the "+string(kind)+"'s name")
				return err
			}},
			{"hostnames", func(v *yaml.Node, path string) error {
				return d.stringList(v, "hostnames", path, "[api.shop.svc.cluster.local]", &r.Hostnames)
			}},
			{"env", func(v *yaml.Node, path string) error {
				return d.stringMap(v, "env", path, `{DATABASE_URL: "postgres://{{.Address}}:{{.Port \"postgres\"}}/app"}`, &r.Env)
			}},
			{"ports", func(v *yaml.Node, path string) error {
				return d.list(v, "ports", path, "[{port: 8080, targets: [10.0.0.5:8080]}]", func(_ int, v *yaml.Node, path string) error {
					var p catalog.Port
					if err := d.port(v, path, &p); err != nil {
						return err
					}
					r.Ports = append(r.Ports, p)
					return nil
				})
			}},
		})
		if err != nil {
			return err
		}
		*out = append(*out, r)
		return nil
	})
}

func (d *decoder) port(n *yaml.Node, path string, p *catalog.Port) error {
	p.Protocol = catalog.TCP
	return d.mapping(n, "a port", path, "{port: 8080, protocol: TCP, targets: [10.0.0.5:8080]}", []field{
		{"name", func(v *yaml.Node, _ string) (err error) {
			p.Name, err = d.str(v, "the port's name")
			return err
		}},
		{"port", func(v *yaml.Node, _ string) error {
			i, err := d.integer(v, "port")
			if err != nil {
				return err
			}
			if i < 1 || i > 65535 {
				return d.errorf(v, nil, "port %d out of range: use 1-65535", i)
			}
			p.Port = uint16(i)
			return nil
		}},
		{"protocol", func(v *yaml.Node, _ string) error {
			s, err := d.str(v, "protocol")
			if err != nil {
				return err
			}
			proto, err := catalog.ParseProtocol(s)
			if err != nil {
				return d.errorf(v, err, "%s", err.Error())
			}
			p.Protocol = proto
			return nil
		}},
		{"targets", func(v *yaml.Node, path string) error {
			return d.stringList(v, "targets", path, "[10.0.0.5:8080, db.internal:5432]", &p.Targets)
		}},
	})
}

func (d *decoder) limits(n *yaml.Node, path string, l *tunnel.Limits) error {
	count := func(key string, out *int) field {
		return field{key, func(v *yaml.Node, _ string) error {
			i, err := d.integer(v, key)
			if err != nil {
				return err
			}
			if i < 1 || i > 1<<30 {
				return d.errorf(v, nil, "%s %d out of range: use 1-%d", key, i, 1<<30)
			}
			*out = int(i)
			return nil
		}}
	}
	dur := func(key string, out *time.Duration) field {
		return field{key, func(v *yaml.Node, _ string) (err error) {
			*out, err = d.duration(v, key)
			return err
		}}
	}
	return d.mapping(n, "limits", path, "{dial_timeout: 5s}", []field{
		count("max_sessions", &l.MaxSessions),
		count("max_streams_per_session", &l.MaxStreamsPerSession),
		dur("dial_timeout", &l.DialTimeout),
		dur("idle_timeout", &l.IdleTimeout),
		dur("udp_flow_idle", &l.UDPFlowIdle),
		dur("shutdown_grace", &l.ShutdownGrace),
		count("max_handshakes", &l.MaxHandshakes),
		count("max_handshakes_per_source", &l.MaxHandshakesPerSource),
	})
}
