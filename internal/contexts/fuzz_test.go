package contexts

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fwd-dev/fwd/internal/yamlnode"
)

// FuzzDecodeConfig: whatever the bytes of config.yaml, decoding gives a
// config that encodes and decodes back to itself, or one *FileError of one
// line at a place inside the file as an editor counts it (lines at LF).
func FuzzDecodeConfig(f *testing.F) {
	for _, tc := range corruptConfigs {
		f.Add([]byte(tc.data))
	}
	f.Add([]byte("current: a\ncontexts:\n  - name: a\n    gateway: h:1\n    project: shop\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeConfig("config.yaml", data)
		data = yamlnode.UTF8(data) // the text the error counts in
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Line < 1 {
				t.Fatalf("error without a line: %#v", err)
			}
			lines := max(bytes.Count(data, []byte("\n"))+1, 1)
			if fe.Line > lines {
				t.Fatalf("error at line %d of a file of %d: %v", fe.Line, lines, err)
			}
			if n := utf8.RuneCount(lineOf(data, fe.Line)); fe.Column < 0 || fe.Column > n+1 {
				t.Fatalf("error at column %d of a line of %d characters: %v", fe.Column, n, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "config.yaml:") || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error %q does not start with the file or is not one line", msg)
			}
			return
		}
		out, err := encodeConfig(c)
		if err != nil {
			t.Fatalf("an accepted config does not encode: %v", err)
		}
		again, err := decodeConfig("config.yaml", out)
		if err != nil {
			t.Fatalf("an accepted config, written out, is refused: %v\n%s", err, out)
		}
		if !again.equal(c) {
			t.Fatalf("a config changed on its way through the file:\n%s", out)
		}
	})
}

// lineOf returns the 1-based line of data, counting lines at LF, without a
// byte order mark (which yamlnode.LineCol does not count as a column).
func lineOf(data []byte, line int) []byte {
	lines := bytes.Split(bytes.TrimPrefix(data, []byte("\uFEFF")), []byte("\n"))
	if line > len(lines) {
		return nil
	}
	return lines[line-1]
}
