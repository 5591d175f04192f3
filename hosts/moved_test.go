package hosts

import (
	"path/filepath"
	"strings"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// The block machinery moved to internal/blockfile. These are the names the
// tests of this package were written against, mapped onto it, so that the
// tests run unchanged: they are the proof that nothing moved.

type osFS = blockfile.OSFS

func processStart(pid int) (uint64, error) {
	return blockfile.ProcessStart(pid)
}

// line is one physical line with its exact terminator. Split here rather
// than by blockfile, so that the tests' reading of the bytes stays their
// own.
type line struct {
	text string
	eol  string
}

func splitLines(data []byte) []line {
	var lines []line
	for s := string(data); s != ""; {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return append(lines, line{text: s})
		}
		text, eol := s[:i], "\n"
		if strings.HasSuffix(text, "\r") {
			text, eol = text[:len(text)-1], "\r\n"
		}
		lines = append(lines, line{text: text, eol: eol})
		s = s[i+1:]
	}
	return lines
}

func joinLines(lines []line) []byte {
	var b []byte
	for _, l := range lines {
		b = append(b, l.text...)
		b = append(b, l.eol...)
	}
	return b
}

// span is a block with where it sits in the lines it was found in.
type span struct {
	Block
	first, last int
	complete    bool
}

func parseSpans(lines []line) []span {
	var spans []span
	for _, b := range blockfile.Parse(joinLines(lines)) {
		spans = append(spans, span{Block: toBlock(b), first: b.First, last: b.Last, complete: b.Complete})
	}
	return spans
}

func setBlock(data []byte, b Block, maxPerLine int) []byte {
	return blockfile.SetBlock(data, blockfile.Owner(b.Owner), entryLines(b.Entries, maxPerLine), defaultEOL)
}

func removeBlock(data []byte, o Owner) []byte {
	return blockfile.RemoveBlock(data, blockfile.Owner(o))
}

func removeDead(data []byte, alive func(Owner) bool) ([]byte, []Block) {
	data, dead := blockfile.RemoveDead(data, func(o blockfile.Owner) bool { return alive(Owner(o)) })
	return data, toBlocks(dead)
}

// The files beside the hosts file are spelled out, not taken from
// blockfile: fwd processes of older versions use these names, so they must
// not change.

func tempPrefix(base string) string {
	return "." + base + ".fwd-tmp-"
}

func backupPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+".fwd-backup")
}

func lockPath(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+".fwd.lock")
}
