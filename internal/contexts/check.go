package contexts

import (
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/fwd-dev/fwd/internal/hostnames"
)

// The checks below return "" for a good value, or what is wrong with it and
// how to write it, for both the file's errors (at a line) and the errors of
// values given in code.

// checkName: names end up as keyring users, YAML keys and --context values,
// so they are kept to characters that need no quoting anywhere.
func checkName(s string) string {
	switch {
	case s == "":
		return "is empty: a context needs a name"
	case len(s) > 63:
		return "is too long: use at most 63 characters"
	case s[0] == '-':
		return "starts with '-', which would read as a flag: start with a letter or digit"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Sprintf("has %q, which is not allowed: use letters, digits, '-', '_' and '.'", r)
		}
	}
	return ""
}

func checkGateway(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "is not host:port: write it like gw.example.com:7443"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "has a port out of range: use 1-65535"
	}
	if net.ParseIP(host) == nil && !hostnames.IsDNSName(host) {
		return fmt.Sprintf("names %q, which is neither an IP address nor a host name", host)
	}
	return ""
}

// checkFingerprint accepts the one form fwd prints (tunnel.Fingerprint),
// in either case, so that the file holds what the user saw.
func checkFingerprint(s string) string {
	h, ok := strings.CutPrefix(s, "sha256:")
	if b, err := hex.DecodeString(h); s != "" && (!ok || err != nil || len(b) != 32) {
		return "is not sha256:<64 hex digits>: copy it as fwd gateway printed it"
	}
	return ""
}

// checkCA wants an absolute path: the file is read from whatever directory
// a later command runs in.
func checkCA(s string) string {
	if s != "" && !filepath.IsAbs(s) {
		return "is not an absolute path: give the PEM file's full path"
	}
	return ""
}

func checkSSHKey(s string) string {
	if s != "" && !filepath.IsAbs(s) {
		return "is not an absolute path: give the key file's full path"
	}
	return ""
}

func checkProject(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return "has a space or a control character: give the project's name alone"
	}
	return ""
}

// checkToken refuses what cannot be a token, and what a keyring or a line
// of YAML could mangle.
func checkToken(s string) string {
	switch {
	case s == "":
		return "is empty"
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return "has a space or a control character"
	}
	return ""
}

// contextField is one field of a Context with its check, in file order.
type contextField struct {
	key   string
	get   func(*Context) *string
	check func(string) string
}

var contextFields = []contextField{
	{"name", func(c *Context) *string { return &c.Name }, checkName},
	{"gateway", func(c *Context) *string { return &c.Gateway }, checkGateway},
	{"fingerprint", func(c *Context) *string { return &c.Fingerprint }, checkFingerprint},
	{"ca", func(c *Context) *string { return &c.CA }, checkCA},
	{"project", func(c *Context) *string { return &c.Project }, checkProject},
	{"ssh_key", func(c *Context) *string { return &c.SSHKey }, checkSSHKey},
}

const bothTrusts = "fingerprint and ca both set: keep one way to trust the gateway"

// checkContext checks a context given in code.
func checkContext(ctx Context) error {
	if msg := checkName(ctx.Name); msg != "" {
		return fmt.Errorf("contexts: context name %q %s: %w", ctx.Name, msg, ErrInvalid)
	}
	for _, f := range contextFields[1:] {
		v := *f.get(&ctx)
		if v == "" && f.key == "gateway" {
			return fmt.Errorf("contexts: context %q: no gateway: %w", ctx.Name, ErrInvalid)
		}
		if msg := f.check(v); msg != "" {
			return fmt.Errorf("contexts: context %q: %s %q %s: %w", ctx.Name, f.key, v, msg, ErrInvalid)
		}
	}
	if ctx.Fingerprint != "" && ctx.CA != "" {
		return fmt.Errorf("contexts: context %q: %s: %w", ctx.Name, bothTrusts, ErrInvalid)
	}
	return nil
}
