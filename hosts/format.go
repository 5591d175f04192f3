package hosts

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/txn2/txeh"
)

const (
	beginPrefix = "# fwd begin "
	endPrefix   = "# fwd end "
	beginNotice = " — do not edit, removed when fwd exits"
	// addedNewlineField marks a block whose writer had to end the file's
	// last line before appending it; removing the block takes that newline
	// away again so the file gets back its exact bytes.
	addedNewlineField = "nl=added"
)

// line is one physical line: its text and the exact bytes that ended it
// ("\n", "\r\n", or "" for a last line without a newline). Keeping the
// terminator with the line is what lets every byte we do not own survive.
type line struct {
	text string
	eol  string
}

func splitLines(data []byte) []line {
	var lines []line
	s := string(data)
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, line{text: s})
			break
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
	n := 0
	for _, l := range lines {
		n += len(l.text) + len(l.eol)
	}
	b := make([]byte, 0, n)
	for _, l := range lines {
		b = append(b, l.text...)
		b = append(b, l.eol...)
	}
	return b
}

// span is where one block sits: lines first..last, inclusive. A block whose
// end marker is missing is only its begin marker line (first == last,
// complete false), so that no line after it is ever taken for ours.
type span struct {
	Block
	first, last  int
	complete     bool
	addedNewline bool
}

// parseSpans finds the blocks in lines. A block runs from a begin marker to
// the first end marker with the same session; another begin marker before
// that end means the first block lost its end marker.
func parseSpans(lines []line) []span {
	var spans []span
	for i := 0; i < len(lines); i++ {
		owner, added, ok := parseBegin(lines[i].text)
		if !ok {
			continue
		}
		s := span{Block: Block{Owner: owner}, first: i, last: i, addedNewline: added}
		if end := findEnd(lines, i+1, owner.Session); end >= 0 {
			s.last, s.complete = end, true
			s.Entries = parseEntries(lines[i+1 : end])
			i = end
		}
		spans = append(spans, s)
	}
	return spans
}

func findEnd(lines []line, from int, session string) int {
	for j := from; j < len(lines); j++ {
		if _, _, ok := parseBegin(lines[j].text); ok {
			return -1
		}
		if s, ok := parseEnd(lines[j].text); ok && s == session {
			return j
		}
	}
	return -1
}

// parseEntries reads a block's body with txeh's parser, so that what we
// report is what other hosts-file tools would see; lines that are not
// address lines (a comment someone added inside the fence) are skipped.
func parseEntries(body []line) []Entry {
	var entries []Entry
	for _, l := range body {
		parsed, err := txeh.ParseHostsFromString(l.text)
		if err != nil || len(parsed) != 1 || parsed[0].LineType != txeh.ADDRESS {
			continue
		}
		entries = append(entries, Entry{Address: parsed[0].Address, Hostnames: parsed[0].Hostnames})
	}
	return entries
}

func beginMarker(o Owner, addedNewline bool) string {
	s := fmt.Sprintf("%spid=%d start=%d session=%s", beginPrefix, o.PID, o.Start, o.Session)
	if addedNewline {
		s += " " + addedNewlineField
	}
	return s + beginNotice
}

func endMarker(session string) string {
	return endPrefix + "session=" + session
}

// parseBegin accepts the key=value fields up to the first word that is not
// one, in any order, ignoring unknown keys so later versions can add some.
func parseBegin(text string) (o Owner, addedNewline, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(text, " \t\r"), beginPrefix)
	if !found {
		return Owner{}, false, false
	}
	var havePID, haveStart bool
	for _, f := range strings.Fields(rest) {
		k, v, isField := strings.Cut(f, "=")
		if !isField {
			break
		}
		switch k {
		case "pid":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return Owner{}, false, false
			}
			o.PID, havePID = n, true
		case "start":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return Owner{}, false, false
			}
			o.Start, haveStart = n, true
		case "session":
			if !validSession(v) {
				return Owner{}, false, false
			}
			o.Session = v
		case "nl":
			addedNewline = v == "added"
		}
	}
	return o, addedNewline, havePID && haveStart && o.Session != ""
}

func parseEnd(text string) (session string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(text, " \t\r"), endPrefix)
	if !found {
		return "", false
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", false
	}
	session, found = strings.CutPrefix(fields[0], "session=")
	return session, found && validSession(session)
}

