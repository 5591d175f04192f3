package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigParses keeps the README's example config valid: users copy it.
func TestREADMEConfigParses(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Gateway config\n\n```yaml\n")
	if !ok {
		t.Fatal("README has no yaml block under '## Gateway config'")
	}
	block, _, _ := strings.Cut(rest, "```")
	c, err := Parse("README.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Catalog.Projects) != 1 || c.Limits != DefaultLimits() {
		t.Fatalf("README config parsed to %+v; its limits must be the defaults it claims", c)
	}
}

// TestDocExampleParses keeps the complete file in the package documentation
// valid, with the defaults it claims for the limits.
func TestDocExampleParses(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "// A complete file")
	if !ok {
		t.Fatal(`doc.go has no "A complete file" example`)
	}
	rest, _, _ = strings.Cut(rest, "// # Keys")
	var block strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		if code, ok := strings.CutPrefix(line, "//\t"); ok {
			block.WriteString(code + "\n")
		}
	}
	c, err := Parse("doc.go", []byte(block.String()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != DefaultLimits() || len(c.HostnameSuffixes) != 1 {
		t.Fatalf("doc.go example parsed to limits %+v, suffixes %q: want the defaults and one suffix", c.Limits, c.HostnameSuffixes)
	}
}
