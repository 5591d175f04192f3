package config

import "github.com/fwd-dev/fwd/hosts"

// ReservedHostname reports whether name is one a gateway must not offer
// (see hosts.Reserved): the client refuses the same names.
func ReservedHostname(name string) bool { return hosts.Reserved(name) }

// MatchesSuffix reports whether name falls under one of suffixes, as
// hostname_suffixes requires (see hosts.UnderSuffix).
func MatchesSuffix(name string, suffixes []string) bool { return hosts.UnderSuffix(name, suffixes) }
