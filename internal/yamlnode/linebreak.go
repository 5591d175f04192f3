package yamlnode

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// OddLineBreak returns the offset of the first line break in data that is
// neither LF nor CR LF, with an error's text saying what it is and how to
// fix it, or -1.
//
// yaml.v3 also ends a line at a lone CR, NEL (U+0085), LS (U+2028) and PS
// (U+2029), where most editors do not, so every line it names after one is
// off from the line the user sees; fwd's readers refuse such files rather
// than point at the wrong line. The search stops, with -1, at the first
// byte that is not UTF-8 or is a control character other than tab, LF and
// CR: that file is not text, and yaml.v3's encoding error says so. Give it
// UTF-8 (see UTF8).
func OddLineBreak(data []byte) (int, string) {
	if off, what := firstOddLineBreak(data); off >= 0 {
		return off, "a line ends with " + what + ": save the file with LF (or CR LF) line endings"
	}
	return -1, ""
}

// firstOddLineBreak is OddLineBreak naming only the break.
func firstOddLineBreak(data []byte) (int, string) {
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

// UTF8 returns data as UTF-8 text: a UTF-16 file with its byte order mark
// (as some Windows editors save), decoded, keeping the mark as U+FEFF, and
// any other data as it is. yaml.v3 would decode UTF-16 itself, but fwd's
// readers find the place of a problem, and quote its line, in the bytes
// they hold, which must then be the text yaml.v3 read. A UTF-16 file of an
// odd length is left as it is, for yaml.v3 to refuse.
func UTF8(data []byte) []byte {
	var order binary.ByteOrder
	switch {
	case len(data)%2 != 0:
		return data
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		order = binary.LittleEndian
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		order = binary.BigEndian
	default:
		return data
	}
	units := make([]uint16, len(data)/2)
	for i := range units {
		units[i] = order.Uint16(data[2*i:])
	}
	out := make([]byte, 0, len(data))
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return out
}
