package envfile

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// A value is written in the first of three forms that every reader named
// in the package doc reads back as exactly that value:
//
//   - plain, KEY=value, when it holds only bytes no reader treats
//     specially (isPlain);
//   - single-quoted, KEY='value': literal in bash, docker compose and
//     direnv, while python-dotenv decodes \\ and \' inside, and compose
//     takes a quote after a backslash for an escaped one;
//   - double-quoted, KEY="value" with \ and " escaped, for a value that
//     holds a single quote: no reader has an escape for one inside single
//     quotes (bash's '\'' is read by neither python-dotenv nor direnv).
//
// A value none of them carries is refused rather than written wrong. The
// forms were checked against bash, python-dotenv 1.2, direnv 2.32 and
// compose-go's parser (v1.20 and v2.16, docker compose's); the readers'
// tests check the first three wherever they are installed.

// checkKey applies the rule that every reader accepts: a shell variable
// name.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidVar)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(isLetter(c) || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return fmt.Errorf("%w: key %q does not match [A-Za-z_][A-Za-z0-9_]*", ErrInvalidVar, key)
		}
	}
	return nil
}

func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isPlain: letters, digits and _ - . , / : @ % + =. Excluded are, among
// others, whitespace and # (comments), quotes, $ and ` (expansions), \
// (escapes), ~ (bash expands it after = and :), and shell operators.
func isPlain(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isLetter(c) && !('0' <= c && c <= '9') && strings.IndexByte("_-.,/:@%+=", c) < 0 {
			return false
		}
	}
	return true
}

// pythonVariable is what python-dotenv expands in every value, quoted or
// not (with its default interpolate=True), with no escape for it.
var pythonVariable = regexp.MustCompile(`\$\{[^}:]*(?::-[^}]*)?\}`)

// quote returns v as it is written after "KEY=", or why it cannot be.
func quote(key, v string) (string, error) {
	if err := checkValue(key, v); err != nil {
		return "", err
	}
	if isPlain(v) {
		return v, nil
	}
	single := singleQuoteProblem(v)
	if single == "" {
		return "'" + v + "'", nil
	}
	double := doubleQuoteProblem(v)
	if double == "" {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`, nil
	}
	what := single
	if double != single {
		what += " and " + double
	}
	return "", fmt.Errorf("%w: value of %s holds %s: no quoting reads back the same in every dotenv reader (bash, docker compose, python-dotenv, direnv)",
		ErrInvalidVar, key, what)
}

// checkValue refuses what no quoting can carry.
func checkValue(key, v string) error {
	switch {
	case strings.ContainsAny(v, "\n\r"):
		return fmt.Errorf("%w: value of %s holds a line break, which one line of a .env file cannot", ErrInvalidVar, key)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: value of %s holds a NUL byte, which an environment variable cannot", ErrInvalidVar, key)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: value of %s is not valid UTF-8, which python-dotenv fails to read the whole file on", ErrInvalidVar, key)
	case pythonVariable.MatchString(v):
		return fmt.Errorf("%w: value of %s holds %q, which python-dotenv expands however it is quoted", ErrInvalidVar, key, pythonVariable.FindString(v))
	}
	return nil
}

// singleQuoteProblem says what of v single quotes would not keep, or "".
// No reader has an escape for ' inside them; python-dotenv reads \\ there
// as one backslash; docker compose reads a final \' as an escaped quote.
func singleQuoteProblem(v string) string {
	switch {
	case strings.Contains(v, "'"):
		return "'"
	case strings.Contains(v, `\\`):
		return `\\`
	case strings.HasSuffix(v, `\`):
		return `a final \`
	}
	return ""
}

// doubleQuoteProblem says what of v double quotes would not keep, or "".
// bash expands $ and ` there, while python-dotenv keeps the backslash of
// \$ and \`; direnv reads \n and \r as line breaks even when their
// backslash is escaped; older docker compose releases read a final \" as
// an escaped quote, and drop an escaped " just before the closing one.
func doubleQuoteProblem(v string) string {
	switch {
	case strings.ContainsAny(v, "$`"):
		return "$ or `"
	case strings.HasSuffix(v, `\`):
		return `a final \`
	case strings.HasSuffix(v, `"`):
		return `a final "`
	case strings.Contains(v, `\n`) || strings.Contains(v, `\r`):
		return `\n or \r`
	}
	return ""
}

// unquote reads back a value as quote wrote it; ok is false for text quote
// never writes (a line someone edited inside the block).
func unquote(s string) (v string, ok bool) {
	n := len(s)
	switch {
	case n >= 2 && s[0] == '\'' && s[n-1] == '\'':
		return s[1 : n-1], !strings.Contains(s[1:n-1], "'")
	case n >= 2 && s[0] == '"' && s[n-1] == '"':
		return unescapeDouble(s[1 : n-1])
	case isPlain(s):
		return s, true
	}
	return "", false
}

func unescapeDouble(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return "", false // quote escapes every one
		case c != '\\':
			b.WriteByte(c)
		case i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '"'):
			i++
			b.WriteByte(s[i])
		default:
			return "", false
		}
	}
	return b.String(), true
}
