package blockfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMarkers pins the marker bytes: fwd processes of every version, and
// every kind of file, share them.
func TestMarkers(t *testing.T) {
	o := Owner{PID: 1234, Start: 98765, Session: "ab12cd34ef567890"}
	const begin = "# fwd begin pid=1234 start=98765 session=ab12cd34ef567890"
	const notice = " — do not edit, removed when fwd exits"
	const end = "# fwd end session=ab12cd34ef567890"
	body := []string{"first line", "second=line"}
	tests := []struct{ name, in, eol, want string }{
		{"empty, \\n", "", "\n", begin + notice + "\nfirst line\nsecond=line\n" + end + "\n"},
		{"empty, \\r\\n", "", "\r\n", begin + notice + "\r\nfirst line\r\nsecond=line\r\n" + end + "\r\n"},
		{"lf", "x\n", "\r\n", "x\n" + begin + notice + "\nfirst line\nsecond=line\n" + end + "\n"},
		{"crlf", "x\r\n", "\n", "x\r\n" + begin + notice + "\r\nfirst line\r\nsecond=line\r\n" + end + "\r\n"},
		{"no final newline", "x", "\n", "x\n" + begin + " nl=added" + notice + "\nfirst line\nsecond=line\n" + end + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SetBlock([]byte(tt.in), o, body, tt.eol)
			mustEqualBytes(t, got, []byte(tt.want), "content")
			mustEqualBytes(t, RemoveBlock(got, o), []byte(tt.in), "after RemoveBlock")
		})
	}
}

// TestParse: where each block sits, what its body is, and what is not a
// block at all.
func TestParse(t *testing.T) {
	data := []byte("user\r\n" +
		"# fwd end session=aaaa\n" + // an end without a begin: the user's
		"# fwd begin pid=7 start=1 session=aaaa future=field — note\n" +
		"body 1\n\n" +
		"# fwd end session=aaaa\n" +
		"# fwd begin pid=8 session=bbbb\n" + // no start: not a marker
		"# fwd begin pid=9 start=2 session=cccc\n" + // its end is missing
		"after\n" +
		"# fwd begin pid=10 start=3 session=dddd nl=added\n" +
		"# fwd end session=dddd")
	got := Parse(data)
	want := []Block{
		{Owner: Owner{7, 1, "aaaa"}, Body: []string{"body 1", ""}, First: 2, Last: 5, Complete: true},
		{Owner: Owner{9, 2, "cccc"}, First: 7, Last: 7},
		{Owner: Owner{10, 3, "dddd"}, Body: []string{}, First: 9, Last: 10, Complete: true},
	}
	if !slices.EqualFunc(got, want, sameBlock) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}

func sameBlock(a, b Block) bool {
	return a.Owner == b.Owner && slices.Equal(a.Body, b.Body) && a.First == b.First && a.Last == b.Last && a.Complete == b.Complete
}

// FuzzEdits: on any content Parse accounts for its lines in order, an edit
// touches nothing but fwd's blocks, and Set then Remove, in either order
// for two owners, gives the content back exactly.
func FuzzEdits(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join(fixtures, "*.hosts"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("# fwd begin pid=1 start=0 session=a nl=added — x\nbody\n# fwd end session=a"))
	f.Add([]byte("# fwd begin pid=1 start=0 session=a\n# fwd begin pid=2 start=0 session=b\n# fwd end session=a\r\n# fwd end session=b"))
	f.Add([]byte("\r\r\n\n\r"))
	x := Owner{PID: 4242, Start: 7, Session: "fuzzf00dfuzzf00d"}
	y := Owner{PID: 4343, Start: 8, Session: "fuzzbeeffuzzbeef"}

	f.Fuzz(func(t *testing.T, data []byte) {
		lines := splitLines(data)
		mustEqualBytes(t, joinLines(lines), data, "lines joined")
		checkBlocks(t, Parse(data), len(lines))
		if kept, removed := RemoveDead(data, func(Owner) bool { return true }); !bytes.Equal(kept, data) || removed != nil {
			t.Fatal("RemoveDead with every owner alive changed the content")
		}
		if cleaned, _ := RemoveDead(data, func(Owner) bool { return false }); len(Parse(cleaned)) != 0 {
			t.Fatalf("RemoveDead with every owner dead left blocks: %q", cleaned)
		}
		if bytes.Contains(data, []byte("fuzzf00d")) || bytes.Contains(data, []byte("fuzzbeef")) {
			return // the content already holds our owners' blocks
		}
		withX := SetBlock(data, x, []string{"x=1"}, "\n")
		if !bytes.HasPrefix(withX, data) {
			t.Fatalf("SetBlock changed bytes before the block: %q", withX)
		}
		mustEqualBytes(t, RemoveBlock(SetBlock(withX, x, nil, "\r\n"), x), data, "Set x twice, Remove x")
		withXY := SetBlock(withX, y, []string{"y=1", "y=2"}, "\r\n")
		mustEqualBytes(t, RemoveBlock(RemoveBlock(withXY, x), y), data, "remove x then y")
		mustEqualBytes(t, RemoveBlock(RemoveBlock(withXY, y), x), data, "remove y then x")
	})
}

func checkBlocks(t *testing.T, blocks []Block, lines int) {
	prev := -1
	for _, b := range blocks {
		if b.First <= prev || b.Last < b.First || b.Last >= lines {
			t.Fatalf("block %d..%d out of order or range (prev %d, %d lines)", b.First, b.Last, prev, lines)
		}
		if !b.Complete && (b.Last != b.First || len(b.Body) != 0) {
			t.Fatalf("unterminated block owns more than its marker: %+v", b)
		}
		if b.Complete && len(b.Body) != b.Last-b.First-1 {
			t.Fatalf("block %d..%d has %d body lines", b.First, b.Last, len(b.Body))
		}
		prev = b.Last
	}
}
