package config

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestSyntaxErrorColumns checks the line and column of YAML syntax errors,
// which yaml.v3 reports with a line only (and for the first line, with the
// wrong one). Columns count characters from 1.
func TestSyntaxErrorColumns(t *testing.T) {
	for _, tc := range []struct {
		name      string
		yaml      string
		line, col int
		phrase    string
	}{
		{"tab indentation", tokens + "projects:\n\t- name: shop\n", 6, 1, "indent with spaces, not tabs"},
		{"tab after spaces", tokens + "projects:\n  - name: shop\n  \t  services: []\n", 7, 3, "indent with spaces, not tabs"},
		{"tab reported on the line before", tokens + "projects:\n  - name: shop\n\t  services: []\n", 7, 1, "tabs"},
		{"unclosed double quote", tokens + "listen: \"127.0.0.1:7443\nprojects: []\n", 5, 9, "close the quote"},
		{"unclosed single quote", tokens + shop + "          - {port: 8080, targets: ['10.0.0.5:8080]}\n", 10, 36, "close the quote"},
		{"unclosed single quote with a quote inside", tokens + "listen: 'it''s\nprojects: []\n", 5, 9, "close the quote"},
		{"unclosed quote after a closed one", tokens + "listen: 'a' # it's\nprojects: ['b\n", 6, 12, "close the quote"},
		{"unclosed quote after a block scalar", tokens + "listen: |\n  it's [\n  \"x\nprojects: ['a\n", 8, 12, "close the quote"},
		{"unclosed quote on the first line", "listen: 'x\ntokens: []\nprojects: []\n", 1, 9, "close the quote"},
		{"unclosed bracket", tokens + "projects: [{name: shop}\nlisten: :1\n", 5, 11, "close the list with ]"},
		{"unclosed inner bracket", tokens + "projects: [[a], [b\n", 5, 17, "close the list with ]"},
		{"unclosed brace", tokens + "tls: {cert: a.crt\n", 5, 6, "close the mapping with }"},
		{"unclosed brace on the first line", "tls: {cert: a.crt\nlisten: :1\n", 1, 6, "close the mapping with }"},
		{"bracket open at the end", tokens + "listen: [\n", 5, 9, "close the list that opens here with ]"},
		{"brace open at the end", tokens + "listen: {\n", 5, 9, "close the mapping that opens here with }"},
		{"deep nesting of lists", tokens + "projects: " + strings.Repeat("[", maxDepth+1) + "\n", 5, 11 + maxDepth, "nest less deeply"},
		{"deep nesting of mappings", tokens + "projects: " + strings.Repeat("{", maxDepth+1) + "\n", 5, 11 + maxDepth, "nest less deeply"},
		// "projects:" is the first block level and the first "-" is at
		// its column, so each further dash is a level.
		{"deep nesting of blocks", tokens + "projects:\n" + strings.Repeat("- ", maxDepth+1) + "\n", 6, 1 + 2*maxDepth, "nest less deeply"},
		{"NUL byte", tokens + "listen: 127.0.0.1:7443\x00\n", 5, 23, "remove the control character"},
		{"old Mac line endings", tokens + "projects:\r  - name: a\r    0: x\r", 5, 10, "save the file with LF (or CR LF) line endings"},
		{"a lone carriage return among CR LF", tokens + "listen: :1\r\nprojects: []\r", 6, 13, "a carriage return without a line feed"},
		{"carriage return at the end", tokens + "projects: []\r", 5, 13, "carriage return"},
		{"next-line character", tokens + "listen: :1\u0085projects: []\n", 5, 11, "U+0085"},
		{"line separator", "\uFEFFlisten: :1\u2028\n", 1, 11, "U+2028"},
		{"paragraph separator in a comment", tokens + "# a\u2029b\nprojects: []\n", 5, 4, "U+2029"},
		{"carriage return after a control character", tokens + "listen: \x01\r", 5, 9, "remove the control character"},
		{"binary file", "\x89PNG\r\n\x1a\n\x00\x00", 1, 1, "save the file as UTF-8"},
		{"control character", tokens + "listen: \"a\x01b\"\n", 5, 11, "remove the control character"},
		{"control character after a multi-byte one", tokens + "listen: \"é\x01\"\n", 5, 11, "remove the control character"},
		{"DEL", tokens + "listen: a\x7f\n", 5, 10, "remove the control character"},
		{"C1 control character", tokens + "listen: \u0080\n", 5, 9, "remove the control character"},
		{"control character after a byte order mark", "\uFEFFlisten: \x01\n", 1, 9, "remove the control character"},
		{"tab after a byte order mark", "\uFEFF\tlisten: :1\n", 1, 1, "indent with spaces, not tabs"},
		{"invalid UTF-8", tokens + "listen: é\xff\n", 5, 10, "save the file as UTF-8"},
		{"truncated UTF-8", tokens + "listen: \xe2\x82\n", 5, 9, "save the file as UTF-8"},
		{"Latin-1", tokens + "listen: caf\xe9\n", 5, 12, "save the file as UTF-8"},
		{"unknown anchor", tokens + "listen: *nowhere\n", 5, 9, "define the anchor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.yaml))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse: %v, want an *Error", err)
			}
			prefix := "bad.yaml:" + strconv.Itoa(tc.line) + ":" + strconv.Itoa(tc.col) + ": "
			msg := err.Error()
			if e.Line != tc.line || e.Column != tc.col || !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.phrase) {
				t.Errorf("error at %d:%d:\n  %.300s\nwant prefix %q and phrase %q", e.Line, e.Column, msg, prefix, tc.phrase)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %.300q", msg)
			}
		})
	}
}