func validSession(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// blockLines renders a block. maxPerLine > 0 splits long hostname lists
// over several lines of the same address (Windows ignores names past the
// ninth on a line).
func blockLines(b Block, addedNewline bool, eol string, maxPerLine int) []line {
	lines := []line{{beginMarker(b.Owner, addedNewline), eol}}
	for _, e := range b.Entries {
		for _, names := range chunks(e.Hostnames, maxPerLine) {
			lines = append(lines, line{e.Address + " " + strings.Join(names, " "), eol})
		}
	}
	return append(lines, line{endMarker(b.Owner.Session), eol})
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

// fileEOL is the terminator new lines get: that of the last terminated
// line, so a CRLF file stays CRLF and a mixed file stays as it ends.
func fileEOL(lines []line) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].eol != "" {
			return lines[i].eol
		}
	}
	return defaultEOL
}

func findOwner(spans []span, o Owner) int {
	return slices.IndexFunc(spans, func(s span) bool { return s.Owner == o })
}

// setBlock gives b.Owner's block the entries of b: in place if the block
// exists (its first copy, should a user have duplicated it), appended
// otherwise. No other line changes, except that a last line without a
// newline gets one, recorded in the marker.
func setBlock(data []byte, b Block, maxPerLine int) []byte {
	lines := splitLines(data)
	spans := parseSpans(lines)
	k := findOwner(spans, b.Owner)
	if k < 0 {
		return joinLines(appendBlock(lines, b, maxPerLine))
	}
	s := spans[k]
	eol := lines[s.first].eol
	if eol == "" {
		eol = fileEOL(lines)
	}
	lines = slices.Replace(lines, s.first, s.last+1, blockLines(b, s.addedNewline, eol, maxPerLine)...)
	return removeDuplicates(joinLines(lines), b.Owner)
}

func appendBlock(lines []line, b Block, maxPerLine int) []line {
	eol := fileEOL(lines)
	added := false
	if n := len(lines); n > 0 && lines[n-1].eol == "" {
		lines[n-1].eol = eol
		// A lone "\r" ending the file followed by "\n" would read back as
		// a CRLF terminator, and removing it would take the "\r" along.
		if strings.HasSuffix(lines[n-1].text, "\r") {
			lines[n-1].eol = "\r\n"
		}
		added = true
	}
	return append(lines, blockLines(b, added, eol, maxPerLine)...)
}

// removeDuplicates drops all but the first block of o.
func removeDuplicates(data []byte, o Owner) []byte {
	seen := false
	return dropSpans(data, func(s span) bool {
		if s.Owner != o {
			return false
		}
		dup := seen
		seen = true
		return dup
	})
}

// removeBlock removes every block of o.
func removeBlock(data []byte, o Owner) []byte {
	return dropSpans(data, func(s span) bool { return s.Owner == o })
}

// removeDead removes the blocks whose owner alive reports gone, asking once
// per owner.
func removeDead(data []byte, alive func(Owner) bool) ([]byte, []Block) {
	verdict := map[Owner]bool{}
	var removed []Block
	data = dropSpans(data, func(s span) bool {
		v, ok := verdict[s.Owner]
		if !ok {
			v = alive(s.Owner)
			verdict[s.Owner] = v
		}
		if !v {
			removed = append(removed, s.Block)
		}
		return !v
	})
	return data, removed
}

// dropSpans removes the blocks drop picks, in one pass, asking in file
// order. A block that carries the newline its writer added to the line
// before it passes that duty on: when nothing follows the removed blocks,
// the newline goes; when a kept block follows directly, that block takes
// the duty over; when a user line follows, the newline now ends a user line
// and stays.
func dropSpans(data []byte, drop func(span) bool) []byte {
	lines := splitLines(data)
	spans := parseSpans(lines)
	out := make([]line, 0, len(lines))
	owed, next := false, 0
	for _, s := range spans {
		if next < s.first {
			out = append(out, lines[next:s.first]...)
			owed = false
		}
		next = s.last + 1
		if drop(s) {
			owed = owed || s.addedNewline
			continue
		}
		if owed && !s.addedNewline {
			out = append(out, line{beginMarker(s.Owner, true), lines[s.first].eol})
			out = append(out, lines[s.first+1:next]...)
		} else {
			out = append(out, lines[s.first:next]...)
		}
		owed = false
	}
	if next < len(lines) {
		out = append(out, lines[next:]...)
		owed = false
	}
	if owed && len(out) > 0 {
		out[len(out)-1].eol = ""
	}
	return joinLines(out)
}

// userNames are the hostnames that lines outside every fwd block map, in
// lower case.
func userNames(data []byte) map[string]bool {
	lines := splitLines(data)
	inBlock := make([]bool, len(lines))
	for _, sp := range parseSpans(lines) {
		for i := sp.first; i <= sp.last; i++ {
			inBlock[i] = true
		}
	}
	var outside []line
	for i, l := range lines {
		if !inBlock[i] {
			outside = append(outside, l)
		}
	}
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
