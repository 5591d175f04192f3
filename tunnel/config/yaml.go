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

	"github.com/fwd-dev/fwd/internal/yamlnode"
)

// parseYAML parses data (UTF-8, or UTF-16 with a byte order mark) as one
// YAML document and returns its root node, nil if the document is empty.
func parseYAML(name string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 reports errors by panicking internally and recovers them
		// itself; this is a last line of defence against one it misses.
		if r := recover(); r != nil {
			root, err = nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	data = yamlnode.UTF8(data)
	if err := lineBreakError(name, data); err != nil {
		return nil, err
	}
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

// lineBreakError refuses a line break other than LF and CR LF, after which
// yaml.v3 would count lines differently from the user's editor and from
// this package (see yamlnode.OddLineBreak).
func lineBreakError(name string, data []byte) *Error {
	off, msg := yamlnode.OddLineBreak(data)
	if off < 0 {
		return nil
	}
	line, col := yamlnode.LineCol(data, off)
	return &Error{File: name, Line: line, Column: col, Msg: msg}
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

// syntaxError turns a yaml.v3 parse error into an *Error with a 1-based line,
// a column where it can be told, and a hint.
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
	line, col := place(data, msg, line)
	text := lineText(data, line)
	return &Error{File: name, Line: line, Column: col,
		Msg: "invalid YAML: " + msg + ": " + syntaxHint(msg, text, charAt(text, col)), Err: err}
}

// place finds the line and column of the problem msg that yaml.v3 reported
// at line (0 if it gave none). The column is 0 where it cannot be told.
func place(data []byte, msg string, line int) (int, int) {
	if off := offset(data, msg, line); off >= 0 {
		return yamlnode.LineCol(data, off)
	}
	if strings.Contains(msg, "tab character") {
		// yaml.v3 names the line where the enclosing block starts.
		line = firstTab(data, line)
	}
	line = max(min(line, lineCount(data)), 1)
	if strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token") {
		return line, tabColumn(lineText(data, line))
	}
	return line, 0
}

// offset finds the byte where the problem msg, reported at line, is, for the
// problems whose place can be told from the document; otherwise it returns
// -1.
func offset(data []byte, msg string, line int) int {
	switch {
	case isEncodingProblem(msg):
		return badCharacter(data)
	case strings.HasPrefix(msg, "unknown anchor '"):
		anchor := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		return bytes.Index(data, []byte("*"+anchor))
	case strings.Contains(msg, "exceeded max depth"):
		// For nested blocks yaml.v3 names the line of some key before the
		// level that is one too many, so there is nothing to agree with.
		return scanYAML(data).tooDeep
	case strings.Contains(msg, "end of stream"):
		return agreed(data, scanYAML(data).quote, line)
	case strings.HasPrefix(msg, "did not find expected ',' or ']'"):
		return agreed(data, unclosed(data, '['), line)
	case strings.HasPrefix(msg, "did not find expected ',' or '}'"):
		return agreed(data, unclosed(data, '{'), line)
	case strings.HasPrefix(msg, "did not find expected node content"):
		// yaml.v3 names the end of the file, where it looked for a value,
		// so there is nothing to agree with either.
		return unclosed(data, 0)
	}
	return -1
}

// agreed returns off, found by scanYAML, if it is on the line yaml.v3 named
// or on the first line (for which yaml.v3 names the line where it gave up
// instead), and -1 if not, as then scanYAML misread the document.
func agreed(data []byte, off, line int) int {
	if off < 0 {
		return -1
	}
	if l, _ := yamlnode.LineCol(data, off); line == 0 || l == line || l == 1 {
		return off
	}
	return -1
}

// unclosed returns the offset of the innermost bracket still open at the end
// of data if it is the bracket open (any bracket if open is 0), or -1.
func unclosed(data []byte, open byte) int {
	brackets := scanYAML(data).open
	if len(brackets) == 0 {
		return -1
	}
	off := brackets[len(brackets)-1]
	if open != 0 && data[off] != open {
		return -1
	}
	return off
}

func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

// tabColumn returns the column of the first tab in line, or 0.
func tabColumn(line string) int {
	i := strings.IndexByte(line, '\t')
	if i < 0 {
		return 0
	}
	return 1 + utf8.RuneCountInString(line[:i])
}

// charAt returns the character at the 1-based column col of line, or 0.
func charAt(line string, col int) rune {
	for _, r := range line {
		if col--; col == 0 {
			return r
		}
	}
	return 0
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

func isEncodingProblem(msg string) bool {
	for _, p := range []string{"UTF-8", "UTF-16", "control characters", "Unicode", "surrogate"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// badCharacter returns the offset of the first character that yaml.v3
// refuses, by its rules: one that is not UTF-8, or a control character other
// than tab, line feed, carriage return and next line (U+0085). It returns -1
// if there is none.
func badCharacter(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || !allowedCharacter(r) {
			return i
		}
		i += size
	}
	return -1
}

// allowedCharacter is the printable set of YAML 1.1, which yaml.v3 checks.
func allowedCharacter(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85:
	case 0x20 <= r && r <= 0x7E, 0xA0 <= r && r <= 0xD7FF, 0xE000 <= r && r <= 0xFFFD, 0x10000 <= r && r <= 0x10FFFF:
	default:
		return false
	}
	return true
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

// lineText returns the 1-based line of data, without a byte order mark, as
// yamlnode.LineCol counts columns.
func lineText(data []byte, line int) string {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
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

// syntaxHint says how to fix msg, reported on line at the character at.
func syntaxHint(msg, line string, at rune) string {
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
	case strings.Contains(msg, "exceeded max depth"):
		return "nest less deeply (a gateway config needs about 8 levels): look for a [, { or - repeated by mistake"
	case at == '[':
		return "close the list that opens here with ]"
	case at == '{':
		return "close the mapping that opens here with }"
	}
	return "check the indentation, quotes and brackets on this line and the one before"
}
