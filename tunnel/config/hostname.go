package config

import "github.com/fwd-dev/fwd/internal/hostnames"

// ReservedHostname reports whether name is one a gateway must not offer
// (see hostnames.Reserved): the client refuses the same names.
func ReservedHostname(name string) bool { return hostnames.Reserved(name) }

// MatchesSuffix reports whether name falls under one of suffixes, as
// hostname_suffixes requires (see hostnames.UnderSuffix).
func MatchesSuffix(name string, suffixes []string) bool { return hostnames.UnderSuffix(name, suffixes) }
