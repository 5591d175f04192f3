package blockfile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The markers are the same in every kind of file, and must stay so: fwd
// processes of other versions parse them to tell whose a block is.
const (
	beginPrefix = "# fwd begin "
	endPrefix   = "# fwd end "
	beginNotice = " — do not edit, removed when fwd exits"
	// addedNewlineField marks a block whose writer had to end the file's
	// last line before appending it; removing the block takes that newline
	// away again so the file gets back its exact bytes.
	addedNewlineField = "nl=added"
)

// Block is one owner's fenced block as found in a file's content.
type Block struct {
	Owner Owner
	// Body holds the lines between the markers, without their line
	// terminators, for the file kind's codec to read.
	Body []string
	// First and Last are the indexes (from 0) of the block's first and last
	// lines in the content it was found in.
	First, Last int
	// Complete is false for a begin marker without its end marker (a user
	// edited the file): such a block owns only its marker line, First ==
	// Last, and has no Body, so that no line after it is ever taken for
	// fwd's.
	Complete bool
}

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

// span is a Block with what editing it needs to know.
type span struct {
	Block
	addedNewline bool
}

// Parse finds the blocks in data, in file order. A block runs from a begin
// marker to the first end marker with the same session; another begin
// marker before that end means the first block lost its end marker. End
// markers without a begin marker are not blocks.
func Parse(data []byte) []Block {
	spans := parseSpans(splitLines(data))
	blocks := make([]Block, len(spans))
	for i, s := range spans {
		blocks[i] = s.Block
	}
	return blocks
}

func parseSpans(lines []line) []span {
	var spans []span
	for i := 0; i < len(lines); i++ {
		owner, added, ok := parseBegin(lines[i].text)
		if !ok {
			continue
		}
		s := span{Block: Block{Owner: owner, First: i, Last: i}, addedNewline: added}
		if end := findEnd(lines, i+1, owner.Session); end >= 0 {
			s.Last, s.Complete = end, true
			s.Body = texts(lines[i+1 : end])
			i = end
		}
		spans = append(spans, s)
	}
	return spans
}

func texts(lines []line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
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

// checkBody rejects a body line that would not stay one line of the block:
// one holding a line break, or one that reads as a marker and so would end
// the block early or start another.
func checkBody(kind string, body []string) error {
	for _, text := range body {
		if strings.ContainsAny(text, "\r\n") {
			return fmt.Errorf("%s: block line %q holds a line break", kind, text)
		}
		_, _, isBegin := parseBegin(text)
		_, isEnd := parseEnd(text)
		if isBegin || isEnd {
			return fmt.Errorf("%s: block line %q reads as a fwd marker", kind, text)
		}
	}
	return nil
}

func blockLines(o Owner, body []string, addedNewline bool, eol string) []line {
	lines := make([]line, 0, len(body)+2)
	lines = append(lines, line{beginMarker(o, addedNewline), eol})
	for _, text := range body {
		lines = append(lines, line{text, eol})
	}
	return append(lines, line{endMarker(o.Session), eol})
}

// fileEOL is the terminator new lines get: that of the last terminated
// line, so a CRLF file stays CRLF and a mixed file stays as it ends; def
// when no line is terminated yet.
func fileEOL(lines []line, def string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].eol != "" {
			return lines[i].eol
		}
	}
	return def
}

func findOwner(spans []span, o Owner) int {
	return slices.IndexFunc(spans, func(s span) bool { return s.Owner == o })
}

// SetBlock gives o's block in data the lines body: in place if the block
// exists (its first copy, should a user have duplicated it), appended
// otherwise. No other line changes, except that a last line without a
// newline gets one, recorded in the marker. New lines end as the content's
// last terminated line does, or with defaultEOL if none is. Body lines
// must pass File's checks (no line breaks, no markers); File.Set is
// SetBlock under the lock.
func SetBlock(data []byte, o Owner, body []string, defaultEOL string) []byte {
	lines := splitLines(data)
	spans := parseSpans(lines)
	k := findOwner(spans, o)
	if k < 0 {
		return joinLines(appendBlock(lines, o, body, defaultEOL))
	}
	s := spans[k]
	eol := lines[s.First].eol
	if eol == "" {
		eol = fileEOL(lines, defaultEOL)
	}
	lines = slices.Replace(lines, s.First, s.Last+1, blockLines(o, body, s.addedNewline, eol)...)
	return removeDuplicates(joinLines(lines), o)
}

func appendBlock(lines []line, o Owner, body []string, defaultEOL string) []line {
	eol := fileEOL(lines, defaultEOL)
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
	return append(lines, blockLines(o, body, added, eol)...)
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

// RemoveBlock removes every block of o from data; File.Remove is
// RemoveBlock under the lock.
func RemoveBlock(data []byte, o Owner) []byte {
	return dropSpans(data, func(s span) bool { return s.Owner == o })
}

// RemoveDead removes the blocks whose owner alive reports gone, asking once
// per owner, and returns them; File.Clean is RemoveDead with Owner.Alive
// under the lock.
func RemoveDead(data []byte, alive func(Owner) bool) ([]byte, []Block) {
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
		if next < s.First {
			out = append(out, lines[next:s.First]...)
			owed = false
		}
		next = s.Last + 1
		if drop(s) {
			owed = owed || s.addedNewline
			continue
		}
		if owed && !s.addedNewline {
			out = append(out, line{beginMarker(s.Owner, true), lines[s.First].eol})
			out = append(out, lines[s.First+1:next]...)
		} else {
			out = append(out, lines[s.First:next]...)
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

// outside returns the text of every line of data that no fwd block holds:
// the user's own lines, for a codec to tell what the user already defines.
func outside(data []byte) []string {
	lines := splitLines(data)
	inBlock := make([]bool, len(lines))
	for _, sp := range parseSpans(lines) {
		for i := sp.First; i <= sp.Last; i++ {
			inBlock[i] = true
		}
	}
	var user []string
	for i, l := range lines {
		if !inBlock[i] {
			user = append(user, l.text)
		}
	}
	return user
}
