package contexts

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/internal/yamlnode"
)

const (
	configHeader      = "# fwd's saved gateways: fwd login and fwd context change this file; no token is kept here.\n"
	credentialsHeader = "# fwd's tokens for contexts whose token is not in the system keyring. Keep this file private.\n"
)

var (
	configKeys      = []string{"current", "contexts"}
	contextKeys     = []string{"name", "gateway", "fingerprint", "ca", "project", "ssh_key"}
	credentialsKeys = []string{"tokens"}
)

// fileConfig and fileContext are config.yaml's shape, for writing.
type fileConfig struct {
	Current  string        `yaml:"current,omitempty"`
	Contexts []fileContext `yaml:"contexts"`
}

type fileContext struct {
	Name        string `yaml:"name"`
	Gateway     string `yaml:"gateway"`
	Fingerprint string `yaml:"fingerprint,omitempty"`
	CA          string `yaml:"ca,omitempty"`
	Project     string `yaml:"project,omitempty"`
	SSHKey      string `yaml:"ssh_key,omitempty"`
}

func encodeConfig(c *Config) ([]byte, error) {
	f := fileConfig{Current: c.CurrentName, Contexts: make([]fileContext, 0, len(c.Contexts))}
	for _, x := range c.Contexts {
		f.Contexts = append(f.Contexts, fileContext(x))
	}
	return encodeYAML(configHeader, f)
}

func encodeYAML(header string, v any) ([]byte, error) {
	buf := bytes.NewBufferString(header)
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("contexts: encoding YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("contexts: encoding YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// configDecoder reads config.yaml, keeping where each context's name is so
// that problems between contexts are reported at the right line.
type configDecoder struct {
	nodes
	names   map[string]*yaml.Node // each context's name's value
	current *yaml.Node            // current's value
}

func decodeConfig(file string, data []byte) (*Config, error) {
	d := &configDecoder{nodes: nodes{file: file, orElse: "or remove the file to start again"}, names: map[string]*yaml.Node{}}
	root, err := d.parseYAML(data)
	if err != nil || root == nil {
		return &Config{}, err
	}
	c := &Config{}
	err = d.mapping(root, "the config", configKeys, func(k, v *yaml.Node) error {
		switch k.Value {
		case "current":
			d.current = v
			name, err := d.scalar("current", v)
			c.CurrentName = name
			return err
		case "contexts":
			return d.contexts(v, c)
		}
		return d.unknownKey(k, configKeys)
	})
	if err != nil {
		return nil, err
	}
	if _, ok := d.names[c.CurrentName]; c.CurrentName != "" && !ok {
		return nil, d.errorf(d.current, "current is %q, but no context has that name: set it to one of %s (or delete the line)",
			c.CurrentName, d.nameList())
	}
	return c, nil
}

func (d *configDecoder) contexts(at *yaml.Node, c *Config) error {
	n := yamlnode.Resolve(at)
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return d.errorf(at, "contexts must be a list of contexts (lines starting with -), not %s: write it as a list", yamlnode.Describe(n))
	}
	for _, item := range n.Content {
		ctx, err := d.context(item)
		if err != nil {
			return err
		}
		c.Contexts = append(c.Contexts, ctx)
	}
	return nil
}

// context decodes one context and checks it by the rules of checkContext,
// each problem at the line of its value.
func (d *configDecoder) context(at *yaml.Node) (Context, error) {
	var ctx Context
	vals := map[string]*yaml.Node{}
	err := d.mapping(at, "a context", contextKeys, func(k, v *yaml.Node) error {
		for _, f := range contextFields {
			if f.key == k.Value {
				vals[f.key] = v
				s, err := d.scalar(f.key, v)
				*f.get(&ctx) = s
				return err
			}
		}
		return d.unknownKey(k, contextKeys)
	})
	if err != nil {
		return ctx, err
	}
	if yamlnode.IsNull(yamlnode.Resolve(at)) || vals["name"] == nil || ctx.Name == "" {
		return ctx, d.errorf(at, "a context has no name: add name: NAME")
	}
	if err := d.checkFields(&ctx, vals); err != nil {
		return ctx, err
	}
	if first, dup := d.names[ctx.Name]; dup {
		return ctx, d.errorf(vals["name"], "a second context is called %q (the first at line %d): rename or delete one", ctx.Name, first.Line)
	}
	d.names[ctx.Name] = vals["name"]
	return ctx, nil
}

func (d *configDecoder) checkFields(ctx *Context, vals map[string]*yaml.Node) error {
	if ctx.Gateway == "" {
		return d.errorf(or(vals["gateway"], vals["name"]), "context %q has no gateway: add gateway: HOST:PORT", ctx.Name)
	}
	for _, f := range contextFields {
		v := *f.get(ctx)
		if msg := f.check(v); msg != "" {
			return d.errorf(vals[f.key], "%s %q %s", f.key, v, msg)
		}
	}
	if ctx.Fingerprint != "" && ctx.CA != "" {
		return d.errorf(vals["ca"], "%s", bothTrusts)
	}
	return nil
}

func or(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

func (d *configDecoder) nameList() string {
	if len(d.names) == 0 {
		return "the contexts (there are none)"
	}
	return strings.Join(slices.Sorted(maps.Keys(d.names)), ", ")
}

// credentials is credentials.yaml: tokens by context name.
type credentials struct {
	Tokens map[string]string `yaml:"tokens"`
}

func encodeCredentials(c *credentials) ([]byte, error) {
	return encodeYAML(credentialsHeader, c)
}

func decodeCredentials(file string, data []byte) (*credentials, error) {
	d := nodes{file: file, orElse: "or remove the file and run fwd login again"}
	c := &credentials{Tokens: map[string]string{}}
	root, err := d.parseYAML(data)
	if err != nil || root == nil {
		return c, err
	}
	err = d.mapping(root, "the credentials file", credentialsKeys, func(k, v *yaml.Node) error {
		if k.Value != "tokens" {
			return d.unknownKey(k, credentialsKeys)
		}
		return d.mapping(v, "tokens", []string{"CONTEXT: TOKEN"}, func(name, tok *yaml.Node) error {
			if msg := checkName(name.Value); msg != "" {
				return d.errorf(name, "context name %q %s", name.Value, msg)
			}
			v := yamlnode.Resolve(tok)
			if v.Kind != yaml.ScalarNode {
				return d.errorf(tok, "the token of %q must be a single value, not %s: write it after %s:", name.Value, yamlnode.Describe(v), name.Value)
			}
			s := v.Value
			if yamlnode.IsNull(v) {
				s = ""
			}
			if msg := checkToken(s); msg != "" {
				return d.errorf(tok, "the token of %q %s: write it alone after %s:", name.Value, msg, name.Value)
			}
			c.Tokens[name.Value] = s
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
