// Package dockerports finds the ports a container listens on, from its
// Dockerfile's EXPOSE lines (read with BuildKit's own parser and shell
// lexer, so that ARG, ENV, stages and line continuations mean what they
// mean to docker build) or from a built image's config, and turns them into
// catalog ports: a bare number is HTTP, /tcp is TCP, /udp is UDP, as
// Northflank reads a Dockerfile.
package dockerports

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Protocols as the catalog spells them.
const (
	HTTP = "HTTP"
	TCP  = "TCP"
	UDP  = "UDP"
)

// Port is one catalog port.
type Port struct {
	Name     string `json:"name"`
	Number   uint16 `json:"port"`
	Protocol string `json:"protocol"`
}

// Network is "udp" for a UDP port, else "tcp": what a socket for it is.
func (p Port) Network() string {
	if p.Protocol == UDP {
		return "udp"
	}
	return "tcp"
}

// Result is what one Dockerfile or image exposes.
type Result struct {
	Source string `json:"source"`          // the file, layout or image read
	Stage  string `json:"stage,omitempty"` // the Dockerfile stage read: its name, or its position as "#2"
	Ports  []Port `json:"ports"`
	// Notes are what the reader should know: a variable that was not set,
	// a base image whose own ports cannot be seen from here.
	Notes []string `json:"notes,omitempty"`
}

// maxPorts bounds what one EXPOSE range may add: 1-65535 is a typo, not
// 65535 catalog ports.
const maxPorts = 256

// ErrNoPorts is what a source that exposes nothing reports, for a caller
// to say so without treating it as a broken file.
var ErrNoPorts = errors.New("dockerports: no EXPOSE")

// spec is one parsed port: number, protocol as written ("" when bare).
type spec struct {
	number uint16
	proto  string // "", "tcp" or "udp"
}

// parseSpec reads one EXPOSE word as docker build does: [ip:][host:]port
// or a range, then an optional /protocol. The host parts are accepted and
// ignored, as BuildKit does (with a lint warning).
func parseSpec(word string) ([]spec, error) {
	portPart, proto, hasProto := strings.Cut(word, "/")
	proto = strings.ToLower(proto)
	if hasProto && proto != "tcp" && proto != "udp" {
		return nil, fmt.Errorf("%q: protocol %q is not tcp or udp", word, proto)
	}
	if i := strings.LastIndexByte(portPart, ':'); i >= 0 {
		portPart = portPart[i+1:]
	}
	first, last, err := parseRange(portPart)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", word, err)
	}
	if int(last)-int(first)+1 > maxPorts {
		return nil, fmt.Errorf("%q: a range of %d ports: list at most %d", word, int(last)-int(first)+1, maxPorts)
	}
	var out []spec
	for n := int(first); n <= int(last); n++ {
		out = append(out, spec{uint16(n), proto})
	}
	return out, nil
}

func parseRange(s string) (first, last uint16, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if first, err = parseNumber(lo); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return first, first, nil
	}
	if last, err = parseNumber(hi); err != nil {
		return 0, 0, err
	}
	if last < first {
		return 0, 0, fmt.Errorf("range %s ends before it starts", s)
	}
	return first, last, nil
}

func parseNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint16(n), nil
}

// catalogPorts turns specs into catalog ports: sorted by number, TCP-like
// before UDP, each once, each with a name of its own.
func catalogPorts(specs []spec, bareProtocol string) []Port {
	type key struct {
		number uint16
		udp    bool
	}
	seen := map[key]bool{}
	var ports []Port
	for _, s := range specs {
		p := Port{Number: s.number, Protocol: bareProtocol}
		switch s.proto {
		case "tcp":
			p.Protocol = TCP
		case "udp":
			p.Protocol = UDP
		}
		k := key{s.number, p.Protocol == UDP}
		if seen[k] {
			continue // EXPOSE 80 and EXPOSE 80/tcp are one TCP port
		}
		seen[k] = true
		ports = append(ports, p)
	}
	slices.SortFunc(ports, func(a, b Port) int {
		return cmp.Or(cmp.Compare(a.Number, b.Number), cmp.Compare(a.Protocol, b.Protocol))
	})
	nameAll(ports)
	return ports
}

// nameAll names each port from the well-known table, else by its number;
// a name that is taken (53/tcp and 53/udp are both dns) gets the protocol
// after it, since a resource's port names must be unique.
func nameAll(ports []Port) {
	used := map[string]bool{}
	for i := range ports {
		name := strconv.Itoa(int(ports[i].Number))
		if w, ok := wellKnown[ports[i].Number]; ok {
			name = w.name
		}
		if used[name] {
			name += "-" + strings.ToLower(ports[i].Protocol)
		}
		used[name] = true
		ports[i].Name = name
	}
}
