package envfile

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestQuoteForms pins which form each kind of value gets: plain only when
// safe, single quotes before double quotes.
func TestQuoteForms(t *testing.T) {
	tests := []struct{ v, want string }{
		{"", ""},
		{"127.1.2.3", "127.1.2.3"},
		{"http://u@h:80/p,q+r%20=s", "http://u@h:80/p,q+r%20=s"},
		{"two words", "'two words'"},
		{"a$b", "'a$b'"},
		{"~", "'~'"},
		{"a#b", "'a#b'"},
		{`say "hi"`, `'say "hi"'`},
		{`C:\dir`, `'C:\dir'`},
		{"日本", "'日本'"},
		{"it's", `"it's"`},
		{`it's "x" ok`, `"it's \"x\" ok"`},
		{`\\server\share`, `"\\\\server\\share"`},
		{`a\'b`, `"a\\'b"`},
	}
	for _, tt := range tests {
		got, err := quote("K", tt.v)
		if err != nil || got != tt.want {
			t.Errorf("quote(%q) = %q, %v; want %q", tt.v, got, err, tt.want)
		}
	}
}

// FuzzQuote: whatever quote accepts is one line that unquote reads back as
// the value; whatever it refuses, it refuses as ErrInvalidVar.
func FuzzQuote(f *testing.F) {
	for _, v := range awkwardValues {
		f.Add(v)
	}
	for _, v := range []string{"a\nb", "${X}", "it's $x", `end\`, `\\n'`, "\xff"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		q, err := quote("K", v)
		if err != nil {
			if !strings.Contains(err.Error(), "envfile: invalid variable: ") {
				t.Fatalf("quote(%q) = %v, not an ErrInvalidVar", v, err)
			}
			return
		}
		if strings.ContainsAny(q, "\r\n\x00") || !utf8.ValidString(q) {
			t.Fatalf("quote(%q) = %q, not one valid line", v, q)
		}
		if got, ok := unquote(q); !ok || got != v {
			t.Fatalf("unquote(quote(%q) = %q) = %q, %v", v, q, got, ok)
		}
	})
}

func TestUnquoteRefusesForeignText(t *testing.T) {
	for _, s := range []string{"'a'b'", `"a"b"`, `"a\b"`, `"a\"`, "'x", "a b", "$X", `"unterminated`} {
		if v, ok := unquote(s); ok {
			t.Errorf("unquote(%q) = %q, ok; quote writes no such text", s, v)
		}
	}
}

func TestDefinedKey(t *testing.T) {
	tests := []struct {
		line, key string
		ok        bool
	}{
		{"A=1", "A", true},
		{"export A=1", "A", true},
		{"export\tA = 1", "A", true},
		{"  A : 1", "A", true},
		{"A", "A", true},
		{"A # c", "A", true},
		{"\ufeffA=1", "A", true},
		{"a.b=1", "a.b", true},
		{"# A=1", "", false},
		{"", "", false},
		{"1A=1", "", false},
		{"A B=1", "", false},
		{"exportA=1", "exportA", true},
	}
	for _, tt := range tests {
		if key, ok := definedKey(tt.line); key != tt.key || ok != tt.ok {
			t.Errorf("definedKey(%q) = %q, %v; want %q, %v", tt.line, key, ok, tt.key, tt.ok)
		}
	}
}
