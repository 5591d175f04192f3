package hosts

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseBlocks: on any content the parser must not panic and must
// account for every byte, Clean must keep live blocks and remove dead ones,
// and Set then Remove of new owners must give back the content exactly,
// whichever of two owners goes first.
func FuzzParseBlocks(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join(fixtures, "*.hosts"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("# fwd begin pid=1 start=0 session=a nl=added — do not edit\n1.2.3.4 x\n# fwd end session=a"))
	f.Add([]byte("# fwd begin pid=1 start=0 session=a\n# fwd begin pid=2 start=0 session=b\n# fwd end session=a\r\n# fwd end session=b"))
	f.Add([]byte("\r\r\n\n\r"))

	x := Owner{PID: 4242, Start: 7, Session: "fuzzf00dfuzzf00d"}
	y := Owner{PID: 4343, Start: 8, Session: "fuzzbeeffuzzbeef"}
	ex := Block{Owner: x, Entries: []Entry{{"127.1.2.3", []string{"api", "api.shop"}}}}
	ey := Block{Owner: y, Entries: []Entry{{"::1", []string{"db"}}}}

	f.Fuzz(func(t *testing.T, data []byte) {
		lines := splitLines(data)
		if got := joinLines(lines); !bytes.Equal(got, data) {
			t.Fatalf("lines do not join back: %q", got)
		}
		checkSpans(t, lines, parseSpans(lines))
		if kept, removed := removeDead(data, func(Owner) bool { return true }); !bytes.Equal(kept, data) || removed != nil {
			t.Fatalf("Clean with every owner alive changed the content")
		}
		if cleaned, _ := removeDead(data, func(Owner) bool { return false }); len(parseSpans(splitLines(cleaned))) != 0 {
			t.Fatalf("Clean with every owner dead left blocks: %q", cleaned)
		}

		if bytes.Contains(data, []byte("fuzzf00d")) || bytes.Contains(data, []byte("fuzzbeef")) {
			return // the content already holds our owners' blocks
		}
		withX := setBlock(data, ex, 0)
		if !bytes.HasPrefix(withX, data) {
			t.Fatalf("Set changed bytes before the block: %q", withX)
		}
		mustEqualBytes(t, removeBlock(withX, x), data, "Set x, Remove x")
		mustEqualBytes(t, removeBlock(setBlock(withX, ex, 0), x), data, "Set x twice, Remove x")

		withXY := setBlock(withX, ey, 3)
		mustEqualBytes(t, removeBlock(removeBlock(withXY, x), y), data, "remove x then y")
		mustEqualBytes(t, removeBlock(removeBlock(withXY, y), x), data, "remove y then x")

		// The same through a real file, lock and rename included.
		path := writeHosts(t, data)
		file := New(path)
		must(t, file.Set(x, ex.Entries))
		must(t, file.Remove(x))
		mustEqualBytes(t, readHosts(t, path), data, "File.Set, File.Remove")
	})
}

func checkSpans(t *testing.T, lines []line, spans []span) {
	prev := -1
	for _, s := range spans {
		if s.first <= prev || s.last < s.first || s.last >= len(lines) {
			t.Fatalf("span %d..%d out of order or range (prev %d, %d lines)", s.first, s.last, prev, len(lines))
		}
		if !s.complete && (s.last != s.first || len(s.Entries) != 0) {
			t.Fatalf("unterminated span owns more than its marker: %+v", s)
		}
		prev = s.last
	}
}
