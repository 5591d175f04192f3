// Package hostnames holds the rules on which names fwd may write to a hosts
// file, shared by the gateway's config check and the client: a gateway must
// not offer them, and a client refuses them from any gateway.
package hostnames

import "strings"

// Reserved reports whether name (in any case) is one that systems define
// for themselves in their hosts file or resolver: localhost, a name under
// .localhost, one starting with "localhost.", one starting with "ip6-"
// (Debian's ip6-localhost, ip6-loopback, ip6-allnodes...) or broadcasthost
// (macOS). fwd never writes these: a client that did would send its own
// local traffic through a tunnel. Gateways refuse them in their catalogs.
func Reserved(name string) bool {
	n := strings.ToLower(name)
	return n == "localhost" || strings.HasSuffix(n, ".localhost") || strings.HasPrefix(n, "localhost.") ||
		strings.HasPrefix(n, "ip6-") || n == "broadcasthost"
}

// UnderSuffix reports whether name is one of suffixes or ends in "."
// followed by one of them, ignoring case and a suffix's leading ".". An
// empty suffix matches nothing.
func UnderSuffix(name string, suffixes []string) bool {
	n := strings.ToLower(name)
	for _, s := range suffixes {
		s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "."))
		if s != "" && (n == s || strings.HasSuffix(n, "."+s)) {
			return true
		}
	}
	return false
}

// IsDNSName reports whether h is a host name: dot-separated labels of 1 to
// 63 letters, digits, '-' and '_', not starting or ending with '-', 253
// characters at most (a final dot allowed).
func IsDNSName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
