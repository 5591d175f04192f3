package yamlnode

import (
	"strings"
	"testing"
	"unicode/utf16"
)

func TestOddLineBreak(t *testing.T) {
	utf16le := []byte{0xFF, 0xFE}
	for _, c := range utf16.Encode([]rune("a: 1\r\nb: 2\r")) {
		utf16le = append(utf16le, byte(c), byte(c>>8))
	}
	for _, tc := range []struct {
		name, data string
		off        int
		what       string
	}{
		{"LF", "a: 1\nb: 2\n", -1, ""},
		{"CR LF", "a: 1\r\nb: 2\r\n", -1, ""},
		{"lone CR", "a: 1\r\nb: 2\rc: 3\n", 10, "carriage return"},
		{"CR at the end", "a: 1\r", 4, "carriage return"},
		{"NEL", "a: é\u0085b: 2", 5, "U+0085"},
		{"LS", "a: 1\u2028", 4, "U+2028"},
		{"PS", "# \u2029", 2, "U+2029"},
		{"not UTF-8 first", "a: \xff\rb", -1, ""},
		{"control character first", "a: \x01\r", -1, ""},
		{"UTF-16 read as UTF-8", string(UTF8(utf16le)), 13, "carriage return"},
	} {
		off, what := OddLineBreak([]byte(tc.data))
		if off != tc.off || !strings.Contains(what, tc.what) || (tc.what == "") != (what == "") {
			t.Errorf("%s: OddLineBreak = %d, %q; want %d and %q", tc.name, off, what, tc.off, tc.what)
		}
	}
}

func TestLineCol(t *testing.T) {
	data := []byte("\uFEFFab\nçd\n")
	for _, tc := range []struct{ off, line, col int }{
		{0, 1, 1}, {3, 1, 1}, {4, 1, 2}, {6, 2, 1}, {8, 2, 2}, {100, 3, 1}, {-1, 1, 1},
	} {
		if line, col := LineCol(data, tc.off); line != tc.line || col != tc.col {
			t.Errorf("LineCol(%d) = %d:%d, want %d:%d", tc.off, line, col, tc.line, tc.col)
		}
	}
}

func TestUTF8(t *testing.T) {
	text := "a: \u00e9\U0001F600\r\nb: 2\n"
	le, be := []byte{0xFF, 0xFE}, []byte{0xFE, 0xFF}
	for _, c := range utf16.Encode([]rune(text)) {
		le = append(le, byte(c), byte(c>>8))
		be = append(be, byte(c>>8), byte(c))
	}
	for _, tc := range []struct{ name, in, want string }{
		{"UTF-16 LE", string(le), "\uFEFF" + text},
		{"UTF-16 BE", string(be), "\uFEFF" + text},
		{"UTF-8", text, text},
		{"UTF-8 with a mark", "\uFEFF" + text, "\uFEFF" + text},
		{"odd length", string(le[:len(le)-1]), string(le[:len(le)-1])},
		{"empty", "", ""},
	} {
		if got := string(UTF8([]byte(tc.in))); got != tc.want {
			t.Errorf("%s: UTF8 = %q, want %q", tc.name, got, tc.want)
		}
	}
}
