package contexts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/internal/yamlnode"
)

// FileError is a config.yaml or credentials.yaml that cannot be read as
// written. It prints on one line starting with file:line[:column]: so that
// editors can jump to it, and says what to do; it is not prefixed
// "contexts: " for that reason. The CLI maps it to a usage error (exit 2).
type FileError struct {
	File   string // the file's path
	Line   int    // 1-based
	Column int    // 1-based; 0 if unknown
	Msg    string // what is wrong and what to do
	Err    error  // the YAML parser's error, if it found the problem
}

func (e *FileError) Error() string {
	pos := e.File + ":" + strconv.Itoa(e.Line)
	if e.Column > 0 {
		pos += ":" + strconv.Itoa(e.Column)
	}
	return pos + ": " + e.Msg
}

// Unwrap returns the parser's error, if any.
func (e *FileError) Unwrap() error { return e.Err }

// parseYAML parses data as one YAML document and returns its root, nil for
// an empty document.
func (d nodes) parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 turns its internal panics into errors itself; this only
		// keeps a bug of its from ending the command.
		if r := recover(); r != nil {
			root, err = nil, d.errorf(nil, "invalid YAML (%v): fix it", r)
		}
	}()
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
		return nil, d.errorf(&extra, "a second YAML document starts here: remove it and its ---")
	} else if !errors.Is(err, io.EOF) {
		return nil, d.syntaxError(data, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^line ([0-9]+): (.*)$`)

// syntaxError turns yaml.v3's error into a FileError at the problem's
// line.
func (d nodes) syntaxError(data []byte, err error) *FileError {
	msg := strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " ")
	line, col := 0, 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	switch {
	case line == 0:
		line, col = locate(data, msg)
	case strings.Contains(msg, "end of stream"):
		// An unclosed quote: yaml.v3 names the end of the file, the
		// search the line where the quoted text starts.
		line = firstBadLine(data, 1)
	default:
		line = firstBadLine(data, line)
	}
	e := d.errorf(nil, "invalid YAML: %s: fix that line", msg)
	e.Line, e.Column, e.Err = line, col, err
	return e
}

// firstBadLine returns the first line, from line from on, at which the
// file stops being YAML: the smallest n >= from whose first n lines do not
// parse. yaml.v3's parser names the line where the block around a problem
// starts (and counts it from 0), not the problem's, which this finds. A
// file's first lines parse wherever it is cut between lines, but for
// quoted text and flow lists spanning lines, which fwd never writes.
func firstBadLine(data []byte, from int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // what follows the last newline
	}
	for n := max(from, 1); n < len(lines); n++ {
		var doc yaml.Node
		if err := yaml.Unmarshal(bytes.Join(lines[:n], nil), &doc); err != nil {
			return n
		}
	}
	return max(len(lines), 1)
}

// locate finds the place of the problems yaml.v3 reports without a line:
// bad characters and unknown anchors. It returns line 1 if it cannot tell.
func locate(data []byte, msg string) (line, col int) {
	off := -1
	switch {
	case strings.HasPrefix(msg, "unknown anchor '"):
		anchor := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		off = bytes.Index(data, []byte("*"+anchor))
	case strings.Contains(msg, "control characters") || strings.Contains(msg, "UTF-8"):
		off = badCharacter(data)
	}
	if off < 0 {
		return 1, 0
	}
	return yamlnode.LineCol(data, off)
}

// badCharacter returns the offset of the first byte YAML refuses: one that
// is not UTF-8, or a control character other than tab and line breaks.
func badCharacter(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return i
		}
		i += size
	}
	return -1
}

// nodes parses and walks a file, making FileErrors that name its lines.
type nodes struct {
	file string
	// orElse ends every message, after its fix: the way out that always
	// works, like "or remove the file to start again".
	orElse string
}

// errorf makes the error at n (line 1 if n is nil) of a message that says
// what is wrong, then ": " and how to fix it.
func (d nodes) errorf(n *yaml.Node, format string, args ...any) *FileError {
	e := &FileError{File: d.file, Line: 1, Msg: fmt.Sprintf(format, args...) + ", " + d.orElse}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// mapping calls each key's function in turn for the mapping at, which is
// what (e.g. "a context"). An empty value is an empty mapping. Unknown and
// repeated keys are errors; keys lists the known ones.
func (d nodes) mapping(at *yaml.Node, what string, keys []string, each func(k, v *yaml.Node) error) error {
	n := yamlnode.Resolve(at)
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.errorf(at, "%s must be a mapping of %s, not %s: write it as key: value lines", what, strings.Join(keys, ", "), yamlnode.Describe(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k, "a key must be a word, not %s: write key: value", yamlnode.Describe(k))
		}
		if line, dup := seen[k.Value]; dup {
			return d.errorf(k, "key %q again (first at line %d): keep one", k.Value, line)
		}
		seen[k.Value] = k.Line
		if err := each(k, v); err != nil {
			return err
		}
	}
	return nil
}

// scalar returns the text of v, "" if it is empty, and an error if it is a
// mapping or a list: every value of both files is one word.
func (d nodes) scalar(key string, at *yaml.Node) (string, error) {
	v := yamlnode.Resolve(at)
	switch {
	case yamlnode.IsNull(v):
		return "", nil
	case v.Kind != yaml.ScalarNode:
		return "", d.errorf(at, "%s must be a single value, not %s: write %s: VALUE", key, yamlnode.Describe(v), key)
	}
	return v.Value, nil
}

func (d nodes) unknownKey(k *yaml.Node, keys []string) error {
	return d.errorf(k, "unknown key %q (the keys here are %s): check the spelling", k.Value, strings.Join(keys, ", "))
}
