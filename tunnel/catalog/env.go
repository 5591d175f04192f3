package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
)

// EnvData is what a resource's env templates see when a client renders
// them: where the resource is forwarded on this machine.
//
//	{{.Address}}          its local address, 127.x.y.z
//	{{.Host}}             its first hostname, or the address without one
//	{{.Port "postgres"}}  the local port of the port named postgres (or by number, "5432")
//	{{.Project}} {{.Name}}
//	{{secret "name"}}     a secret's value, sent by the gateway
type EnvData struct {
	Project, Name string
	Address, Host string
	ports         map[string]int
}

// NewEnvData describes a forward whose ports are known by name (or, for a
// port without one, by its catalog number) to their local ports.
func NewEnvData(project, name, address, host string, ports map[string]int) EnvData {
	return EnvData{Project: project, Name: name, Address: address, Host: host, ports: ports}
}

// Port returns the local port of the port named name.
func (d EnvData) Port(name string) (int, error) {
	if p, ok := d.ports[name]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("no port named %q (ports: %s)", name, list(sortedKeys(d.ports)))
}

// ErrEnvTemplate matches a template that does not parse or render.
var ErrEnvTemplate = errors.New("catalog: bad env template")

// RenderEnv renders each of r's env templates with d, taking secrets from
// r.Secrets. The result is sorted by name.
func RenderEnv(r Resource, d EnvData) ([]EnvVar, error) {
	var out []EnvVar
	for _, key := range sortedKeys(r.Env) {
		v, err := renderOne(key, r.Env[key], d, r.Secrets)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.ID(), key, err)
		}
		out = append(out, EnvVar{Key: key, Value: v})
	}
	return out, nil
}

// EnvVar is one rendered variable.
type EnvVar struct {
	Key, Value string
}

func renderOne(key, text string, d EnvData, secrets map[string]string) (string, error) {
	t, err := parseEnv(key, text, func(name string) (string, error) {
		if v, ok := secrets[name]; ok {
			return v, nil
		}
		return "", fmt.Errorf("secret %q was not sent: is it defined at the gateway?", name)
	})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("%w: %s", ErrEnvTemplate, cleanExecError(err))
	}
	return b.String(), nil
}

func parseEnv(key, text string, secret func(string) (string, error)) (*template.Template, error) {
	t, err := template.New(key).Option("missingkey=error").Funcs(template.FuncMap{"secret": secret}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrEnvTemplate, err)
	}
	return t, nil
}

// SecretsIn lists the secrets a template uses ({{secret "name"}} with a
// literal name), sorted; a template that does not parse is an error.
func SecretsIn(key, text string) ([]string, error) {
	t, err := parseEnv(key, text, func(string) (string, error) { return "", nil })
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	walk(t.Tree.Root, func(n *parse.CommandNode) {
		if len(n.Args) == 2 {
			if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "secret" {
				if s, ok := n.Args[1].(*parse.StringNode); ok {
					seen[s.Text] = true
				}
			}
		}
	})
	return sortedKeys(seen), nil
}

// walk calls f for every command in the template's tree.
func walk(n parse.Node, f func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			walk(c, f)
		}
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			f(c)
			for _, a := range c.Args {
				walk(a, f)
			}
		}
	case *parse.IfNode:
		walkBranch(&n.BranchNode, f)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, f)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, f)
	}
}

func walkBranch(b *parse.BranchNode, f func(*parse.CommandNode)) {
	walk(b.Pipe, f)
	if b.List != nil {
		walk(b.List, f)
	}
	if b.ElseList != nil {
		walk(b.ElseList, f)
	}
}

// cleanExecError drops text/template's "template: KEY:1:2: executing ..."
// preamble, which names internals, from what users read.
func cleanExecError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": error calling "); i >= 0 {
		msg = msg[i+len(": error calling "):]
	}
	return msg
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