// TestDeepNestingLimit checks that the depth error points where yaml.v3's
// limit is passed: one level less is not a depth error at all.
func TestDeepNestingLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		open, shut string
		line       int
		col        func(levels int) int // of the last level opened
	}{
		{"lists", "[", "]", 5, func(n int) int { return 10 + n }},
		{"mappings", "{", "}", 5, func(n int) int { return 10 + n }},
		// "projects:" is the first level and the first "-" is at its
		// column, so n dashes make n levels.
		{"blocks", "- ", "", 6, func(n int) int { return 2*n - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := func(levels int) string {
				if tc.shut == "" {
					return tokens + "projects:\n" + strings.Repeat(tc.open, levels) + "x\n"
				}
				return tokens + "projects: " + strings.Repeat(tc.open, levels) + strings.Repeat(tc.shut, levels) + "\n"
			}
			_, err := Parse("deep.yaml", []byte(doc(maxDepth)))
			if err == nil || strings.Contains(err.Error(), "max depth") {
				t.Errorf("%d levels: %.200v, want another error", maxDepth, err)
			}
			_, err = Parse("deep.yaml", []byte(doc(maxDepth+1)))
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Msg, "exceeded max depth") || e.Line != tc.line || e.Column != tc.col(maxDepth+1) {
				t.Errorf("%d levels: %.200v, want a depth error at %d:%d", maxDepth+1, err, tc.line, tc.col(maxDepth+1))
			}
		})
	}
}

// TestAgreed checks the guard against scanYAML misreading a document: a
// place it finds must be on the line yaml.v3 named, or on the first line,
// which yaml.v3 misreports.
func TestAgreed(t *testing.T) {
	data := []byte("a: 1\nb: 2\nc: 3\n")
	third := len("a: 1\nb: 2\n")
	for _, tc := range []struct{ off, line, want int }{
		{third, 3, third},
		{third, 0, third}, // yaml.v3 named no line
		{third, 2, -1},
		{1, 3, 1},
		{-1, 3, -1},
	} {
		if got := agreed(data, tc.off, tc.line); got != tc.want {
			t.Errorf("agreed(offset %d, line %d) = %d, want %d", tc.off, tc.line, got, tc.want)
		}
	}
}

// TestUTF16 checks that a config saved as UTF-16 (with its byte order mark)
// reads as its UTF-8 text does, and that its errors name the same places.
func TestUTF16(t *testing.T) {
	want, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for _, big := range []bool{false, true} {
		got, err := Parse("good.yaml", utf16Text(good, big))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("big endian %v: %v, want the config its UTF-8 text gives", big, err)
		}
		for _, bad := range []string{
			tokens + "listen: \"127.0.0.1:7443\nprojects: []\n", // a place found in the text
			tokens + "projects:\n\t- name: shop\n",              // a tab's column
			tokens + "listen: :1\rprojects: []\n",               // an odd line break
		} {
			_, utf8Err := Parse("bad.yaml", []byte(bad))
			_, utf16Err := Parse("bad.yaml", utf16Text(bad, big))
			if utf8Err == nil || utf16Err == nil || utf8Err.Error() != utf16Err.Error() {
				t.Errorf("big endian %v: %q gave\n  %v\nas UTF-16, and as UTF-8\n  %v", big, bad, utf16Err, utf8Err)
			}
		}
	}
}

// utf16Text is s as a UTF-16 file with its byte order mark, big or little
// endian.
func utf16Text(s string, big bool) []byte {
	out := []byte{0xFF, 0xFE}
	if big {
		out = []byte{0xFE, 0xFF}
	}
	for _, c := range utf16.Encode([]rune(s)) {
		if big {
			out = append(out, byte(c>>8), byte(c))
		} else {
			out = append(out, byte(c), byte(c>>8))
		}
	}
	return out
}
