package envfile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fwd-dev/fwd/internal/blockfile"
)

// ErrInvalidVar is matched (errors.Is) by the error Set returns for a key
// that is not a variable name, a key given twice, or a value that cannot
// be written so that every reader reads it back. Nothing is written then.
var ErrInvalidVar = errors.New("envfile: invalid variable")

// ErrNotWritable and ErrLockBusy are matched as blockfile documents them.
var (
	ErrNotWritable = blockfile.ErrNotWritable
	ErrLockBusy    = blockfile.ErrLockBusy
)

// Owner identifies the fwd process (and session) a block belongs to.
type Owner = blockfile.Owner

// CurrentOwner returns this process as an Owner: the same one that its
// hosts-file block names.
func CurrentOwner() Owner {
	return blockfile.CurrentOwner()
}

// Var is one variable: Key=Value.
type Var struct {
	Key, Value string
}

// Block is one owner's fenced group of variables.
type Block struct {
	Owner Owner
	Vars  []Var
}

// File edits one .env file. Its methods are safe for concurrent use by
// several goroutines, and by several processes each with its own File.
type File struct {
	file blockfile.File
}

// New returns a File for path. Nothing is read until used.
func New(path string) *File {
	return &File{file: blockfile.File{
		Path:       path,
		Kind:       "envfile",
		Mode:       0o600, // it may hold passwords
		CleanOnSet: true,
	}}
}

// Path returns the file's path as given to New.
func (f *File) Path() string {
	return f.file.Path
}

// Set replaces owner's block with one holding vars, in their order, in the
// same place, or appends it if owner has none; it also removes, in the same
// write, the blocks of owners no longer running. A key that a line outside
// every fwd block already defines is left out, so that fwd never shadows
// the user's own value (readers differ on whether the first or the last
// definition wins); Set returns the keys it left out. Invalid vars are
// reported, wrapping ErrInvalidVar, before the file is touched. A missing
// file is created, readable by its owner only.
func (f *File) Set(owner Owner, vars []Var) (shadowed []string, err error) {
	lines, err := render(vars)
	if err != nil {
		return nil, err
	}
	err = f.file.SetFunc(owner, func(outside []string) []string {
		var kept []string
		kept, shadowed = withoutKeys(lines, userKeys(outside))
		return kept
	})
	return shadowed, err
}

// Remove removes owner's block. Without one it changes nothing and writes
// nothing.
func (f *File) Remove(owner Owner) error {
	return f.file.Remove(owner)
}

// Clean removes every block whose owner is no longer running and returns
// them.
func (f *File) Clean() (removed []Block, err error) {
	dead, err := f.file.Clean()
	if err != nil {
		return nil, err
	}
	return toBlocks(dead), nil
}

// Blocks lists the fwd blocks in file order. A block without its end
// marker is listed with no vars. A missing file has no blocks.
func (f *File) Blocks() ([]Block, error) {
	blocks, err := f.file.Blocks()
	if err != nil {
		return nil, err
	}
	return toBlocks(blocks), nil
}

// line is one variable as written in the block.
type line struct {
	key, text string
}

// render checks vars and writes each as a KEY=value line.
func render(vars []Var) ([]line, error) {
	lines := make([]line, 0, len(vars))
	seen := map[string]bool{}
	for _, v := range vars {
		if err := checkKey(v.Key); err != nil {
			return nil, err
		}
		if seen[v.Key] {
			return nil, fmt.Errorf("%w: key %s given twice", ErrInvalidVar, v.Key)
		}
		seen[v.Key] = true
		q, err := quote(v.Key, v.Value)
		if err != nil {
			return nil, err
		}
		lines = append(lines, line{v.Key, v.Key + "=" + q})
	}
	return lines, nil
}

// withoutKeys drops the lines whose key is in taken and returns what
// stays, and the keys dropped.
func withoutKeys(lines []line, taken map[string]bool) (kept, dropped []string) {
	kept = []string{}
	for _, l := range lines {
		if taken[l.key] {
			dropped = append(dropped, l.key)
			continue
		}
		kept = append(kept, l.text)
	}
	return kept, dropped
}

// userKeys are the keys that the lines outside every fwd block define.
func userKeys(outside []string) map[string]bool {
	keys := map[string]bool{}
	for _, text := range outside {
		if k, ok := definedKey(text); ok {
			keys[k] = true
		}
	}
	return keys
}

// definedKey returns the key a user's line defines: KEY=..., export
// KEY=..., KEY = ..., KEY: ... (docker compose and direnv), or a bare KEY
// (docker compose then takes it from the environment). It errs on the side
// of yes: a key wrongly taken for the user's is only left out of fwd's
// block, while one missed would be shadowed.
func definedKey(text string) (string, bool) {
	s := strings.TrimLeft(strings.TrimPrefix(text, "\ufeff"), " \t")
	if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimLeft(rest, " \t")
	}
	n := 0
	for n < len(s) && (isLetter(s[n]) || '0' <= s[n] && s[n] <= '9' || s[n] == '_' || s[n] == '.') {
		n++
	}
	if n == 0 || s[0] == '.' || '0' <= s[0] && s[0] <= '9' {
		return "", false
	}
	rest := strings.TrimLeft(s[n:], " \t")
	if rest == "" || strings.ContainsRune("=:#", rune(rest[0])) {
		return s[:n], true
	}
	return "", false
}

func toBlocks(bs []blockfile.Block) []Block {
	var out []Block
	for _, b := range bs {
		out = append(out, Block{Owner: b.Owner, Vars: parseVars(b.Body)})
	}
	return out
}

// parseVars reads back the lines render wrote, skipping any other line (a
// comment someone added inside the fence).
func parseVars(body []string) []Var {
	var vars []Var
	for _, text := range body {
		key, q, found := strings.Cut(text, "=")
		if !found || checkKey(key) != nil {
			continue
		}
		if v, ok := unquote(q); ok {
			vars = append(vars, Var{key, v})
		}
	}
	return vars
}

// Line renders one variable as a .env line, KEY=value, quoted as Set
// quotes it (see quote), for a program that prints rather than writes a
// file (fwd --output dotenv).
func Line(v Var) (string, error) {
	if err := checkKey(v.Key); err != nil {
		return "", err
	}
	q, err := quote(v.Key, v.Value)
	if err != nil {
		return "", err
	}
	return v.Key + "=" + q, nil
}
