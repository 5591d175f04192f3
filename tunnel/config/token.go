package config

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

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
