package config

import (
	"bytes"
)

// yaml.v3 reports a syntax error with a line only, and for one that starts on
// the first line, with the line where it gave up instead. To give a column,
// scanYAML reads the document again, far more loosely than yaml.v3 does,
// following just enough (quotes, brackets, block indentation) to tell where a
// quote or bracket that is never closed opens, and where the nesting first
// goes deeper than yaml.v3 allows. Its answers are checked against what
// yaml.v3 said before they are used (see place).

// maxDepth is yaml.v3's limit on nested flow collections and, separately, on
// nested block collections (max_flow_level and max_indents in its scanner).
const maxDepth = 10000

// scanResult is what scanYAML found, as byte offsets into the document.
type scanResult struct {
	quote   int   // the opening quote of a string still open at the end, or -1
	open    []int // the brackets still open at the end, outermost first
	tooDeep int   // where the nesting first passes maxDepth, or -1
}

// yamlScanner mirrors the state of yaml.v3's scanner that decides the above.
type yamlScanner struct {
	data []byte
	i    int // offset of the next byte
	col  int // column of i, 0-based and in characters, as yaml.v3 counts

	flow    []int // offsets of the open [ and {
	indent  int   // column of the innermost block collection; -1 outside any
	indents []int // the indent of each enclosing block collection

	// keyAt is where a token that may turn out to be a mapping key starts on
	// this line, -1 if none: yaml.v3 opens a block mapping at its column when
	// a ':' follows. keyOK says whether a key may start here.
	keyAt, keyCol int
	keyOK         bool
	lineStart     bool // no token yet on this line

	res scanResult
}

func scanYAML(data []byte) scanResult {
	s := &yamlScanner{data: data, indent: -1, keyAt: -1, keyOK: true, lineStart: true,
		res: scanResult{quote: -1, tooDeep: -1}}
	for s.i < len(s.data) && s.res.quote < 0 && s.res.tooDeep < 0 {
		s.step()
	}
	s.res.open = s.flow
	return s.res
}

// step reads a line break, a blank or a token.
func (s *yamlScanner) step() {
	c := s.data[s.i]
	switch {
	case c == '\n':
		s.newline()
		return
	case c == ' ' || c == '\t' || c == '\r':
		s.advance(1)
		return
	}
	if s.lineStart {
		s.lineStart = false
		if s.marker() {
			return
		}
		// yaml.v3 closes the block collections a line is not indented into.
		s.unroll(s.col)
	}
	s.token(c)
}

// advance moves on n bytes, keeping col.
func (s *yamlScanner) advance(n int) {
	for end := min(s.i+n, len(s.data)); s.i < end; s.i++ {
		switch b := s.data[s.i]; {
		case b == '\n':
			s.col = 0
		case b&0xC0 != 0x80: // not the continuation of a character
			s.col++
		}
	}
}

func (s *yamlScanner) newline() {
	s.advance(1)
	s.lineStart = true
	s.keyAt = -1 // a key ends on the line it starts on
	if len(s.flow) == 0 {
		s.keyOK = true
	}
}

func (s *yamlScanner) skipLine() {
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		s.advance(1)
	}
}

// marker reads a directive (%) or document marker (--- or ...) at the start
// of a line, reporting whether there was one.
func (s *yamlScanner) marker() bool {
	if s.col != 0 || len(s.flow) > 0 {
		return false
	}
	rest := s.data[s.i:]
	switch {
	case rest[0] == '%':
		s.skipLine()
		return true
	case (bytes.HasPrefix(rest, []byte("---")) || bytes.HasPrefix(rest, []byte("..."))) && s.blankAt(s.i+3):
		s.unroll(-1)
		s.advance(3)
		s.keyOK = true
		return true
	}
	return false
}

func (s *yamlScanner) token(c byte) {
	switch {
	case c == '#':
		s.skipLine()
	case c == '\'' || c == '"':
		s.key()
		s.quoted(c)
	case c == '[' || c == '{':
		s.key()
		s.openFlow()
	case c == ']' || c == '}':
		s.closeFlow()
	case c == ',':
		s.keyOK = true
		s.advance(1)
	case (c == '-' || c == '?' || c == ':') && s.blankAt(s.i+1),
		c == ':' && len(s.flow) > 0 && s.flowIndicatorAt(s.i+1):
		s.indicator(c)
	case (c == '|' || c == '>') && len(s.flow) == 0:
		s.blockScalar()
	case c == '&' || c == '*' || c == '!': // anchor, alias, tag
		s.key()
		s.word()
	default:
		s.key()
		s.plain()
	}
}

