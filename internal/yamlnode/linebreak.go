package yamlnode

import (
	"bytes"
	"unicode/utf8"
)

// OddLineBreak returns the offset of the first line break in data that is
// neither LF nor CR LF, and what it is (for "a line ends with ..."), or -1.
//
// yaml.v3 also ends a line at a lone CR, NEL (U+0085), LS (U+2028) and PS
// (U+2029), where most editors do not, so every line it names after one is
// off from the line the user sees; fwd's readers refuse such files rather
// than point at the wrong line. The search stops, with -1, at the first
// byte that is not UTF-8 or is a control character other than tab, LF and
// CR: that file is not text, and yaml.v3's encoding error says so. A UTF-16
// file (with its byte order mark) is yaml.v3's to decode and gets -1.
func OddLineBreak(data []byte) (int, string) {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return -1, ""
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == '\r' && (i+1 == len(data) || data[i+1] != '\n'):
			return i, "a carriage return without a line feed (an old Mac line ending)"
		case r == 0x85:
			return i, "a next-line character (U+0085)"
		case r == 0x2028:
			return i, "a line separator (U+2028)"
		case r == 0x2029:
			return i, "a paragraph separator (U+2029)"
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t' && r != '\n' && r != '\r', 0x7F <= r && r <= 0x9F:
			return -1, ""
		}
		i += size
	}
	return -1, ""
}

// LineCol returns the 1-based line and column (in characters) of the byte
// at off in data, counting lines at LF, and not counting a byte order mark
// at the start as a column.
func LineCol(data []byte, off int) (line, col int) {
	off = max(min(off, len(data)), 0)
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	col = 1 + utf8.RuneCount(data[start:off])
	if start == 0 && bytes.HasPrefix(data[:off], []byte("\uFEFF")) {
		col--
	}
	return 1 + bytes.Count(data[:off], []byte("\n")), col
}
