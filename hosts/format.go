package hosts

import (
	"strings"

	"github.com/fwd-dev/fwd/internal/blockfile"
	"github.com/txn2/txeh"
)

// hosts' codec: how a block's entries become the lines between its
// markers and are read back. Markers, spans and edits are blockfile's.

// entryLines renders entries, one line per address. maxPerLine > 0 splits
// long hostname lists over several lines of the same address (Windows
// ignores names past the ninth on a line).
func entryLines(entries []Entry, maxPerLine int) []string {
	var lines []string
	for _, e := range entries {
		for _, names := range chunks(e.Hostnames, maxPerLine) {
			lines = append(lines, e.Address+" "+strings.Join(names, " "))
		}
	}
	return lines
}

func chunks(names []string, size int) [][]string {
	if size <= 0 || len(names) <= size {
		return [][]string{names}
	}
	var out [][]string
	for len(names) > size {
		out = append(out, names[:size])
		names = names[size:]
	}
	return append(out, names)
}

// parseEntries reads lines with txeh's parser, so that what we report is
// what other hosts-file tools would see; lines that are not address lines
// (a comment someone added inside the fence) are skipped.
func parseEntries(lines []string) []Entry {
	var entries []Entry
	for _, l := range lines {
		parsed, err := txeh.ParseHostsFromString(l)
		if err != nil || len(parsed) != 1 || parsed[0].LineType != txeh.ADDRESS {
			continue
		}
		entries = append(entries, Entry{Address: parsed[0].Address, Hostnames: parsed[0].Hostnames})
	}
	return entries
}

func toBlock(b blockfile.Block) Block {
	return Block{Owner: Owner(b.Owner), Entries: parseEntries(b.Body)}
}

func toBlocks(bs []blockfile.Block) []Block {
	var out []Block
	for _, b := range bs {
		out = append(out, toBlock(b))
	}
	return out
}

// userNames are the hostnames that the lines outside every fwd block map,
// in lower case.
func userNames(outside []string) map[string]bool {
	names := map[string]bool{}
	for _, e := range parseEntries(outside) {
		for _, h := range e.Hostnames {
			names[strings.ToLower(h)] = true
		}
	}
	return names
}

// withoutNames drops the hostnames in taken from entries, and entries left
// with none; it returns what it dropped.
func withoutNames(entries []Entry, taken map[string]bool) (kept []Entry, dropped []string) {
	for _, e := range entries {
		var names []string
		for _, h := range e.Hostnames {
			if taken[h] {
				dropped = append(dropped, h)
				continue
			}
			names = append(names, h)
		}
		if len(names) > 0 {
			kept = append(kept, Entry{Address: e.Address, Hostnames: names})
		}
	}
	return kept, dropped
}
