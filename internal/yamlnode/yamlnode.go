// Package yamlnode is what fwd's readers of YAML files share over
// yaml.v3's nodes (gateway.yaml, the client's contexts, a project's
// fwd.yaml): following aliases, telling a null, naming a node in an error
// message, and the distance that finds the key a typo meant.
package yamlnode

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// Resolve follows an alias to what it names. yaml.v3 refuses aliases to
// anchors not yet defined, so the chain ends.
func Resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is YAML's null: an empty value, ~ or null.
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Describe names n for an error message: "a mapping", "a list", "empty",
// or a scalar's value, quoted.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "empty"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// EditDistance is the Levenshtein distance of two short strings (64 for
// longer ones, which no key is).
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
