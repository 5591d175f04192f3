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
