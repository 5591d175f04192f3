package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fwd-dev/fwd/internal/yamlnode"
)

// FuzzParse checks that Parse never panics, that every error is one line
// naming the file and a line (and a column, if any, inside that line, of
// the text Parse reads: UTF-16 decoded), and
// that every config it accepts keeps the promises of an accepted config.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range badCases {
		f.Add([]byte(tc.yaml))
	}
	f.Add([]byte(good))
	f.Add([]byte(authConfig))
	f.Add(utf16Text(tokens+"projects:\n  - name: a\n    0: 'x\n", false))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Line < 1 {
				t.Fatalf("error without a line: %#v", err)
			}
			if n := utf8.RuneCountInString(lineText(yamlnode.UTF8(data), e.Line)); e.Column < 0 || e.Column > n+1 {
				t.Fatalf("error at column %d of a line of %d characters: %v", e.Column, n, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "fuzz.yaml:") || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error %q does not start with the file or is not one line", msg)
			}
			return
		}
		checkInvariants(t, c)
		for _, tok := range c.Tokens {
			if got, err := c.Authenticate("fwd_not-a-real-token"); err == nil && got.Name == tok.Name {
				t.Fatalf("a made-up token authenticated as %q", got.Name)
			}
		}
	})
}
