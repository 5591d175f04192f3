// Package configedit adds ports to a gateway.yaml the way a person would:
// yaml.v3's nodes say where the project, the service and its ports are,
// and new lines are inserted there as text, so that every byte outside
// them (comments, order, quoting, blank lines) stays as it was.
package configedit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Port is one catalog port to add.
type Port struct {
	Name     string
	Number   uint16
	Protocol string // HTTP, TCP or UDP
	Targets  []string
}

func (p Port) network() string {
	if strings.EqualFold(p.Protocol, "UDP") {
		return "udp"
	}
	return "tcp"
}

// Place is where the ports go: a service or an addon of a project.
type Place struct {
	Project string
	Kind    string // "services" or "addons"
	Name    string
}

// ErrUnsupported is a config laid out in a way this package does not edit
// (a flow mapping where a block one is needed): add the ports by hand.
var ErrUnsupported = errors.New("configedit: cannot insert here")

// AddPorts returns data with ports added to the resource at, created
// (with its project's services: or addons: key) when missing. Ports the
// resource already has (same number and network) are left out and
// returned as kept.
func AddPorts(data []byte, at Place, ports []Port) (out []byte, added, kept []Port, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, nil, fmt.Errorf("configedit: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, nil, errors.New("configedit: the config is not a YAML mapping: is it a gateway.yaml?")
	}
	e := &editor{text: newText(data)}
	project, err := findProject(doc.Content[0], at.Project)
	if err != nil {
		return nil, nil, nil, err
	}
	added, kept, err = e.addPorts(project, at, ports)
	if err != nil || len(added) == 0 {
		return data, added, kept, err
	}
	return e.text.bytes(), added, kept, nil
}

func findProject(root *yaml.Node, name string) (*yaml.Node, error) {
	projects := value(root, "projects")
	if projects == nil || projects.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("configedit: the config has no projects: list: add the project %q first", name)
	}
	var names []string
	for _, p := range projects.Content {
		n := value(p, "name")
		if n == nil {
			continue
		}
		if n.Value == name {
			return p, nil
		}
		names = append(names, n.Value)
	}
	return nil, fmt.Errorf("configedit: the config has no project %q: use one of %s, or add it first", name, strings.Join(names, ", "))
}

// value is the value of key in mapping m, nil when m has none.
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

type editor struct {
	text *text
}

func (e *editor) addPorts(project *yaml.Node, at Place, ports []Port) (added, kept []Port, err error) {
	list := value(project, at.Kind)
	if list == nil {
		lines := []string{at.Kind + ":"}
		lines = append(lines, indent(resourceLines(at.Name, ports, 2, 2), 2)...)
		return ports, nil, e.addKey(project, lines)
	}
	if list.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("configedit: %s of project %q is not a list: fix it first", at.Kind, at.Project)
	}
	for _, r := range list.Content {
		if n := value(r, "name"); n != nil && n.Value == at.Name {
			return e.addToResource(r, at, ports)
		}
	}
	if list.Style&yaml.FlowStyle != 0 {
		return ports, nil, e.appendFlow(list, flowResource(at.Name, ports))
	}
	// The new resource's ports: list is laid out as its siblings' lists
	// are: items indented as the resource list's, dashes as far from
	// their key as the resource list's are from theirs.
	dash, content := seqIndents(list)
	dashStep := max(dash-keyColumn(project, at.Kind), 0)
	return ports, nil, e.appendBlock(list, resourceLines(at.Name, ports, content-dash, dashStep))
}

