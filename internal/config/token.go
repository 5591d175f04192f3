package config

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrBadToken is returned by Config.Authenticate when no configured token
// matches.
var ErrBadToken = errors.New("config: unknown token")

// tokenPrefix starts every token NewToken makes, so that people and secret
// scanners can recognise one.
const tokenPrefix = "fwd_"

// Allows reports whether the token may see and forward the project.
func (t Token) Allows(project string) bool {
	for _, p := range t.Projects {
		if p == "*" || p == project {
			return true
		}
	}
	return false
}

// Authenticate returns the configured token whose SHA-256 is that of token,
// or ErrBadToken. It compares against every configured token in constant
// time, so its timing does not tell which or how many hashes matched a prefix.
func (c *Config) Authenticate(token string) (*Token, error) {
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range c.Tokens {
		eq := subtle.ConstantTimeCompare(sum[:], c.Tokens[i].SHA256[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return nil, ErrBadToken
	}
	return &c.Tokens[match], nil
}

// NewToken returns a new random token: "fwd_" followed by 32 random bytes
// in unpadded URL-safe base64 (47 characters in all).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("config: making a token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashToken returns the lowercase hex SHA-256 of token, the form the config's
// sha256 key holds.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenYAML returns the lines an admin pastes under the config's tokens: key
// to accept a token: a list item with name, sha256 and projects, indented by
// two spaces and ending in a newline. Values are quoted where YAML needs it
// (as "*" does).
func TokenYAML(name string, sha256hex string, projects []string) string {
	quoted := make([]string, len(projects))
	for i, p := range projects {
		quoted[i] = yamlScalar(p)
	}
	return "  - name: " + yamlScalar(name) + "\n" +
		"    sha256: " + yamlScalar(sha256hex) + "\n" +
		"    projects: [" + strings.Join(quoted, ", ") + "]\n"
}

var plainScalar = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// yamlScalar writes s as a YAML scalar: plain if YAML reads it back as the
// same string (in any YAML version), double-quoted otherwise.
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null":
		return strconv.Quote(s)
	}
	if plainScalar.MatchString(s) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err == nil && len(n.Content) == 1 &&
			n.Content[0].ShortTag() == "!!str" && n.Content[0].Value == s {
			return s
		}
	}
	return strconv.Quote(s)
}