// key notes that a possible mapping key starts here.
func (s *yamlScanner) key() {
	if s.keyOK && len(s.flow) == 0 {
		s.keyAt, s.keyCol = s.i, s.col
	}
	s.keyOK = false
}

// indicator reads "- ", "? " or ": ", which in block context open a
// sequence or mapping at the column of the entry or key if it is deeper.
func (s *yamlScanner) indicator(c byte) {
	at, col := s.i, s.col
	if c == ':' && s.keyAt >= 0 {
		at, col = s.keyAt, s.keyCol
	}
	s.roll(col, at)
	s.keyAt = -1
	s.keyOK = true
	s.advance(1)
}

func (s *yamlScanner) roll(col, at int) {
	if len(s.flow) > 0 || s.indent >= col {
		return
	}
	s.indents = append(s.indents, s.indent)
	s.indent = col
	if len(s.indents) > maxDepth {
		s.res.tooDeep = at
	}
}

func (s *yamlScanner) unroll(col int) {
	for len(s.flow) == 0 && s.indent > col && len(s.indents) > 0 {
		s.indent = s.indents[len(s.indents)-1]
		s.indents = s.indents[:len(s.indents)-1]
	}
}

func (s *yamlScanner) openFlow() {
	s.flow = append(s.flow, s.i)
	if len(s.flow) > maxDepth {
		s.res.tooDeep = s.i
	}
	s.keyOK = true
	s.advance(1)
}

func (s *yamlScanner) closeFlow() {
	if len(s.flow) > 0 {
		s.flow = s.flow[:len(s.flow)-1]
	}
	s.keyOK = false
	s.advance(1)
}

// quoted skips a quoted string, which may span lines, or notes that it is
// never closed.
func (s *yamlScanner) quoted(q byte) {
	start := s.i
	s.advance(1)
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case q == '\'' && c == '\'' && s.i+1 < len(s.data) && s.data[s.i+1] == '\'', // '' is a quote
			q == '"' && c == '\\': // \ escapes the next character
			s.advance(2)
		case c == q:
			s.advance(1)
			return
		default:
			s.advance(1)
		}
	}
	s.res.quote = start
}

// word skips an anchor, alias or tag.
func (s *yamlScanner) word() {
	for s.i < len(s.data) && !s.blankAt(s.i) && !(len(s.flow) > 0 && s.flowIndicatorAt(s.i)) {
		s.advance(1)
	}
}

// plain skips an unquoted value: to the end of the line, a comment, ": ", or
// in a flow collection to one of ,[]{}.
func (s *yamlScanner) plain() {
	inFlow := len(s.flow) > 0
	s.advance(1) // the first character belongs to it whatever it is, as in -1
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '\n' || c == '\r',
			c == ':' && (s.blankAt(s.i+1) || inFlow && s.flowIndicatorAt(s.i+1)),
			(c == ' ' || c == '\t') && s.i+1 < len(s.data) && s.data[s.i+1] == '#',
			inFlow && s.flowIndicatorAt(s.i):
			return
		}
		s.advance(1)
	}
}

// blockScalar skips a literal (|) or folded (>) string: the rest of its
// line, then the lines that are blank or indented as deep as its first one,
// which must be deeper than the collection it is in. Its text can hold
// anything, quotes and brackets included.
func (s *yamlScanner) blockScalar() {
	s.keyAt, s.keyOK = -1, false
	s.skipLine()
	minIndent := max(s.indent+1, 1)
	indent := 0 // of the text, once its first line is seen
	for s.i < len(s.data) {
		n, blank := lineIndent(s.data[s.i+1:]) // s.data[s.i] is '\n'
		if !blank {
			if indent == 0 {
				if n < minIndent {
					return
				}
				indent = n
			}
			if n < indent {
				return
			}
		}
		s.advance(1)
		s.skipLine()
	}
}

// lineIndent counts the spaces that start line, and says whether nothing
// else is on it.
func lineIndent(line []byte) (n int, blank bool) {
	for n < len(line) && line[n] == ' ' {
		n++
	}
	rest := line[n:]
	return n, len(rest) == 0 || rest[0] == '\n' || rest[0] == '\r'
}

func (s *yamlScanner) blankAt(j int) bool {
	return j >= len(s.data) || bytes.IndexByte([]byte(" \t\r\n"), s.data[j]) >= 0
}

func (s *yamlScanner) flowIndicatorAt(j int) bool {
	return j < len(s.data) && bytes.IndexByte([]byte(",[]{}"), s.data[j]) >= 0
}
