package projectfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/internal/yamlnode"
)

// portExample ends messages that tell how to write a port.
const portExample = `"- local_port: 3000"`

var (
	topKeys  = []string{"ports"}
	portKeys = []string{"local_port", "name", "tcp", "expose_localhost", "auth"}
)

// decoder makes Errors that name lines of one file.
type decoder struct{ path string }

// errorf makes the error at n, or at line 1 if n has no position: the
// message says what is wrong, then ": " and what to do.
func (d decoder) errorf(n *yaml.Node, format string, args ...any) *Error {
	e := &Error{Path: d.path, Line: 1, Column: 1, Msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

func parse(path string, data []byte) (*File, error) {
	d := decoder{path: path}
	root, err := d.document(data)
	if err != nil {
		return nil, err
	}
	if root == nil || yamlnode.IsNull(yamlnode.Resolve(root)) {
		return nil, d.errorf(nil, "the project file is empty: add ports: with a port under it, like %s", portExample)
	}
	return d.file(root)
}

// document parses data as one YAML document and returns its root, nil for
// an empty one.
func (d decoder) document(data []byte) (*yaml.Node, error) {
	data = yamlnode.UTF8(data)
	if off, msg := yamlnode.OddLineBreak(data); off >= 0 {
		e := d.errorf(nil, "%s", msg)
		e.Line, e.Column = yamlnode.LineCol(data, off)
		return nil, e
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, d.syntaxError(data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		// A second document would be ignored, and with it whatever ports
		// the user put there.
		return nil, d.errorf(&extra, "a second YAML document starts here: put all ports in one list under one ports:, and remove the ---")
	} else if !errors.Is(err, io.EOF) {
		return nil, d.syntaxError(data, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var digits = regexp.MustCompile(`^[-+]?[0-9]+$`)

var yamlLine = regexp.MustCompile(`^line ([0-9]+): (.*)$`)

// syntaxError turns yaml.v3's error into an Error at the line that breaks
// the file. yaml.v3 names the line where the block around a problem starts,
// or the end of the file for an unclosed quote, so the line is found again
// by parsing ever longer starts of the file.
func (d decoder) syntaxError(data []byte, err error) *Error {
	msg := strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " ")
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		msg = m[2]
		if n, _ := strconv.Atoi(m[1]); n > 0 && !strings.Contains(msg, "end of stream") {
			line = n
		}
	}
	line = firstBadLine(data, line)
	e := &Error{Path: d.path, Line: line, Msg: "invalid YAML (" + msg + "): fix this line", Err: err}
	lines := bytes.Split(data, []byte("\n"))
	if line <= len(lines) {
		text := lines[line-1]
		indent := text[:len(text)-len(bytes.TrimLeft(text, " \t"))]
		if tab := bytes.IndexByte(indent, '\t'); tab >= 0 {
			// The usual cause: an editor that indents with tabs, which YAML
			// does not allow.
			e.Column = tab + 1
			e.Msg = "a tab indents this line, and YAML allows only spaces: indent with spaces"
		}
	}
	return e
}

// firstBadLine returns the first n >= from for which the file's first n
// lines do not parse, or the last line if they all do. It searches by
// halves, taking a bad start to stay bad as lines are added, which holds
// but for quotes and flow lists spanning lines: a linear search would parse
// a long file once per line.
func firstBadLine(data []byte, from int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // what follows the last newline
	}
	bad := func(n int) bool {
		var doc yaml.Node
		return yaml.Unmarshal(bytes.Join(lines[:n], nil), &doc) != nil
	}
	lo, hi := max(from, 1), len(lines) // the answer is in [lo, hi]
	if lo >= hi {
		return max(hi, 1)
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if bad(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// mapping calls each for every key of the mapping n, which is what (e.g.
// "a port"), refusing keys that are not words, merge keys and repeated
// keys, which yaml.v3 lets through into nodes.
func (d decoder) mapping(n *yaml.Node, what string, each func(k, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Resolve(n.Content[i]), n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			return d.errorf(k, "merge keys (<<) are not supported: write the keys out")
		}
		if k.Kind != yaml.ScalarNode || yamlnode.IsNull(k) {
			return d.errorf(k, "a key in %s is %s: keys are words like local_port", what, yamlnode.Describe(k))
		}
		if line, dup := seen[k.Value]; dup {
			return d.errorf(k, "duplicate key %q in %s (first at line %d): remove one", k.Value, what, line)
		}
		seen[k.Value] = k.Line
		if err := each(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (d decoder) file(at *yaml.Node) (*File, error) {
	root := yamlnode.Resolve(at)
	if root.Kind != yaml.MappingNode {
		return nil, d.errorf(at, "the project file must be a mapping with ports:, not %s: start it with ports: and list the ports under it, like %s", yamlnode.Describe(root), portExample)
	}
	f := &File{Path: d.path}
	found := false
	err := d.mapping(root, "the project file", func(k, v *yaml.Node) error {
		if k.Value != "ports" {
			return d.unknownTopKey(k)
		}
		found = true
		return d.ports(k, v, &f.Ports)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, d.errorf(at, "the project file has no ports: add ports: with a port under it, like %s", portExample)
	}
	return f, nil
}

// unknownTopKey says where a port's key goes when one is written at the top
// level, the likeliest slip, and otherwise suggests ports.
func (d decoder) unknownTopKey(k *yaml.Node) error {
	for _, pk := range portKeys {
		if k.Value == pk {
			return d.errorf(k, "%s belongs to a port, not to the top level: list it under ports:, like %s", pk, portExample)
		}
	}
	return d.errorf(k, "unknown key %q at the top level: %s", k.Value, suggest(k.Value, topKeys))
}

func (d decoder) ports(key, at *yaml.Node, out *[]Port) error {
	n := yamlnode.Resolve(at)
	switch {
	case yamlnode.IsNull(n):
		// The empty value sits past the end of the key's line: point at
		// the key instead.
		return d.errorf(key, "ports is empty: add a port under it, like %s", portExample)
	case n.Kind == yaml.SequenceNode && len(n.Content) == 0:
		return d.errorf(at, "ports is empty: add a port, like %s", portExample)
	case n.Kind == yaml.MappingNode:
		return d.errorf(at, "ports must be a list, not a mapping: start each port with \"- \", like %s", portExample)
	case n.Kind != yaml.SequenceNode:
		return d.errorf(at, "ports must be a list of ports, not %s: write each port under it, like %s", yamlnode.Describe(n), portExample)
	}
	firstPort := map[uint16]*yaml.Node{}
	firstName := map[string]*yaml.Node{}
	for _, item := range n.Content {
		p, pos, err := d.port(item)
		if err != nil {
			return err
		}
		if first, dup := firstPort[p.LocalPort]; dup {
			return d.errorf(pos.localPort, "duplicate local_port %d (first at line %d): remove one of them", p.LocalPort, first.Line)
		}
		firstPort[p.LocalPort] = pos.localPort
		if p.Name != "" {
			if first, dup := firstName[p.Name]; dup {
				return d.errorf(pos.name, "duplicate name %q (first at line %d): give each port its own name", p.Name, first.Line)
			}
			firstName[p.Name] = pos.name
		}
		*out = append(*out, p)
	}
	return nil
}

// portNodes are where a port's values are, for the checks across ports.
type portNodes struct{ localPort, name *yaml.Node }

func (d decoder) port(at *yaml.Node) (Port, portNodes, error) {
	var p Port
	var pos portNodes
	n := yamlnode.Resolve(at)
	switch {
	case yamlnode.IsNull(n):
		return p, pos, d.errorf(at, "this port is empty: write it as %s", portExample)
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int":
		return p, pos, d.errorf(at, "a port must be a mapping of keys, not the number %s: write \"- local_port: %s\"", n.Value, n.Value)
	case n.Kind != yaml.MappingNode:
		return p, pos, d.errorf(at, "a port must be a mapping of keys, not %s: write it as %s", yamlnode.Describe(n), portExample)
	}
	var authKey *yaml.Node
	err := d.mapping(n, "a port", func(k, v *yaml.Node) (err error) {
		switch k.Value {
		case "local_port":
			pos.localPort = v
			p.LocalPort, err = d.localPort(v)
		case "name":
			pos.name = v
			p.Name, err = d.name(v)
		case "tcp":
			p.TCP, err = d.boolean(v, "tcp")
		case "expose_localhost":
			p.ExposeLocalhost, err = d.boolean(v, "expose_localhost")
		case "auth":
			authKey = k
			p.Auth, err = d.auth(v)
		default:
			err = d.errorf(k, "unknown key %q in a port: %s", k.Value, suggest(k.Value, portKeys))
		}
		return err
	})
	if err != nil {
		return p, pos, err
	}
	if pos.localPort == nil {
		return p, pos, d.errorf(at, "a port has no local_port: add local_port: with the number of the port on this machine to publish")
	}
	if p.TCP && authKey != nil {
		return p, pos, d.errorf(authKey, "auth is for HTTPS exposures, and this port has tcp: true: remove auth, or tcp: true to publish it over HTTPS")
	}
	return p, pos, nil
}

func (d decoder) localPort(at *yaml.Node) (uint16, error) {
	n := yamlnode.Resolve(at)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" && digits.MatchString(n.Value) {
		// Too long for an int64, so yaml.v3 calls it a float; still a
		// whole number, only a far too large one.
		return 0, d.errorf(at, "local_port %s out of range: use 1-65535", n.Value)
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		hint := "use a port number, 1-65535"
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			if _, err := strconv.Atoi(n.Value); err == nil {
				hint = "write the number without quotes"
			}
		}
		return 0, d.errorf(at, "local_port must be a whole number, not %s: %s", yamlnode.Describe(n), hint)
	}
	var i int64
	if err := n.Decode(&i); err != nil || i < 1 || i > 65535 {
		return 0, d.errorf(at, "local_port %s out of range: use 1-65535", n.Value)
	}
	return uint16(i), nil
}

func (d decoder) boolean(at *yaml.Node, key string) (bool, error) {
	n := yamlnode.Resolve(at)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return false, d.errorf(at, "%s must be true or false, not %s: write %s: true, or remove it for false", key, yamlnode.Describe(n), key)
	}
	return b, nil
}

// scalar returns the text of a single value; what names it in messages.
func (d decoder) scalar(at *yaml.Node, what, fix string) (string, error) {
	n := yamlnode.Resolve(at)
	switch {
	case yamlnode.IsNull(n) || n.Kind == yaml.ScalarNode && n.Value == "":
		return "", d.errorf(at, "%s is empty: %s", what, fix)
	case n.Kind != yaml.ScalarNode:
		return "", d.errorf(at, "%s must be a single value, not %s: %s", what, yamlnode.Describe(n), fix)
	}
	return n.Value, nil
}

func (d decoder) name(at *yaml.Node) (string, error) {
	s, err := d.scalar(at, "name", "write a name like web, or remove name: to let fwd pick one")
	if err != nil {
		return "", err
	}
	if problem := checkName(s); problem != "" {
		return "", d.errorf(at, "name %q %s", s, problem)
	}
	return s, nil
}

// maxName keeps the name, with the rest of an exposure's public host name,
// well inside DNS's 63-byte label.
const maxName = 40

// checkName returns what is wrong with a name and what to do, or "". The
// rules are a DNS label's, since the name becomes part of a host name, and
// "--" is refused because DNS keeps it for encoded names (xn--).
func checkName(s string) string {
	try := func() string {
		if fixed := fixName(s); fixed != "" && fixed != s {
			return fmt.Sprintf("try %q", fixed)
		}
		return "use lowercase letters, digits and '-'"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "may hold only lowercase letters, digits and '-': " + try()
		}
	}
	switch {
	case len(s) > maxName:
		return fmt.Sprintf("is %d characters long: use at most %d", len(s), maxName)
	case strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-"):
		return "starts or ends with '-': " + try()
	case strings.Contains(s, "--"):
		return "has \"--\", which DNS keeps for encoded names: " + try()
	}
	return ""
}

// fixName is the valid name nearest s, for suggestions: lowercased, other
// characters turned into '-', dashes collapsed and trimmed; "" if nothing
// is left.
func fixName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			r = '-'
		}
		if r == '-' && strings.HasSuffix(b.String(), "-") {
			continue
		}
		b.WriteRune(r)
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > maxName {
		out = strings.TrimRight(out[:maxName], "-")
	}
	return out
}

// auth never repeats the value in a message: it holds a password.
func (d decoder) auth(at *yaml.Node) (string, error) {
	s, err := d.scalar(at, "auth", "write it as user:password, or remove auth:")
	if err != nil {
		return "", err
	}
	user, _, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "", d.errorf(at, "auth has no ':' between user and password: write it as user:password")
	case user == "":
		return "", d.errorf(at, "auth has no user before its ':': write it as user:password")
	}
	return s, nil
}

// suggest names the closest known key, or lists them all.
func suggest(key string, keys []string) string {
	best, bestDist := "", 3
	for _, k := range keys {
		if dist := yamlnode.EditDistance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(keys) == 1 {
		return fmt.Sprintf("the only key here is %s", keys[0])
	}
	return "the keys here are " + strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1]
}
