package config

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
)

// parseYAML parses data as one YAML document and returns its root node, nil
// if the document is empty.
func parseYAML(name string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 reports errors by panicking internally and recovers them
		// itself; this is a last line of defence against one it misses.
		if r := recover(); r != nil {
			root, err = nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(name, data, err)
	default:
		return nil, &Error{File: name, Line: max(extra.Line, 1),
			Msg: "a second YAML document starts here: put the whole config in one document, without ---"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^line ([0-9]+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser (not its scanner),
// whose line numbers it reports 0-based.
var parserProblems = []string{
	"did not find expected",
	"found duplicate %",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// scannerProblems are scanner messages that start like parser ones.
var scannerProblems = []string{
	"did not find expected alphabetic or numeric character",
	"did not find expected whitespace or line break",
	"did not find expected comment or line break",
	"did not find expected tag URI",
	"did not find expected hexdecimal number",
}

// syntaxError turns a yaml.v3 parse error into an *Error with a 1-based line
// and a hint.
func syntaxError(name string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.Join(strings.Fields(msg), " ") // one line
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if isParserProblem(msg) {
			line++
		}
	}
	if line == 0 {
		line = locate(data, msg)
	}
	if strings.Contains(msg, "tab character") {
		// yaml.v3 names the line where the enclosing block starts.
		line = firstTab(data, line)
	}
	lines := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		lines++
	}
	line = max(min(line, lines), 1)
	return &Error{File: name, Line: line, Msg: "invalid YAML: " + msg + ": " + syntaxHint(msg, lineText(data, line)), Err: err}
}

func isParserProblem(msg string) bool {
	for _, p := range scannerProblems {
		if strings.HasPrefix(msg, p) {
			return false
		}
	}
	for _, p := range parserProblems {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// locate finds the line of an error that yaml.v3 reports without one.
func locate(data []byte, msg string) int {
	switch {
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "UTF-16"),
		strings.Contains(msg, "control characters"), strings.Contains(msg, "Unicode"):
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
				return 1 + bytes.Count(data[:i], []byte("\n"))
			}
			i += size
		}
	case strings.HasPrefix(msg, "unknown anchor '"):
		anchor := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		if i := bytes.Index(data, []byte("*"+anchor)); i >= 0 {
			return 1 + bytes.Count(data[:i], []byte("\n"))
		}
	}
	return 1
}

// firstTab returns the first line from line on that is indented with a tab,
// or line.
func firstTab(data []byte, line int) int {
	for i, l := range bytes.Split(data, []byte("\n")) {
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if i+1 >= line && bytes.IndexByte(indent, '\t') >= 0 {
			return i + 1
		}
	}
	return line
}

func lineText(data []byte, line int) string {
	for i := 1; i < line; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

func syntaxHint(msg, line string) string {
	switch {
	case strings.Contains(msg, "tab") || strings.Contains(line, "\t") && strings.Contains(msg, "cannot start any token"):
		return "indent with spaces, not tabs"
	case strings.Contains(msg, "alphabetic or numeric") && strings.Contains(line, "*"):
		return `quote "*": a bare * starts a YAML alias`
	case strings.Contains(msg, "mapping values are not allowed"):
		return `check the indentation, or quote a value that contains ": "`
	case strings.Contains(msg, "expected ',' or ']'"):
		return "close the list with ] and separate items with commas"
	case strings.Contains(msg, "expected ',' or '}'"):
		return "close the mapping with } and separate keys with commas"
	case strings.Contains(msg, "end of stream"):
		return "close the quote or bracket that starts here"
	case strings.Contains(msg, "control characters"):
		return "remove the control character"
	case strings.Contains(msg, "UTF"), strings.Contains(msg, "Unicode"):
		return "save the file as UTF-8"
	case strings.Contains(msg, "unknown anchor"):
		return "define the anchor with &name before using *name"
	}
	return "check the indentation, quotes and brackets on this line and the one before"
}
