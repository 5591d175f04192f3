package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/tunnel"
)

// authConfig has three tokens: "test" for shop, "foo" for blog and "ci" for
// every project.
const authConfig = `tokens:
  - {name: alice, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, projects: [shop]}
  - {name: bob, sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, projects: [blog]}
  - {name: ci, sha256: 1b158839f8aa339e89bb50b1603e90ec68e0fd5565fe10a7cb32729fddf7070a, projects: ["*"]}
projects:
  - {name: shop, services: [{name: api, ports: [{port: 80, targets: [10.0.0.1:80]}]}]}
  - {name: blog, services: [{name: web, ports: [{port: 80, targets: [10.0.0.2:80]}]}]}
`

func TestAuthenticate(t *testing.T) {
	c, err := Parse("auth.yaml", []byte(authConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		name  string // "" for tunnel.ErrBadToken
		shop  bool
		blog  bool
	}{
		{"test", "alice", true, false},
		{"foo", "bob", false, true},
		{"ci", "ci", true, true},
		{"wrong", "", false, false},
		{"", "", false, false},
		{"Test", "", false, false},
		{"test ", "", false, false},
		{testHash, "", false, false}, // the hash is not the token
	} {
		tok, err := c.Authenticate(tc.token)
		if tc.name == "" {
			if !errors.Is(err, tunnel.ErrBadToken) || tok != nil {
				t.Errorf("Authenticate(%q) = %+v, %v; want tunnel.ErrBadToken", tc.token, tok, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Authenticate(%q): %v", tc.token, err)
			continue
		}
		if tok.Name != tc.name || tok.Allows("shop") != tc.shop || tok.Allows("blog") != tc.blog || tok.Allows("other") != (tc.name == "ci") {
			t.Errorf("Authenticate(%q) = %+v: want %s, shop %v, blog %v", tc.token, tok, tc.name, tc.shop, tc.blog)
		}
		if tok != &c.Tokens[0] && tok != &c.Tokens[1] && tok != &c.Tokens[2] {
			t.Errorf("Authenticate(%q) returned a copy, not the configured token", tc.token)
		}
	}
	if tunnel.ErrBadToken.Error() != "tunnel: unknown token" {
		t.Errorf("tunnel.ErrBadToken = %q", tunnel.ErrBadToken)
	}
	var empty Config
	if _, err := empty.Authenticate("test"); !errors.Is(err, tunnel.ErrBadToken) {
		t.Errorf("Authenticate with no tokens: %v", err)
	}
}

func TestTokenYAML(t *testing.T) {
	want := "  - name: alice\n" +
		"    sha256: " + testHash + "\n" +
		"    projects: [shop, \"*\"]\n"
	if got := TokenYAML("alice", testHash, []string{"shop", "*"}); got != want {
		t.Errorf("TokenYAML:\n%s\nwant:\n%s", got, want)
	}

	tok, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	// Names that YAML would read as something else must come back as
	// they were.
	names := []string{"ci-bot", "yes", "null", "123", "0x1f", "1e3", "alice: admin", "#1", "- x", "it's", `say "hi"`, "two words", "ünïcode", "[x]", "*"}
	var b strings.Builder
	b.WriteString("tokens:\n")
	for i, name := range names {
		h := tunnel.HashToken(tok)
		if i > 0 {
			h = tunnel.HashToken(tok + name)
		}
		b.WriteString(TokenYAML(name, h, []string{"shop"}))
	}
	b.WriteString(TokenYAML("everyone", tunnel.HashToken("x"), []string{"*"}))
	b.WriteString("projects:\n  - {name: shop, services: [{name: api, ports: [{port: 80, targets: [10.0.0.1:80]}]}]}\n")
	c, err := Parse("tokens.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, b.String())
	}
	for i, name := range names {
		if c.Tokens[i].Name != name {
			t.Errorf("token %d is named %q, want %q", i, c.Tokens[i].Name, name)
		}
	}
	got, err := c.Authenticate(tok)
	if err != nil || got.Name != names[0] || !got.Allows("shop") {
		t.Errorf("Authenticate(new token) = %+v, %v", got, err)
	}
	if last := c.Tokens[len(c.Tokens)-1]; !last.Allows("anything") {
		t.Errorf(`token %+v with projects ["*"] does not allow every project`, last)
	}
}

func TestTokenYAMLDigitsHash(t *testing.T) {
	// A hash of only digits would be a YAML number; it must stay a string.
	h := strings.Repeat("1", 64)
	if got := TokenYAML("a", h, []string{"shop"}); !strings.Contains(got, `sha256: "`+h+`"`) {
		t.Errorf("TokenYAML with a numeric hash:\n%s", got)
	}
}