func (e *editor) addToResource(r *yaml.Node, at Place, ports []Port) (added, kept []Port, err error) {
	existing := value(r, "ports")
	have := map[string]bool{}
	if existing != nil {
		for _, p := range existing.Content {
			number, proto := value(p, "port"), value(p, "protocol")
			if number == nil {
				continue
			}
			network := "tcp"
			if proto != nil && strings.EqualFold(proto.Value, "UDP") {
				network = "udp"
			}
			have[number.Value+"/"+network] = true
		}
	}
	for _, p := range ports {
		if have[strconv.Itoa(int(p.Number))+"/"+p.network()] {
			kept = append(kept, p)
		} else {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return nil, kept, nil
	}
	switch {
	case existing == nil:
		if r.Style&yaml.FlowStyle != 0 {
			return nil, nil, fmt.Errorf("%w: %s %q of project %q is written on one line as {...}: add its ports by hand", ErrUnsupported, strings.TrimSuffix(at.Kind, "s"), at.Name, at.Project)
		}
		return added, kept, e.addKey(r, append([]string{"ports:"}, indent(portLines(added, 2, false), 2)...))
	case existing.Kind != yaml.SequenceNode:
		return nil, nil, fmt.Errorf("configedit: ports of %q are not a list: fix it first", at.Name)
	case existing.Style&yaml.FlowStyle != 0:
		var items []string
		for _, p := range added {
			items = append(items, flowPort(p))
		}
		return added, kept, e.appendFlow(existing, strings.Join(items, ", "))
	}
	dash, content := seqIndents(existing)
	flow := len(existing.Content) > 0 && existing.Content[0].Style&yaml.FlowStyle != 0
	return added, kept, e.appendBlock(existing, portLines(added, content-dash, flow))
}

// seqIndents are the columns (from 0) of a block sequence's dashes and of
// its first item's content.
func seqIndents(seq *yaml.Node) (dash, content int) {
	dash = seq.Column - 1
	content = dash + 2
	if len(seq.Content) > 0 && seq.Content[0].Style&yaml.FlowStyle == 0 {
		content = seq.Content[0].Column - 1
	}
	return dash, content
}

func keyColumn(m *yaml.Node, key string) int {
	if k := keyNode(m, key); k != nil {
		return k.Column - 1
	}
	return 0
}

// appendBlock inserts lines (without indentation of their own) as new
// items after the last item of the block sequence seq.
func (e *editor) appendBlock(seq *yaml.Node, lines []string) error {
	dash := seq.Column - 1
	at := e.text.endOfBlock(seq.Content[len(seq.Content)-1].Line, dash)
	e.text.insert(at, indent(lines, dash))
	return nil
}

// addKey inserts lines (a key and its indented value) at the end of the
// block mapping m, at its keys' indentation.
func (e *editor) addKey(m *yaml.Node, lines []string) error {
	if m.Style&yaml.FlowStyle != 0 || len(m.Content) < 2 {
		return fmt.Errorf("%w: a mapping written as {...}: add the lines by hand", ErrUnsupported)
	}
	col := m.Content[0].Column - 1
	last := m.Content[len(m.Content)-1]
	at := e.text.endOfBlock(lastLine(last), col-1)
	e.text.insert(at, indent(lines, col))
	return nil
}

// lastLine is the line a node's text starts on that is furthest down, a
// lower bound of where the node ends.
func lastLine(n *yaml.Node) int {
	line := n.Line
	for _, c := range n.Content {
		line = max(line, lastLine(c))
	}
	return line
}

// appendFlow inserts item before the closing bracket of the flow
// sequence seq.
func (e *editor) appendFlow(seq *yaml.Node, item string) error {
	open, err := e.text.offset(seq.Line, seq.Column)
	if err != nil {
		return err
	}
	closing, empty, err := matchBracket(e.text.data, open)
	if err != nil {
		return err
	}
	if !empty {
		item = ", " + item
	}
	// After the last item, not before a ] that may sit on a line of its own.
	at := closing
	for at > open+1 && isSpace(e.text.data[at-1]) {
		at--
	}
	e.text.splice(at, item)
	return nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// matchBracket finds the ] that closes the [ at open, skipping quoted
// strings, comments and nested brackets; empty says nothing is inside.
func matchBracket(data []byte, open int) (closing int, empty bool, err error) {
	if open >= len(data) || data[open] != '[' {
		return 0, false, fmt.Errorf("%w: no [ where the list starts", ErrUnsupported)
	}
	depth, empty := 0, true
	for i := open; i < len(data); i++ {
		switch c := data[i]; c {
		case '[', '{':
			depth++
			if i > open {
				empty = false
			}
		case ']', '}':
			depth--
			if depth == 0 {
				return i, empty, nil
			}
		case '\'', '"':
			end := skipQuoted(data, i)
			if end < 0 {
				return 0, false, fmt.Errorf("%w: an unclosed quote in a list", ErrUnsupported)
			}
			i, empty = end, false
		case '#':
			if i > 0 && isSpace(data[i-1]) {
				for i < len(data) && data[i] != '\n' {
					i++
				}
			}
		default:
			if !isSpace(c) {
				empty = false
			}
		}
	}
	return 0, false, fmt.Errorf("%w: a list without its closing ]", ErrUnsupported)
}

// skipQuoted returns the index of the quote that closes the one at i.
func skipQuoted(data []byte, i int) int {
	q := data[i]
	for j := i + 1; j < len(data); j++ {
		switch {
		case q == '"' && data[j] == '\\':
			j++
		case data[j] == q && q == '\'' && j+1 < len(data) && data[j+1] == '\'':
			j++ // '' is a quote inside single quotes
		case data[j] == q:
			return j
		}
	}
	return -1
}

// resourceLines is a new service or addon as block lines: "- name: S"
// and its ports, an item's keys step columns from its dash, a list's
// dashes dashStep columns from its key.
func resourceLines(name string, ports []Port, step, dashStep int) []string {
	step = max(step, 2)
	lines := []string{"-" + strings.Repeat(" ", step-1) + "name: " + scalar(name), strings.Repeat(" ", step) + "ports:"}
	return append(lines, indent(portLines(ports, step, false), step+dashStep)...)
}

// portLines are block sequence items, one per port: flow mappings when the
// list's items are, else block mappings whose keys are at content.
func portLines(ports []Port, content int, flow bool) []string {
	var lines []string
	pad := strings.Repeat(" ", max(content, 2))
	for _, p := range ports {
		if flow {
			lines = append(lines, "- "+flowPort(p))
			continue
		}
		lines = append(lines,
			"-"+pad[1:]+"name: "+scalar(p.Name),
			pad+"port: "+strconv.Itoa(int(p.Number)),
			pad+"protocol: "+p.Protocol,
			pad+"targets: "+flowList(p.Targets))
	}
	return lines
}

func flowPort(p Port) string {
	return fmt.Sprintf("{name: %s, port: %d, protocol: %s, targets: %s}", scalar(p.Name), p.Number, p.Protocol, flowList(p.Targets))
}

func flowResource(name string, ports []Port) string {
	var items []string
	for _, p := range ports {
		items = append(items, flowPort(p))
	}
	return fmt.Sprintf("{name: %s, ports: [%s]}", scalar(name), strings.Join(items, ", "))
}

// label is a name that YAML reads back as the same string unquoted.
var label = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// scalar quotes a name that YAML would read as something else: a port
// named by its number must stay a string.
func scalar(s string) string {
	if label.MatchString(s) && s != "true" && s != "false" && s != "null" && s != "yes" && s != "no" && s != "on" && s != "off" {
		return s
	}
	return strconv.Quote(s)
}

// plainTarget is a host:port that needs no quotes inside [...].
var plainTarget = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*:[0-9]+$`)

func flowList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		if plainTarget.MatchString(s) {
			quoted[i] = s
		} else {
			quoted[i] = strconv.Quote(s)
		}
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func indent(lines []string, n int) []string {
	pad := strings.Repeat(" ", n)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = pad + l
	}
	return out
}

// text is the file as lines that keep their own line endings.
type text struct {
	data []byte
	eol  string
}

func newText(data []byte) *text {
	eol := "\n"
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		eol = "\r\n"
	}
	return &text{data: bytes.Clone(data), eol: eol}
}

func (t *text) bytes() []byte { return t.data }

// lineStart is the offset of the start of line n (1-based); one past the
// last line is the end of the data.
func (t *text) lineStart(n int) int {
	off := 0
	for line := 1; line < n; line++ {
		i := bytes.IndexByte(t.data[off:], '\n')
		if i < 0 {
			return len(t.data)
		}
		off += i + 1
	}
	return off
}

func (t *text) offset(line, column int) (int, error) {
	off := t.lineStart(line) + column - 1
	if off >= len(t.data) {
		return 0, fmt.Errorf("configedit: line %d column %d is past the end", line, column)
	}
	return off, nil
}

// lines splits the data into lines without their endings.
func (t *text) lines() []string {
	s := strings.ReplaceAll(string(t.data), "\r\n", "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// endOfBlock is the line (1-based) after the block that starts on line
// first and whose lines are indented more than parent columns: the last
// such line that is not blank, so that blank lines and the comments of what
// follows stay below what is inserted.
func (t *text) endOfBlock(first, parent int) int {
	lines := t.lines()
	end := first
	for i := first; i < len(lines); i++ { // lines[i] is line i+1
		l := lines[i]
		trimmed := strings.TrimLeft(l, " ")
		if trimmed == "" {
			continue
		}
		if len(l)-len(trimmed) <= parent {
			break
		}
		end = i + 1
	}
	return end + 1
}

// insert puts lines before line n (1-based), ending the file's last line
// first if it has no line ending.
func (t *text) insert(n int, lines []string) {
	off := t.lineStart(n)
	var b strings.Builder
	if off == len(t.data) && len(t.data) > 0 && t.data[len(t.data)-1] != '\n' {
		b.WriteString(t.eol)
	}
	for _, l := range lines {
		b.WriteString(l + t.eol)
	}
	t.splice(off, b.String())
}

func (t *text) splice(off int, s string) {
	t.data = append(t.data[:off:off], append([]byte(s), t.data[off:]...)...)
}

// PortsBlock is ports as a gateway.yaml ports: key with its list, to paste
// under a service or addon; in the same layout AddPorts writes.
func PortsBlock(ports []Port) string {
	lines := append([]string{"ports:"}, indent(portLines(ports, 2, false), 2)...)
	return strings.Join(lines, "\n") + "\n"
}
